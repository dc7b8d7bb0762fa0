"""confluent-kafka: a steady produce load (acks=all) through --bootstrap, for as long as it is
accepted, then reads the topic back directly from the broker (--direct) and checks that every
message the producer saw acknowledged is there.

The test stops the proxy in the middle of the load; deliveries that fail after that are fine
(never acknowledged); an acknowledged message that is missing is the failure this looks for.

Prints {"acked", "failed", "found", "missing", "first_missing"}.
"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
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
    while not deadline.expired():
        md = admin.list_topics(topic=topic, timeout=min(5.0, deadline.left()))
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topic {topic} never showed {partitions} partitions with leaders")


def produce(bootstrap, topic, seconds, rate):
    acked = set()
    failed = []

    def on_delivery(err, msg):
        if err is None:
            acked.add(common.index_of(msg.key()))
        else:
            failed.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 2,
            # Several requests in flight per connection: a drain must answer all of them.
            "max.in.flight.requests.per.connection": 5,
            # Once the proxy is gone, undelivered messages fail within this time.
            "message.timeout.ms": 8000,
            "reconnect.backoff.max.ms": 500,
        }
    )
    end = time.monotonic() + seconds
    i = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    while time.monotonic() < end:
        key, value = common.message(i)
        try:
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        producer.poll(0)
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            producer.poll(pause)
    left = producer.flush(20)
    common.log(f"produced {i}, acked {len(acked)}, failed {len(failed)}, unresolved {left}")
    return i, acked, failed


def read_back(bootstrap, topic, partitions, group, deadline):
    """Every key in the topic, read up to each partition's high watermark."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    found = set()
    try:
        ends = {}
        for p in range(partitions):
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=min(10.0, deadline.left())
            )
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        positions = {p: 0 for p in range(partitions)}
        while not deadline.expired() and any(positions[p] < ends[p] for p in ends):
            for m in consumer.consume(num_messages=1000, timeout=min(1.0, deadline.left())):
                if m.error():
                    raise RuntimeError(str(m.error()))
                found.add(common.index_of(m.key()))
                positions[m.partition()] = m.offset() + 1
    finally:
        consumer.close()
    return found


def main():
    p = common.parser(__doc__)
    p.add_argument("--direct", required=True, help="host:port of the broker itself")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="how long to keep producing")
    p.add_argument("--rate", type=float, default=500.0, help="messages per second")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)

    create_topic(args.direct, args.topic, args.partitions, deadline)
    _produced, acked, failed = produce(args.bootstrap, args.topic, args.seconds, args.rate)
    found = read_back(args.direct, args.topic, args.partitions, args.group, deadline)
    missing = sorted(acked - found)
    return {
        "acked": len(acked),
        "failed": len(failed),
        "found": len(found),
        "missing": len(missing),
        "first_missing": missing[:10],
    }


if __name__ == "__main__":
    common.run(main)
