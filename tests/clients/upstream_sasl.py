"""A client of a proxy that logs in to brokers itself (--sasl-enable).

--client confluent (librdkafka) or kafka-python; --mechanism NONE connects in PLAINTEXT, as the
proxy intends, any other value (PLAIN, SCRAM-SHA-512, ...) makes the client do its own SASL with
--username/--password, which the proxy answers itself. Modes:
  roundtrip  create the topic, produce --count messages, consume them back:
             prints {"produced", "consumed", "digest"}
  check      ask for metadata: prints {"ok": bool, "detail": str}
"""

import time

import common


def confluent_config(args):
    conf = {"bootstrap.servers": args.bootstrap}
    if args.mechanism != "NONE":
        conf.update(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": args.mechanism,
                "sasl.username": args.username,
                "sasl.password": args.password,
            }
        )
    return conf


def confluent_check(args, deadline):
    from confluent_kafka.admin import AdminClient

    errors = []
    conf = confluent_config(args)
    conf["error_cb"] = lambda e: errors.append(str(e))
    admin = AdminClient(conf)
    try:
        md = admin.list_topics(timeout=min(10.0, deadline.left()))
        return {"ok": True, "detail": f"{len(md.brokers)} brokers"}
    except Exception as e:  # noqa: BLE001 - the failure is the result
        return {"ok": False, "detail": f"{e}; errors: {errors}"}


def confluent_roundtrip(args, deadline):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    conf = confluent_config(args)
    admin = AdminClient(conf)
    futures = admin.create_topics([NewTopic(args.topic, num_partitions=1, replication_factor=1)])
    futures[args.topic].result(timeout=deadline.left())
    while not deadline.expired():
        t = admin.list_topics(topic=args.topic, timeout=5).topics.get(args.topic)
        if t is not None and t.error is None and all(p.leader >= 0 for p in t.partitions.values()):
            break
        time.sleep(0.2)
    producer = Producer(dict(conf, **{"acks": "all", "linger.ms": 5}))
    errors = []
    for i in range(args.count):
        key, value = common.message(i)
        producer.produce(
            args.topic,
            key=key,
            value=value,
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        producer.poll(0)
    left = producer.flush(deadline.left())
    if left or errors:
        raise RuntimeError(f"produce: {left} undelivered, errors {errors[:3]}")
    consumer = Consumer(
        dict(
            conf,
            **{
                "group.id": args.topic + "-group",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([args.topic])
    pairs = []
    try:
        while len(pairs) < args.count and not deadline.expired():
            for m in consumer.consume(num_messages=1000, timeout=min(1.0, deadline.left())):
                if m.error():
                    raise RuntimeError(f"consume: {m.error()}")
                pairs.append((m.key(), m.value()))
    finally:
        consumer.close()
    return {"produced": args.count, "consumed": len(pairs), "digest": common.digest(set(pairs))}


def kafka_python_config(args):
    conf = {"bootstrap_servers": args.bootstrap}
    if args.mechanism != "NONE":
        conf.update(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=args.mechanism,
            sasl_plain_username=args.username,
            sasl_plain_password=args.password,
        )
    return conf


def kafka_python_check(args, deadline):
    from kafka import KafkaConsumer

    try:
        consumer = KafkaConsumer(request_timeout_ms=10000, **kafka_python_config(args))
        topics = consumer.topics()
        consumer.close()
        return {"ok": True, "detail": f"{len(topics)} topics"}
    except Exception as e:  # noqa: BLE001 - the failure is the result
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"}


def kafka_python_roundtrip(args, deadline):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    conf = kafka_python_config(args)
    admin = KafkaAdminClient(**conf)
    try:
        admin.create_topics([NewTopic(args.topic, 1, 1)])
    finally:
        admin.close()
    time.sleep(0.5)
    producer = KafkaProducer(acks="all", linger_ms=5, **conf)
    futures = []
    for i in range(args.count):
        key, value = common.message(i)
        futures.append(producer.send(args.topic, key=key, value=value))
    producer.flush(timeout=deadline.left())
    for f in futures:
        f.get(timeout=deadline.left())
    producer.close()
    consumer = KafkaConsumer(
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None, **conf
    )
    tp = TopicPartition(args.topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    pairs = []
    try:
        while len(pairs) < args.count and not deadline.expired():
            for records in consumer.poll(timeout_ms=1000, max_records=1000).values():
                pairs.extend((r.key, r.value) for r in records)
    finally:
        consumer.close()
    return {"produced": len(futures), "consumed": len(pairs), "digest": common.digest(set(pairs))}


def main():
    p = common.parser(__doc__)
    p.add_argument("--client", choices=["confluent", "kafka-python"], default="confluent")
    p.add_argument("--mode", choices=["roundtrip", "check"], default="roundtrip")
    p.add_argument("--mechanism", default="NONE")
    p.add_argument("--username", default="client")
    p.add_argument("--password", default="client-password")
    p.add_argument("--topic", default="upstream-sasl")
    p.add_argument("--count", type=int, default=100)
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    run = {
        ("confluent", "roundtrip"): confluent_roundtrip,
        ("confluent", "check"): confluent_check,
        ("kafka-python", "roundtrip"): kafka_python_roundtrip,
        ("kafka-python", "check"): kafka_python_check,
    }[(args.client, args.mode)]
    return run(args, deadline)


if __name__ == "__main__":
    common.run(main)
