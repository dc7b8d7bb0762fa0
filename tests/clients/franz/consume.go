package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
