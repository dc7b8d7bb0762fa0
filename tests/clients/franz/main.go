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
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
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

// ---------------------------------------------------------------------------------------------
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

// closeClient closes cl (leaving any group), waiting at most a few seconds and never past the
// deadline: the result is already known, a slow close must not turn it into a hang.
func closeClient(cl *kgo.Client) {
	done := make(chan struct{})
	go func() { cl.Close(); close(done) }()
	wait := min(5*time.Second, time.Until(deadline)-500*time.Millisecond)
	select {
	case <-done:
	case <-time.After(max(wait, 0)):
		fmt.Fprintln(os.Stderr, "franz-driver: client close did not finish in time, continuing")
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-driver: "+format+"\n", args...)
}

// ---------------------------------------------------------------------------------------------
// Options

// common holds the options every command takes.
type common struct {
	bootstrap string
	timeout   float64
	props     propList
}

type propList []string

func (p *propList) String() string     { return strings.Join(*p, ",") }
func (p *propList) Set(v string) error { *p = append(*p, v); return nil }

func newFlags(cmd string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	c := &common{}
	fs.StringVar(&c.bootstrap, "bootstrap", "", "HOST:PORT of the broker or the proxy (required)")
	fs.Float64Var(&c.timeout, "timeout", 60, "overall deadline in seconds")
	fs.Var(&c.props, "X", "client property key=value (repeatable)")
	return fs, c
}

// parse parses the command's flags, arms the deadline and returns the franz-go options that
// connect to --bootstrap with the -X security settings.
func parse(fs *flag.FlagSet, c *common, args []string) []kgo.Opt {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		failf("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		failf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	if c.bootstrap == "" {
		failf("%s: --bootstrap is required", fs.Name())
	}
	startDeadline(c.timeout)
	opts, err := clientOpts(c)
	if err != nil {
		failf("client options: %v", err)
	}
	return opts
}

func clientOpts(c *common) ([]kgo.Opt, error) {
	level := kgo.LogLevelWarn
	switch strings.ToLower(os.Getenv("FRANZ_DRIVER_LOG")) {
	case "debug":
		level = kgo.LogLevelDebug
	case "info":
		level = kgo.LogLevelInfo
	case "error":
		level = kgo.LogLevelError
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.bootstrap),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, func() string { return "franz-go " })),
	}

	props := map[string]string{}
	var unknown []string
	for _, kv := range c.props {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-X %q is not key=value", kv)
		}
		switch k {
		case "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
			"ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
			"ssl.endpoint.identification.algorithm", "client.id":
			props[k] = v
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unsupported -X keys: %s", strings.Join(unknown, ", "))
	}
	if id, ok := props["client.id"]; ok {
		opts = append(opts, kgo.ClientID(id))
	}

	proto := strings.ToUpper(props["security.protocol"])
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("security.protocol %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", proto)
	}

	if useSASL {
		user, pass := props["sasl.username"], props["sasl.password"]
		switch mech := strings.ToUpper(props["sasl.mechanism"]); mech {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		case "":
			return nil, fmt.Errorf("security.protocol %s needs sasl.mechanism", proto)
		default:
			return nil, fmt.Errorf("sasl.mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
		}
	} else if props["sasl.mechanism"] != "" || props["sasl.username"] != "" {
		logf("warning: sasl.* settings ignored with security.protocol %s", proto)
	}

	if useTLS {
		cfg, err := tlsConfig(props)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	} else if props["ssl.ca.location"] != "" || props["ssl.certificate.location"] != "" {
		logf("warning: ssl.* settings ignored with security.protocol %s", proto)
	}
	return opts, nil
}

// tlsConfig builds the client TLS configuration; franz-go sets ServerName to the dialed host,
// so the broker certificate is checked against the address dialed (IP SANs included).
func tlsConfig(props map[string]string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := props["ssl.ca.location"]; path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ssl.ca.location: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.ca.location %s: no PEM certificates found", path)
		}
		cfg.RootCAs = pool
	}
	certPath, keyPath := props["ssl.certificate.location"], props["ssl.key.location"]
	if (certPath == "") != (keyPath == "") {
		return nil, errors.New("ssl.certificate.location and ssl.key.location must be given together")
	}
	if certPath != "" {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch alg := strings.ToLower(props["ssl.endpoint.identification.algorithm"]); alg {
	case "https":
	case "", "none":
		if _, set := props["ssl.endpoint.identification.algorithm"]; !set {
			break // not given: verify the host name (the default of Java and librdkafka)
		}
		// Verify the chain against the CAs but not the host name.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	default:
		return nil, fmt.Errorf("ssl.endpoint.identification.algorithm %q is not https or empty", alg)
	}
	return cfg, nil
}

