"""confluent-kafka through the proxy while the test restarts the broker behind it: creates the
topic, writes --started-file and produces at a steady rate with acks=all and retries for
--seconds, flushes, then reads the whole topic back through the proxy and checks that every
message the producer saw acknowledged is there.

The test stops the broker and starts it again (same port, same storage) in the middle of the
load, and creates --restarted-file once the broker answers again. Deliveries are retried
across the restart (message.timeout.ms is long); one that still fails was never acknowledged
and is allowed. An acknowledged message that is missing is the failure this looks for.

Prints {"produced", "acked", "failed", "acked_after_restart", "found", "missing",
"first_missing", "duplicates"}.
"""

import os
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


def produce(bootstrap, topic, seconds, rate, restarted_file, deadline):
    acked = set()
    failed = []
    after_restart = [0]

    def on_delivery(err, msg):
        if err is None:
            acked.add(common.index_of(msg.key()))
            if os.path.exists(restarted_file):
                after_restart[0] += 1
        else:
            failed.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            # Retried across the restart: the broker is away for a few seconds only.
            "message.timeout.ms": 60000,
            "retries": 1000000,
            "retry.backoff.ms": 100,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
            "max.in.flight.requests.per.connection": 5,
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
    left = producer.flush(max(1.0, deadline.left() - 30))
    common.log(f"produced {i}, acked {len(acked)}, failed {len(failed)}, unresolved {left}")
    return i, acked, failed, after_restart[0]


def read_back(bootstrap, topic, partitions, group, deadline):
    """Every message index in the topic (with repeats), read up to each high watermark."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    found = []
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
                found.append(common.index_of(m.key()))
                positions[m.partition()] = m.offset() + 1
    finally:
        consumer.close()
    return found


def main():
    p = common.parser(__doc__)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0, help="how long to keep producing")
    p.add_argument("--rate", type=float, default=200.0, help="messages per second")
    p.add_argument("--started-file", required=True, help="created when producing starts")
    p.add_argument("--restarted-file", required=True, help="created by the test after the restart")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)

    create_topic(args.bootstrap, args.topic, args.partitions, deadline)
    with open(args.started_file, "w") as f:
        f.write("producing\n")
    produced, acked, failed, after_restart = produce(
        args.bootstrap, args.topic, args.seconds, args.rate, args.restarted_file, deadline
    )
    found = read_back(args.bootstrap, args.topic, args.partitions, args.group, deadline)
    distinct = set(found)
    missing = sorted(acked - distinct)
    return {
        "produced": produced,
        "acked": len(acked),
        "failed": len(failed),
        "first_failure": failed[:1],
        "acked_after_restart": after_restart,
        "found": len(distinct),
        "duplicates": len(found) - len(distinct),
        "missing": len(missing),
        "first_missing": missing[:10],
    }


if __name__ == "__main__":
    common.run(main)
