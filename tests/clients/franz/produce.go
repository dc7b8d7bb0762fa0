package main

import (
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
