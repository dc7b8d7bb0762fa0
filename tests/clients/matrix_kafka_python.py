"""The kafka-python 3 client of the client matrix driver, tests/clients/matrix.py."""

import sys
import threading
import time
import uuid

import common
from matrix_common import (
    Failure,
    consume_result,
    key,
    note_client_error,
    produce_result,
    read_until_done,
    stage,
    transactions_read_back,
    two_transactions,
    value,
    with_last_error,
)

# -X keys (librdkafka / Java names) -> kafka-python keyword arguments.
KAFKA_PYTHON_PROPS = {
    "security.protocol": ("security_protocol", str.upper),
    "sasl.mechanism": ("sasl_mechanism", str.upper),
    "sasl.mechanisms": ("sasl_mechanism", str.upper),
    "sasl.username": ("sasl_plain_username", str),
    "sasl.password": ("sasl_plain_password", str),
    "ssl.ca.location": ("ssl_cafile", str),
    "ssl.certificate.location": ("ssl_certfile", str),
    "ssl.key.location": ("ssl_keyfile", str),
    "ssl.key.password": ("ssl_password", str),
    "ssl.crl.location": ("ssl_crlfile", str),
    "ssl.endpoint.identification.algorithm": ("ssl_check_hostname", lambda v: v.lower() == "https"),
    "client.id": ("client_id", str),
}


