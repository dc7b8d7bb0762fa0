package main

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

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
