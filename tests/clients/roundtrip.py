"""confluent-kafka: create a topic, produce N deterministic messages, consume them all back.

Prints {"produced", "consumed", "digest", "order_ok", "partition_counts": {"0": n, ...},
"duplicates"}. The digest is SHA-256 over the sorted (key, value) set, so the same run
against the broker and through the proxy must print the same digest and counts.
"""

import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import common


def create_topic(bootstrap, topic, partitions, deadline):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=10,
        request_timeout=15,
    )
    futures[topic].result(timeout=deadline.left())
    # Wait until the metadata shows every partition with a leader.
    while not deadline.expired():
        md = admin.list_topics(topic=topic, timeout=min(5.0, deadline.left()))
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topic {topic} never showed {partitions} partitions with leaders")


def produce(bootstrap, topic, count, deadline, value_size=0, compression="none"):
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            # One in-flight request per connection keeps order per partition without idempotence.
            "max.in.flight.requests.per.connection": 1,
            "acks": "all",
            "compression.type": compression,
        }
    )
    for i in range(count):
        key, value = common.message(i, value_size)
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(deadline.left())
    if left:
        raise TimeoutError(f"{left} messages not delivered before the deadline")
    if errors:
        raise KafkaException(f"{len(errors)} delivery errors, first: {errors[0]}")
    return count


def consume(bootstrap, topic, group, count, deadline):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    pairs = []
    last = {}  # partition -> last index seen
    order_ok = True
    partition_counts = {}
    try:
        while len(pairs) < count and not deadline.expired():
            msgs = consumer.consume(num_messages=1000, timeout=min(1.0, deadline.left()))
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
                idx = common.index_of(m.key())
                p = m.partition()
                if idx <= last.get(p, -1):
                    order_ok = False
                last[p] = idx
                partition_counts[str(p)] = partition_counts.get(str(p), 0) + 1
                pairs.append((m.key(), m.value()))
        if pairs:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return pairs, order_ok, partition_counts


def main():
    p = common.parser(__doc__)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--group", required=True)
    p.add_argument("--value-size", type=int, default=0, help="pad values to this many bytes")
    p.add_argument("--compression", default="none", help="none, gzip, snappy, lz4 or zstd")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)

    create_topic(args.bootstrap, args.topic, args.partitions, deadline)
    produced = produce(
        args.bootstrap, args.topic, args.count, deadline, args.value_size, args.compression
    )
    pairs, order_ok, partition_counts = consume(
        args.bootstrap, args.topic, args.group, args.count, deadline
    )
    return {
        "produced": produced,
        "consumed": len(pairs),
        "duplicates": len(pairs) - len(set(pairs)),
        "digest": common.digest(set(pairs)),
        "order_ok": order_ok,
        "partition_counts": partition_counts,
    }


if __name__ == "__main__":
    common.run(main)
