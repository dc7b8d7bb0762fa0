"""confluent-kafka over TLS: create a topic, produce N messages, consume them back.

Options --ca, --cert, --key, --key-password configure librdkafka for security.protocol=SSL
(without --ca the client speaks PLAINTEXT, to drive a proxy that originates TLS itself).
Prints {"produced", "consumed", "digest"}.
"""

import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import common


def client_config(args):
    config = {"bootstrap.servers": args.bootstrap}
    if args.ca:
        config.update({"security.protocol": "SSL", "ssl.ca.location": args.ca})
        # The proxy's certificate names 127.0.0.1/localhost: verify it like any client would.
        config["ssl.endpoint.identification.algorithm"] = "https"
    if args.cert:
        config["ssl.certificate.location"] = args.cert
        config["ssl.key.location"] = args.key
        if args.key_password:
            config["ssl.key.password"] = args.key_password
    return config


def main():
    p = common.parser(__doc__)
    p.add_argument("--topic", required=True)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--value-size", type=int, default=0)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--key-password")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    base = client_config(args)

    admin = AdminClient(dict(base))
    futures = admin.create_topics(
        [NewTopic(args.topic, num_partitions=1, replication_factor=1)],
        operation_timeout=10,
        request_timeout=15,
    )
    futures[args.topic].result(timeout=deadline.left())

    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    producer = Producer(dict(base, **{"acks": "all", "linger.ms": 5}))
    pairs = []
    for i in range(args.messages):
        key, value = common.message(i, args.value_size)
        pairs.append((key, value))
        while True:
            try:
                producer.produce(args.topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(deadline.left())
    if left or errors:
        raise KafkaException(f"{left} undelivered, {len(errors)} errors: {errors[:1]}")

    consumer = Consumer(
        dict(
            base,
            **{
                "group.id": f"{args.topic}-group",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([args.topic])
    got = []
    while len(got) < args.messages and not deadline.expired():
        msg = consumer.poll(min(1.0, deadline.left()))
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        got.append((msg.key(), msg.value()))
    consumer.close()
    return {
        "produced": args.messages,
        "consumed": len(got),
        "digest_ok": common.digest(got) == common.digest(pairs),
    }


if __name__ == "__main__":
    common.run(main)