func newClient(opts ...kgo.Opt) *kgo.Client {
	setPhase("client setup")
	cl, err := kgo.NewClient(opts...)
	check(err)
	return cl
}

// ---------------------------------------------------------------------------------------------
// Deterministic records

func key(i int) []byte { return []byte(fmt.Sprintf("k%08d", i)) }

// value(i) is "v%08d" right-padded with '.' to size bytes (no padding when size < 9).
func value(i, size int) []byte {
	s := fmt.Sprintf("v%08d", i)
	if len(s) < size {
		s += strings.Repeat(".", size-len(s))
	}
	return []byte(s)
}

// indexOf recovers i from value(i), or -1 for a value no driver writes.
func indexOf(v []byte) int {
	s := strings.TrimRight(string(v), ".")
	if !strings.HasPrefix(s, "v") {
		return -1
	}
	i, err := strconv.Atoi(s[1:])
	if err != nil {
		return -1
	}
	return i
}

// tally counts the values received; duplicates are extra copies beyond the first.
type tally struct {
	total  int
	counts map[string]int
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(v []byte) { t.total++; t.counts[string(v)]++ }

func (t *tally) distinct() int   { return len(t.counts) }
func (t *tally) duplicates() int { return t.total - len(t.counts) }

// sha256 is over the distinct values sorted bytewise, each followed by '\n'.
func (t *tally) sha256() string {
	vals := make([]string, 0, len(t.counts))
	for v := range t.counts {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	h := sha256.New()
	for _, v := range vals {
		h.Write([]byte(v))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ---------------------------------------------------------------------------------------------
// Topics

// ensureTopic creates topic unless it exists, then waits until the client's metadata shows a
// leader for every partition, so producing starts against a usable topic.
func ensureTopic(adm *kadm.Client, topic string, partitions, replication int) {
	setPhase("create topic " + topic)
	_, err := adm.CreateTopic(ctx, int32(partitions), int16(replication), nil, topic)
	switch {
	case err == nil:
		logf("created topic %s (%d partitions, replication %d)", topic, partitions, replication)
	case errors.Is(err, kerr.TopicAlreadyExists):
		logf("topic %s exists already", topic)
	default:
		check(err)
	}
	// A broker announces a new partition's leader in metadata slightly before it serves the
	// partition; acks=0 records sent in that window are lost silently (the broker just closes the
	// connection), so also wait until every leader answers ListOffsets for its partitions.
	setPhase("wait for topic " + topic + " to be served")
	for {
		m, err := adm.Metadata(ctx, topic)
		check(err)
		t := m.Topics[topic]
		ready := t.Err == nil && len(t.Partitions) > 0
		for _, p := range t.Partitions {
			if p.Err != nil || p.Leader < 0 {
				ready = false
			}
		}
		if ready {
			ends, err := adm.ListEndOffsets(ctx, topic)
			check(err)
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err != nil {
					ready = false
				}
			})
			if ready && len(ends[topic]) == len(t.Partitions) {
				return
			}
		}
		select {
		case <-ctx.Done():
			check(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------------------------
// cluster: the cluster as franz-go sees it, from a Metadata request and from a DescribeCluster
// request (through the proxy both must name only the proxy's addresses, with the real ids).

type broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

type leader struct {
	Partition int32  `json:"partition"`
	Leader    int32  `json:"leader"`
	Host      string `json:"host"`
	Port      int32  `json:"port"`
}

type clusterResult struct {
	ClusterID    string   `json:"cluster_id"`
	ControllerID int32    `json:"controller_id"`
	Brokers      []broker `json:"brokers"`
	Described    []broker `json:"described"`
	Leaders      []leader `json:"leaders,omitempty"`
}

func cmdCluster(args []string) any {
	fs, c := newFlags("cluster")
	topic := fs.String("topic", "", "also list the leader of each partition of this topic")
	opts := parse(fs, c, args)
	cl := newClient(opts...)
	adm := kadm.NewClient(cl)

	setPhase("metadata")
	var m kadm.Metadata
	var err error
	if *topic == "" {
		m, err = adm.BrokerMetadata(ctx)
	} else {
		m, err = adm.Metadata(ctx, *topic)
	}
	check(err)
	res := clusterResult{ClusterID: m.Cluster, ControllerID: m.Controller, Brokers: []broker{}}
	byID := map[int32]kadm.BrokerDetail{}
	for _, b := range m.Brokers {
		res.Brokers = append(res.Brokers, broker{b.NodeID, b.Host, b.Port})
		byID[b.NodeID] = b
	}
	sort.Slice(res.Brokers, func(i, j int) bool { return res.Brokers[i].ID < res.Brokers[j].ID })

	if *topic != "" {
		t, ok := m.Topics[*topic]
		if !ok {
			check(fmt.Errorf("topic %s missing from the metadata response", *topic))
		}
		check(t.Err)
		res.Leaders = []leader{}
		for _, p := range t.Partitions {
			b := byID[p.Leader]
			res.Leaders = append(res.Leaders, leader{p.Partition, p.Leader, b.Host, b.Port})
		}
		sort.Slice(res.Leaders, func(i, j int) bool { return res.Leaders[i].Partition < res.Leaders[j].Partition })
	}

	setPhase("describe cluster")
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	check(err)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = ": " + *resp.ErrorMessage
		}
		check(fmt.Errorf("%v%s", err, msg))
	}
	res.Described = []broker{}
	for _, b := range resp.Brokers {
		res.Described = append(res.Described, broker{b.NodeID, b.Host, b.Port})
	}
	sort.Slice(res.Described, func(i, j int) bool { return res.Described[i].ID < res.Described[j].ID })

	closeClient(cl)
	return res
}

// ---------------------------------------------------------------------------------------------
// produce: N keyed records with the chosen codec, acks, idempotence and linger all arrive (the
// proxy rewrites nothing in a record batch it should not).

type produceResult struct {
	Sent   int      `json:"sent"`
	Acked  int      `json:"acked"`
	SHA256 string   `json:"sha256"`
	Errors []string `json:"errors"`
}

func cmdProduce(args []string) any {
	fs, c := newFlags("produce")
	topic := fs.String("topic", "", "topic to produce to (required)")
	count := fs.Int("count", -1, "number of records (required)")
	size := fs.Int("size", 100, "value size in bytes")
	compression := fs.String("compression", "none", "none, gzip, snappy, lz4 or zstd")
	partitions := fs.Int("partitions", 3, "partitions if the topic is created")
	replication := fs.Int("replication", 1, "replication factor if the topic is created")
	acks := fs.String("acks", "all", "all, 1 or 0")
	idempotent := fs.Bool("idempotent", false, "idempotent producer")
	lingerMs := fs.Int("linger-ms", -1, "linger in milliseconds (default: franz-go's)")
	opts := parse(fs, c, args)
	if *topic == "" || *count < 0 {
		failf("produce: --topic and --count are required")
	}

	codec, ok := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}[*compression]
	if !ok {
		failf("produce: --compression %q is not none, gzip, snappy, lz4 or zstd", *compression)
	}
	ack, ok := map[string]kgo.Acks{"all": kgo.AllISRAcks(), "-1": kgo.AllISRAcks(), "1": kgo.LeaderAck(), "0": kgo.NoAck()}[*acks]
	if !ok {
		failf("produce: --acks %q is not all, 1 or 0", *acks)
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(*topic),
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(ack),
	)
	if !*idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if *lingerMs >= 0 {
		opts = append(opts, kgo.ProducerLinger(time.Duration(*lingerMs)*time.Millisecond))
	}
	cl := newClient(opts...)
	ensureTopic(kadm.NewClient(cl), *topic, *partitions, *replication)

	setPhase("produce")
	var mu sync.Mutex
	acked := newTally()
	errs := map[string]bool{}
	for i := 0; i < *count; i++ {
		rec := &kgo.Record{Key: key(i), Value: value(i, *size)}
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[err.Error()] = true
				return
			}
			acked.add(r.Value)
		})
	}
	setPhase("flush")
	check(cl.Flush(ctx))
	check(ctx.Err()) // records failed by the deadline are a timeout, not delivery errors

	mu.Lock()
	res := produceResult{Sent: *count, Acked: acked.total, SHA256: acked.sha256(), Errors: []string{}}
	for e := range errs {
		res.Errors = append(res.Errors, e)
	}
	mu.Unlock()
	sort.Strings(res.Errors)
	closeClient(cl)
	return res
}

