package main

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
