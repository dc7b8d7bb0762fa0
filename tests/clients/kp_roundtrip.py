"""kafka-python 3.x: produce N deterministic messages and consume them back.

The topic is created with kafka-python's KafkaAdminClient. Prints {"produced", "consumed",
"digest", "order_ok", "partition_counts", "committed"} like roundtrip.py; "committed" is
{partition: offset} with --group, else null.
"""

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

import common


def main():
    p = common.parser(__doc__)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--group", help="consume in this consumer group and commit (else assign)")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    bs = args.bootstrap

    admin = KafkaAdminClient(bootstrap_servers=bs, client_id="kafka-proxy-e2e")
    try:
        admin.create_topics([NewTopic(args.topic, args.partitions, 1)])
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5, retries=5,
                             max_in_flight_requests_per_connection=1)
    futures = []
    for i in range(args.count):
        key, value = common.message(i)
        futures.append(producer.send(args.topic, key=key, value=value))
    producer.flush(timeout=deadline.left())
    for f in futures:
        f.get(timeout=deadline.left())
    producer.close()

    tps = [TopicPartition(args.topic, i) for i in range(args.partitions)]
    if args.group:
        # Consumer group: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit.
        consumer = KafkaConsumer(args.topic, bootstrap_servers=bs, group_id=args.group,
                                 auto_offset_reset="earliest", enable_auto_commit=False)
    else:
        # Partitions assigned explicitly (no group): Metadata, ListOffsets, Fetch.
        consumer = KafkaConsumer(bootstrap_servers=bs, auto_offset_reset="earliest",
                                 enable_auto_commit=False, group_id=None)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
    committed = None
    pairs, last, counts, order_ok = [], {}, {}, True
    try:
        while len(pairs) < args.count and not deadline.expired():
            batches = consumer.poll(timeout_ms=int(min(1.0, deadline.left()) * 1000),
                                    max_records=1000)
            for tp, records in batches.items():
                for r in records:
                    idx = common.index_of(r.key)
                    if idx <= last.get(tp.partition, -1):
                        order_ok = False
                    last[tp.partition] = idx
                    counts[str(tp.partition)] = counts.get(str(tp.partition), 0) + 1
                    pairs.append((r.key, r.value))
        if args.group:
            consumer.commit()
            committed = {str(tp.partition): consumer.committed(tp) for tp in tps}
    finally:
        consumer.close()
    return {
        "produced": len(futures),
        "consumed": len(pairs),
        "duplicates": len(pairs) - len(set(pairs)),
        "digest": common.digest(set(pairs)),
        "order_ok": order_ok,
        "partition_counts": counts,
        "committed": committed,
    }


if __name__ == "__main__":
    common.run(main)
