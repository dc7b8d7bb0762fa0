// franz-driver runs one end-to-end scenario with franz-go (github.com/twmb/franz-go) and prints one
// JSON object as the last line of stdout; see tests/clients/DRIVERS.md for the contract shared by
// every client driver. Diagnostics go to stderr (set FRANZ_DRIVER_LOG=debug|info|warn|error for
// franz-go's own log; default warn).
//
//	franz-driver cluster      --bootstrap H:P [--topic T]
//	franz-driver produce      --bootstrap H:P --topic T --count N [--size B] [--compression C]
//	                          [--partitions P] [--replication R] [--acks all|1|0] [--idempotent] [--linger-ms M]
//	franz-driver consume      --bootstrap H:P --topic T --count N [--group G]
//	                          [--group-protocol classic|consumer] [--isolation read_uncommitted|read_committed]
//	franz-driver transactions --bootstrap H:P --topic T --count K [--size B] [--partitions P] [--replication R]
//
// Common options: --timeout SECS (default 60) and repeatable -X key=value (security.protocol,
// sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location,
// ssl.key.location, ssl.endpoint.identification.algorithm, client.id).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		failf("usage: franz-driver cluster|produce|consume|transactions --bootstrap HOST:PORT [options]")
	}
	cmd, args := os.Args[1], os.Args[2:]
	var run func([]string) any
	switch cmd {
	case "cluster":
		run = cmdCluster
	case "produce":
		run = cmdProduce
	case "consume":
		run = cmdConsume
	case "transactions":
		run = cmdTransactions
	default:
		failf("unknown command %q (want cluster, produce, consume or transactions)", cmd)
	}
	result := run(args)
	emit(result)
	os.Exit(0)
}

// Output, deadline and phases

var (
	emitMu  sync.Mutex
	emitted bool

	phase       atomic.Value // string: the step in progress, named in errors
	timeoutSecs float64
	deadline    time.Time
	ctx         context.Context // expires at the overall deadline (less a small margin)
)

// emit prints the one JSON result line; only the first call prints anything.
func emit(v any) bool {
	emitMu.Lock()
	defer emitMu.Unlock()
	if emitted {
		return false
	}
	emitted = true
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error": %q}`, "encoding the result: "+err.Error()))
	}
	os.Stdout.Write(append(b, '\n'))
	return true
}

func failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "franz-driver:", msg)
	emit(map[string]string{"error": msg})
	os.Exit(1)
}

func setPhase(p string) { phase.Store(p) }

func currentPhase() string {
	p, _ := phase.Load().(string)
	if p == "" {
		return "setup"
	}
	return p
}

func timeoutMessage() string {
	return fmt.Sprintf("timeout after %ss in %s", strconv.FormatFloat(timeoutSecs, 'f', -1, 64), currentPhase())
}

// check ends the run when err is set: a timeout if the deadline passed, else the phase and error.
func check(err error) {
	if err == nil {
		return
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		failf("%s", timeoutMessage())
	}
	failf("%s: %v", currentPhase(), err)
}

// startDeadline arms the overall deadline: every blocking call gets ctx, which expires slightly
// before the deadline, and a watchdog ends the process at the deadline should anything ignore it.
func startDeadline(secs float64) {
	if secs <= 0 {
		failf("--timeout must be positive")
	}
	timeoutSecs = secs
	total := time.Duration(secs * float64(time.Second))
	deadline = time.Now().Add(total)
	margin := min(time.Second, total/10)
	var cancel context.CancelFunc
	ctx, cancel = context.WithDeadline(context.Background(), deadline.Add(-margin))
	_ = cancel // lives until exit
	time.AfterFunc(total, func() {
		msg := timeoutMessage()
		if emit(map[string]string{"error": msg}) {
			fmt.Fprintln(os.Stderr, "franz-driver: watchdog:", msg)
			os.Exit(1)
		}
	})
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-driver: "+format+"\n", args...)
}