// ---------------------------------------------------------------------------------------------
// consume: a group member (classic or KIP-848 protocol) reads the topic from the start, commits,
// and the committed offsets read back through the admin API match (group coordination, offset
// commit and fetch all work through the proxy).

type consumeResult struct {
	Count      int              `json:"count"`
	SHA256     string           `json:"sha256"`
	Duplicates int              `json:"duplicates"`
	Committed  map[string]int64 `json:"committed"`
}

func cmdConsume(args []string) any {
	fs, c := newFlags("consume")
	topic := fs.String("topic", "", "topic to consume (required)")
	count := fs.Int("count", -1, "records to wait for (required)")
	group := fs.String("group", "", "consumer group (default: a unique one)")
	protocol := fs.String("group-protocol", "classic", "classic or consumer (KIP-848)")
	isolation := fs.String("isolation", "read_uncommitted", "read_uncommitted or read_committed")
	opts := parse(fs, c, args)
	if *topic == "" || *count < 0 {
		failf("consume: --topic and --count are required")
	}
	if *group == "" {
		*group = fmt.Sprintf("franz-driver-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	switch *isolation {
	case "read_uncommitted":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		failf("consume: --isolation %q is not read_uncommitted or read_committed", *isolation)
	}
	switch *protocol {
	case "classic":
	case "consumer":
		// franz-go >= 1.22 speaks KIP-848 (ConsumerGroupHeartbeat) when asked, with a sticky or
		// range balancer (the default is cooperative-sticky, i.e. the broker's "uniform" assignor).
		opts = append(opts, kgo.ServerSideBalancer())
	default:
		failf("consume: --group-protocol %q is not classic or consumer", *protocol)
	}
	opts = append(opts,
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	cl := newClient(opts...)
	adm := kadm.NewClient(cl)

	// Read until N distinct values arrived, or until shortly before the deadline (leaving time to
	// commit and read the offsets back); then poll one more second to catch duplicates.
	setPhase("consume")
	reserve := min(5*time.Second, time.Until(deadline)/4)
	readCtx, cancelRead := context.WithDeadline(ctx, deadline.Add(-reserve))
	defer cancelRead()
	got := newTally()
	poll := func(pctx context.Context) {
		fetches := cl.PollFetches(pctx)
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			if errors.Is(err, kgo.ErrClientClosed) {
				check(err)
			}
			logf("fetch error on %s[%d]: %v", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) { got.add(r.Value) })
	}
	for got.distinct() < *count && readCtx.Err() == nil {
		poll(readCtx)
	}
	if got.distinct() < *count {
		logf("read deadline reached with %d of %d records", got.distinct(), *count)
	} else {
		extraCtx, cancelExtra := context.WithTimeout(readCtx, time.Second)
		for extraCtx.Err() == nil {
			poll(extraCtx)
		}
		cancelExtra()
	}

	setPhase("commit offsets")
	check(cl.CommitUncommittedOffsets(ctx))

	if *protocol == "consumer" {
		// Prove the group really runs the KIP-848 protocol: franz-go falls back to the classic
		// protocol silently when the broker lacks ConsumerGroupHeartbeat, and a classic group is
		// not found by ConsumerGroupDescribe.
		setPhase("describe consumer group")
		described, err := adm.DescribeConsumerGroups(ctx, *group)
		check(err)
		g := described[*group]
		if g.Err != nil {
			check(fmt.Errorf("group %s is not a KIP-848 consumer group: %v", *group, g.Err))
		}
		if len(g.Members) == 0 {
			check(fmt.Errorf("KIP-848 group %s has no members while this client is in it", *group))
		}
		logf("KIP-848 group %s: state %s, epoch %d, assignor %s, %d member(s)", *group, g.State, g.Epoch, g.AssignorName, len(g.Members))
	}

	setPhase("fetch committed offsets")
	offsets, err := adm.FetchOffsets(ctx, *group)
	check(err)
	check(offsets.Error())
	res := consumeResult{Count: got.total, SHA256: got.sha256(), Duplicates: got.duplicates(), Committed: map[string]int64{}}
	for p, o := range offsets[*topic] {
		res.Committed[strconv.Itoa(int(p))] = o.At
	}
	closeClient(cl)
	return res
}

// ---------------------------------------------------------------------------------------------
// transactions: a committed and an aborted transaction; a read_committed reader sees exactly the
// committed records and a read_uncommitted one sees both (transaction coordinator, markers and
// the fetch isolation level all work through the proxy).

type txnResult struct {
	Committed       int    `json:"committed"`
	CommittedSeen   int    `json:"committed_seen"`
	AbortedSeen     int    `json:"aborted_seen"`
	SHA256          string `json:"sha256"`
	UncommittedSeen int    `json:"uncommitted_seen"`
}

func cmdTransactions(args []string) any {
	fs, c := newFlags("transactions")
	topic := fs.String("topic", "", "topic (required)")
	count := fs.Int("count", -1, "records per transaction (required)")
	size := fs.Int("size", 100, "value size in bytes")
	partitions := fs.Int("partitions", 1, "partitions if the topic is created")
	replication := fs.Int("replication", 1, "replication factor if the topic is created")
	opts := parse(fs, c, args)
	if *topic == "" || *count < 0 {
		failf("transactions: --topic and --count are required")
	}
	k := *count

	txnID := fmt.Sprintf("franz-driver-txn-%d-%d", os.Getpid(), time.Now().UnixNano())
	producer := newClient(append(opts[:len(opts):len(opts)],
		kgo.TransactionalID(txnID),
		kgo.DefaultProduceTopic(*topic),
	)...)
	adm := kadm.NewClient(producer)
	ensureTopic(adm, *topic, *partitions, *replication)

	// One transaction with value(lo)..value(hi-1), ended with commit or abort.
	transaction := func(lo, hi int, end kgo.TransactionEndTry, name string) {
		setPhase("begin " + name + " transaction")
		check(producer.BeginTransaction())
		setPhase("produce in " + name + " transaction")
		var mu sync.Mutex
		var firstErr error
		for i := lo; i < hi; i++ {
			producer.Produce(ctx, &kgo.Record{Key: key(i), Value: value(i, *size)}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
			})
		}
		check(producer.Flush(ctx))
		mu.Lock()
		check(firstErr)
		mu.Unlock()
		setPhase("end " + name + " transaction")
		check(producer.EndTransaction(ctx, end))
	}
	transaction(0, k, kgo.TryCommit, "committed")
	transaction(k, 2*k, kgo.TryAbort, "aborted")

	// The markers are written asynchronously after EndTxn: wait until the last stable offset
	// catches up with the high watermark everywhere, then read exactly up to those offsets.
	setPhase("wait for transaction markers")
	var ends kadm.ListedOffsets
	for {
		hw, err := adm.ListEndOffsets(ctx, *topic)
		check(err)
		check(hw.Error())
		lso, err := adm.ListCommittedOffsets(ctx, *topic)
		check(err)
		check(lso.Error())
		same := true
		hw.Each(func(o kadm.ListedOffset) {
			if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset != o.Offset {
				same = false
			}
		})
		if same {
			ends = hw
			break
		}
		select {
		case <-ctx.Done():
			check(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	setPhase("list start offsets")
	starts, err := adm.ListStartOffsets(ctx, *topic)
	check(err)
	check(starts.Error())
	closeClient(producer)

	committed := readPartitions(opts, *topic, starts, ends, kgo.ReadCommitted(), "read_committed consume")
	uncommitted := readPartitions(opts, *topic, starts, ends, kgo.ReadUncommitted(), "read_uncommitted consume")

	res := txnResult{Committed: k, CommittedSeen: committed.total, SHA256: committed.sha256(), UncommittedSeen: uncommitted.total}
	for v, n := range committed.counts {
		if i := indexOf([]byte(v)); i >= k && i < 2*k {
			res.AbortedSeen += n
		}
	}
	return res
}

// readPartitions consumes every partition of topic directly (no group) from its start offset
// until a record at its end offset - 1 arrived, and tallies the data records. Control records
// (the commit and abort markers) are kept so the read_committed reader also sees the last offset
// of a partition that ends in an aborted transaction; they are not counted.
func readPartitions(opts []kgo.Opt, topic string, starts, ends kadm.ListedOffsets, iso kgo.IsolationLevel, name string) *tally {
	setPhase(name)
	assign := map[int32]kgo.Offset{}
	pending := map[int32]int64{} // partition -> last offset still to be seen
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			start = s.Offset
		}
		if o.Offset > start {
			assign[o.Partition] = kgo.NewOffset().AtStart()
			pending[o.Partition] = o.Offset - 1
		}
	})
	got := newTally()
	if len(assign) == 0 {
		return got
	}
	cl := newClient(append(opts[:len(opts):len(opts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchIsolationLevel(iso),
		kgo.KeepControlRecords(),
	)...)
	setPhase(name)
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		check(ctx.Err())
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, kgo.ErrClientClosed) {
				check(err)
			}
			logf("fetch error on %s[%d]: %v", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				got.add(r.Value)
			}
			if last, ok := pending[r.Partition]; ok && r.Offset >= last {
				delete(pending, r.Partition)
			}
		})
	}
	closeClient(cl)
	return got
}
