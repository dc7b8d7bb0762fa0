"""The demo's client (scripts/demo.sh): show the proxy's metadata, send one message through it,
read it back. Prints human-readable lines, not JSON.
"""

import uuid

from confluent_kafka import Consumer, Producer

import common
import roundtrip


def main():
    p = common.parser(__doc__)
    p.add_argument("--message", default="hello through kafka-proxy")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    bs = args.bootstrap
    topic = f"demo-{uuid.uuid4().hex[:8]}"

    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": bs}).list_topics(timeout=10)
    for b in md.brokers.values():
        print(f"metadata: broker {b.id} is advertised as {b.host}:{b.port}")

    roundtrip.create_topic(bs, topic, 1, deadline)
    print(f"created topic {topic}")

    producer = Producer({"bootstrap.servers": bs})
    producer.produce(topic, key=b"demo", value=args.message.encode())
    if producer.flush(deadline.left()):
        raise TimeoutError("message not delivered")
    print(f"produced: {args.message!r}")

    consumer = Consumer(
        {"bootstrap.servers": bs, "group.id": f"{topic}-group", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        while not deadline.expired():
            m = consumer.poll(1.0)
            if m is None:
                continue
            if m.error():
                raise RuntimeError(str(m.error()))
            print(f"consumed: {m.value().decode()!r} (partition {m.partition()}, offset {m.offset()})")
            return m.value().decode() == args.message
    finally:
        consumer.close()
    raise TimeoutError("no message consumed before the deadline")


if __name__ == "__main__":
    try:
        ok = main()
    except Exception as e:  # noqa: BLE001
        print(f"error: {type(e).__name__}: {e}")
        raise SystemExit(1)
    raise SystemExit(0 if ok else 1)
