package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
