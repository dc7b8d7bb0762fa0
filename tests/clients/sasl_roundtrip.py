"""SASL/PLAIN through a proxy that authenticates clients itself (--auth-local-*).

--client confluent (librdkafka: SaslHandshake v1 + SaslAuthenticate; with --ca, SASL_SSL) or kafka-python (3.x:
SaslAuthenticate; 2.0.x, Debian's python3-kafka: the legacy SaslHandshake v0 flow with raw
tokens). Modes:
  roundtrip   create the topic, produce --count messages, consume them back:
              prints {"produced", "consumed", "digest"}
  auth-check  connect and ask for metadata: prints {"authenticated": bool, "detail": str}
Runs with any Python that has the chosen library (the venv, or /usr/bin/python3).
"""

import time

import common


def confluent_config(args):
    config = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": args.username,
        "sasl.password": args.password,
    }
    if args.ca:
        # SASL_SSL: TLS to the proxy's listener, verified against --ca, then SASL inside.
        config.update({"security.protocol": "SASL_SSL", "ssl.ca.location": args.ca,
                       "ssl.endpoint.identification.algorithm": "https"})
    return config


def confluent_auth_check(args, deadline):
    from confluent_kafka.admin import AdminClient

    errors = []
    conf = confluent_config(args)
    conf["error_cb"] = lambda e: errors.append(str(e))
    admin = AdminClient(conf)
    try:
        md = admin.list_topics(timeout=min(10.0, deadline.left()))
        return {"authenticated": True, "detail": f"{len(md.brokers)} brokers"}
    except Exception as e:  # noqa: BLE001
        return {"authenticated": False, "detail": f"{e}; errors: {errors}"}


def confluent_roundtrip(args, deadline):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    conf = confluent_config(args)
    admin = AdminClient(conf)
    futures = admin.create_topics([NewTopic(args.topic, num_partitions=1, replication_factor=1)])
    futures[args.topic].result(timeout=deadline.left())
    time.sleep(0.5)
    producer = Producer(dict(conf, **{"acks": "all", "linger.ms": 5}))
    errors = []
    for i in range(args.count):
        key, value = common.message(i)
        producer.produce(args.topic, key=key, value=value,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
    left = producer.flush(timeout=deadline.left())
    if left or errors:
        raise RuntimeError(f"produce: {left} undelivered, errors {errors[:3]}")
    consumer = Consumer(dict(conf, **{"group.id": args.topic + "-g",
                                      "auto.offset.reset": "earliest",
                                      "enable.auto.commit": False}))
    consumer.subscribe([args.topic])
    pairs = []
    try:
        while len(pairs) < args.count and not deadline.expired():
            msg = consumer.poll(min(1.0, deadline.left()))
            if msg is None:
                continue
            if msg.error():
                common.log(f"consumer: {msg.error()}")
                continue
            pairs.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return {"produced": args.count, "consumed": len(pairs), "digest": common.digest(set(pairs))}


def kafka_python_config(args):
    return dict(bootstrap_servers=args.bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=args.username,
                sasl_plain_password=args.password)


def kafka_python_auth_check(args, deadline):
    from kafka import KafkaConsumer

    try:
        consumer = KafkaConsumer(request_timeout_ms=10000,
                                 **kafka_python_config(args))
        topics = consumer.topics()
        consumer.close()
        return {"authenticated": True, "detail": f"{len(topics)} topics"}
    except Exception as e:  # noqa: BLE001
        return {"authenticated": False, "detail": f"{type(e).__name__}: {e}"}


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
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False,
                             group_id=None, **conf)
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
    p.add_argument("--client", choices=["confluent", "kafka-python"], required=True)
    p.add_argument("--mode", choices=["roundtrip", "auth-check"], default="roundtrip")
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--topic", default="sasl-topic")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--ca", help="confluent only: SASL_SSL, trusting this CA file")
    args = p.parse_args()
    deadline = common.Deadline(args.timeout)
    run = {
        ("confluent", "roundtrip"): confluent_roundtrip,
        ("confluent", "auth-check"): confluent_auth_check,
        ("kafka-python", "roundtrip"): kafka_python_roundtrip,
        ("kafka-python", "auth-check"): kafka_python_auth_check,
    }[(args.client, args.mode)]
    result = run(args, deadline)
    if args.client == "kafka-python":
        import kafka

        result["library_version"] = kafka.__version__
    return result


if __name__ == "__main__":
    common.run(main)
