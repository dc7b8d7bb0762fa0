"""confluent-kafka consumer group: subscribe, consume, commit, then read the commits back.

Creates the topic, produces --count messages, consumes them in group --group, commits
synchronously, and reads the committed offsets back twice: with consumer.committed() (a new
consumer in the same group) and with AdminClient.list_consumer_group_offsets(). Also
describes the group to learn the coordinator address (FindCoordinator through the proxy must
name the proxy).

Prints {"consumed", "partition_counts": {"0": n, ...}, "committed": {"0": off, ...},
"admin_committed": {...}, "end_offsets": {...}, "coordinator": {"id", "host", "port"},
"group_state"}. Offsets start at 0, so after consuming everything the committed offset of each
partition equals the number of messages consumed from it. "end_offsets" (high watermarks) is
informational only: tansu 0.6 reports the last batch's base offset + 1 there, not the log end.
"""

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

import common
import roundtrip


def offsets_map(tps):
    out = {}
    for tp in tps:
        if tp.error is not None:
            raise KafkaException(tp.error)
        out[str(tp.partition)] = tp.offset
    return out


def main():
    p = common.parser(__doc__)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--group", required=True)
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    bs = args.bootstrap

    roundtrip.create_topic(bs, args.topic, args.partitions, deadline)
    roundtrip.produce(bs, args.topic, args.count, deadline)
    pairs, _order_ok, counts = roundtrip.consume(bs, args.topic, args.group, args.count, deadline)
    if len(pairs) != args.count:
        raise TimeoutError(f"consumed {len(pairs)} of {args.count} before the deadline")

    tps = [TopicPartition(args.topic, i) for i in range(args.partitions)]

    # A fresh consumer in the same group reads the committed offsets (OffsetFetch).
    c = Consumer({"bootstrap.servers": bs, "group.id": args.group, "enable.auto.commit": False})
    try:
        committed = offsets_map(c.committed(tps, timeout=min(10.0, deadline.left())))
        end_offsets = {}
        for tp in tps:
            _low, high = c.get_watermark_offsets(tp, timeout=min(10.0, deadline.left()))
            end_offsets[str(tp.partition)] = high
    finally:
        c.close()

    admin = AdminClient({"bootstrap.servers": bs})
    fut = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(args.group, tps)], request_timeout=10
    )
    admin_committed = offsets_map(fut[args.group].result(timeout=deadline.left()).topic_partitions)

    coordinator = None
    group_state = None
    try:
        desc = admin.describe_consumer_groups([args.group], request_timeout=10)
        g = desc[args.group].result(timeout=deadline.left())
        coordinator = {"id": g.coordinator.id, "host": g.coordinator.host, "port": g.coordinator.port}
        group_state = str(g.state)
    except Exception as e:  # noqa: BLE001 - reported, not fatal: the broker may lack DescribeGroups
        group_state = f"error: {type(e).__name__}: {e}"

    return {
        "consumed": len(pairs),
        "partition_counts": counts,
        "committed": committed,
        "admin_committed": admin_committed,
        "end_offsets": end_offsets,
        "coordinator": coordinator,
        "group_state": group_state,
    }


if __name__ == "__main__":
    common.run(main)