class KafkaPython:
    name = "kafka-python"

    def __init__(self, args, deadline):
        import kafka

        self.kafka = kafka
        self.args = args
        self.deadline = deadline
        self.kw = {"bootstrap_servers": args.bootstrap}
        for k, v in args.props.items():
            if k not in KAFKA_PYTHON_PROPS:
                raise Failure(f"kafka-python driver cannot map -X {k}")
            name, conv = KAFKA_PYTHON_PROPS[k]
            self.kw[name] = conv(v)
        common.log(f"kafka-python {kafka.__version__}")
        import logging

        class Remember(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.ERROR and not record.getMessage().startswith("Bootstrap failed"):
                    note_client_error(record.getMessage(), echo=False)

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
        logging.getLogger("kafka").addHandler(Remember())

    def bootstrap_ms(self):
        return int(max(0.1, self.deadline.left() - 0.3) * 1000)

    def ms(self, cap):
        return int(max(100, min(cap, self.deadline.left())) * 1000)

    def admin(self):
        from kafka.admin import KafkaAdminClient

        stage("connecting the admin client")
        return KafkaAdminClient(
            request_timeout_ms=self.ms(30), bootstrap_timeout_ms=self.bootstrap_ms(), **self.kw
        )

    def cluster(self):
        a = self.admin()
        try:
            stage("describing the cluster")
            d = a.describe_cluster()
            common.log(f"describe_cluster: {d}")
            brokers = [b for b in d["brokers"] if not b.get("is_fenced", False)]
            out = {
                "cluster_id": d["cluster_id"],
                "controller_id": d["controller_id"],
                "brokers": sorted(
                    (
                        {"id": b.get("broker_id", b.get("node_id")), "host": b["host"], "port": b["port"]}
                        for b in brokers
                    ),
                    key=lambda b: b["id"],
                ),
            }
            if self.args.topic:
                out["leaders"] = self.leaders(a, out["brokers"])
            return out
        finally:
            a.close()

    def leaders(self, a, brokers):
        by_id = {b["id"]: b for b in brokers}
        stage("describing the topic")
        topics = a.describe_topics([self.args.topic])
        common.log(f"describe_topics: {topics}")
        t = topics[0]
        if t.get("error_code", 0):
            raise Failure(f"topic {self.args.topic}: error code {t['error_code']}")
        out = []
        for p in sorted(t["partitions"], key=lambda p: p["partition_index"]):
            b = by_id.get(p["leader_id"])
            out.append(
                {
                    "partition": p["partition_index"],
                    "leader": p["leader_id"],
                    "host": b["host"] if b else None,
                    "port": b["port"] if b else None,
                }
            )
        return out

    def ensure_topic(self):
        import kafka.errors as Errors

        topic, a = self.args.topic, self.admin()
        try:
            stage(f"creating topic {topic}")
            res = a.create_topics(
                {
                    topic: {
                        "num_partitions": self.args.partitions,
                        "replication_factor": self.args.replication,
                    }
                },
                timeout_ms=self.ms(15),
                raise_errors=False,
            )
            code = res["topics"][0]["error_code"]
            if code == Errors.TopicAlreadyExistsError.errno:
                common.log(f"topic {topic} exists")
            elif code != 0:
                err = Errors.for_code(code)
                raise Failure(f"create topic {topic}: {err.__name__}: {res['topics'][0].get('error_message')}")
            else:
                common.log(f"created topic {topic}")
            while not self.deadline.expired():
                t = a.describe_topics([topic])[0]
                parts = t.get("partitions") or []
                if not t.get("error_code", 0) and parts and all(p["leader_id"] >= 0 for p in parts):
                    return sorted(p["partition_index"] for p in parts)
                time.sleep(0.2)
            raise Failure(f"topic {topic} never showed leaders for all partitions")
        finally:
            a.close()

    def check_codec(self, codec):
        from kafka import codec as kc

        need = {"snappy": ("python-snappy", kc.has_snappy), "lz4": ("lz4", kc.has_lz4), "zstd": ("zstandard", kc.has_zstd)}
        if codec in need and not need[codec][1]():
            raise Failure(
                f"compression {codec} is not supported here: kafka-python needs the python package "
                f"{need[codec][0]} for {codec}, and it is not installed"
            )

    def producer(self, **extra):
        from kafka import KafkaProducer

        kw = dict(self.kw)
        # delivery_timeout_ms must exceed linger_ms + request_timeout_ms.
        left = max(1.0, self.deadline.left() - 1.0)
        kw.update(
            request_timeout_ms=int(min(30.0, left / 2) * 1000),
            max_block_ms=int(min(30.0, left) * 1000),
            delivery_timeout_ms=int(left * 1000),
            bootstrap_timeout_ms=self.bootstrap_ms(),
        )
        kw.update(extra)
        stage("connecting the producer")
        return KafkaProducer(**kw)

    def produce(self):
        args = self.args
        self.check_codec(args.compression)
        self.ensure_topic()
        extra = {
            "acks": {"all": "all", "1": 1, "0": 0}[args.acks],
            "compression_type": None if args.compression == "none" else args.compression,
        }
        if args.idempotent:
            extra["enable_idempotence"] = True
        else:
            extra["enable_idempotence"] = False
        if args.linger_ms is not None:
            extra["linger_ms"] = args.linger_ms
        p = self.producer(**extra)
        acked, errors = [], []
        lock = threading.Lock()
        stage(f"producing {args.count} records")
        try:
            for i in range(args.count):
                v = value(i, args.size)
                fut = p.send(args.topic, key=key(i), value=v)

                def ok(_md, v=v):
                    with lock:
                        acked.append(v)

                def bad(e):
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")

                fut.add_callback(ok)
                fut.add_errback(bad)
            stage("waiting for the delivery reports")
            p.flush(timeout=max(0.1, self.deadline.left() - 0.5))
            with lock:
                done = len(acked) + len(errors)
            if done < args.count:
                raise Failure(
                    with_last_error(f"{args.count - done} records not delivered before the deadline")
                )
        finally:
            p.close(timeout=max(0.1, min(5, self.deadline.left() - 0.5)))
        return produce_result(args.count, acked, errors)

    def consumer(self, group, isolation, **extra):
        from kafka import KafkaConsumer

        kw = dict(self.kw)
        kw.update(
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level=isolation,
            request_timeout_ms=self.ms(30),
            bootstrap_timeout_ms=self.bootstrap_ms(),
        )
        kw.update(extra)
        stage("connecting the consumer")
        return KafkaConsumer(**kw)

    def consume(self):
        from kafka import OffsetAndMetadata, TopicPartition

        args = self.args
        if args.group_protocol != "classic":
            raise Failure(
                "kafka-python does not support --group-protocol consumer (KIP-848); only classic"
            )
        c = self.consumer(args.group, args.isolation)
        c.subscribe([args.topic])

        def poll(seconds):
            for tp, records in c.poll(timeout_ms=int(seconds * 1000), max_records=500).items():
                for r in records:
                    yield tp.partition, r.offset, r.value

        stage(f"consuming {args.count} records in group {args.group}")
        try:
            values, last = read_until_done(poll, args.count, self.deadline, args.timeout)
            if last:
                stage("committing")
                c.commit(
                    {
                        TopicPartition(args.topic, p): OffsetAndMetadata(o + 1, "", -1)
                        for p, o in last.items()
                    }
                )
        finally:
            stage("closing the consumer")
            c.close(autocommit=False)
        return consume_result(values, self.committed(args.group, args.topic))

    def committed(self, group, topic):
        a = self.admin()
        try:
            stage("reading the committed offsets back")
            res = a.list_group_offsets({group: None}).get(group, {})
        finally:
            a.close()
        return {
            str(tp.partition): om.offset
            for tp, om in sorted(res.items(), key=lambda kv: kv[0].partition)
            if tp.topic == topic and om.offset >= 0
        }

    def read_all(self, partitions, isolation):
        from kafka import TopicPartition

        topic = self.args.topic
        c = self.consumer(None, isolation)
        tps = [TopicPartition(topic, p) for p in partitions]
        try:
            c.assign(tps)
            stage(f"reading {topic} to its end with {isolation}")
            c.seek_to_beginning(*tps)
            ends = c.end_offsets(tps)
            common.log(f"{isolation} end offsets: {ends}")
            values = []
            while any(c.position(tp) < ends[tp] for tp in tps):
                if self.deadline.expired():
                    raise Failure(with_last_error(f"{isolation} reader did not reach the end offsets {ends}"))
                for _tp, records in c.poll(timeout_ms=500, max_records=500).items():
                    values.extend(r.value for r in records)
            return values
        finally:
            c.close(autocommit=False)

    def transactions(self):
        args = self.args
        k = args.count
        self.check_codec(args.compression)
        partitions = self.ensure_topic()
        p = self.producer(
            transactional_id=f"matrix-txn-{uuid.uuid4().hex[:12]}",
            compression_type=None if args.compression == "none" else args.compression,
        )

        def produce_range(lo, hi):
            futures = [p.send(args.topic, key=key(i), value=value(i, args.size)) for i in range(lo, hi)]
            p.flush(timeout=max(0.1, self.deadline.left() - 0.5))
            for f in futures:
                f.get(timeout=max(0.1, self.deadline.left()))

        def end(commit):
            (p.commit_transaction if commit else p.abort_transaction)()

        try:
            stage("init_transactions")
            p.init_transactions()
            two_transactions(k, p.begin_transaction, produce_range, end)
        finally:
            p.close(timeout=max(0.1, min(5, self.deadline.left() - 0.5)))
        return transactions_read_back(k, lambda isolation: self.read_all(partitions, isolation))
