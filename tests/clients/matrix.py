"""Client driver for the client matrix: one scenario with confluent-kafka or kafka-python.

    matrix.py --client confluent|kafka-python --bootstrap HOST:PORT [--timeout S] [-X k=v]... COMMAND ...

Commands (the contract is tests/clients/DRIVERS.md):
  cluster [--topic T]
  produce --topic T --count N [--size B] [--compression none|gzip|snappy|lz4|zstd]
          [--partitions P] [--replication R] [--acks all|1|0] [--idempotent] [--linger-ms M]
  consume --topic T --count N [--group G] [--group-protocol classic|consumer]
          [--isolation read_uncommitted|read_committed]
  transactions --topic T --count K [--partitions P]

Prints one JSON object as the last line of stdout; {"error": ...} and exit 1 on failure. The
options may come before or after the command. A watchdog ends the process at --timeout.
"""

import hashlib
import os
import sys
import threading
import time
import uuid

import common

COMMANDS = ("cluster", "produce", "consume", "transactions")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


class Failure(Exception):
    """A failure whose message is the whole error text (no exception class name)."""


# --- output, exactly once ------------------------------------------------------------------

_emit_lock = threading.Lock()
_emitted = False
_stage = ["starting"]


def stage(what):
    """Names what the driver is doing, for the watchdog's error."""
    _stage[0] = what
    common.log(f"-- {what}")


_last_client_error = [None]


def note_client_error(text, echo=True):
    """Remembers the client's latest error report: a timeout then says what went wrong."""
    _last_client_error[0] = text
    if echo:
        common.log(f"client error: {text}")


def with_last_error(text):
    last = _last_client_error[0]
    return f"{text} (last client error: {last})" if last else text


def wait(future, what, seconds, client=None):
    """future.result() with an error that says what did not answer. With a confluent client,
    polls it meanwhile so its error_cb runs."""
    end = time.monotonic() + max(0.1, seconds)
    while client is not None and not future.done() and time.monotonic() < end:
        client.poll(0.1)
    try:
        return future.result(timeout=max(0.01, end - time.monotonic()))
    except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since Python 3.11
        raise Failure(with_last_error(f"{what}: no answer before the deadline")) from None
    except Exception as e:
        import concurrent.futures

        if isinstance(e, concurrent.futures.TimeoutError):
            raise Failure(with_last_error(f"{what}: no answer before the deadline")) from None
        raise


def finish(obj, code):
    """Prints obj as the last stdout line and ends the process (os._exit: no client
    destructor may keep it alive after the answer)."""
    global _emitted
    with _emit_lock:
        if not _emitted:
            _emitted = True
            common.emit(obj)
        sys.stderr.flush()
        os._exit(code)


def start_watchdog(seconds):
    def fire():
        finish({"error": with_last_error(f"deadline of {seconds:g}s exceeded while {_stage[0]}")}, 1)

    t = threading.Timer(max(0.1, seconds - 0.4), fire)
    t.daemon = True
    t.start()


# --- deterministic records -----------------------------------------------------------------


def value(i, size):
    return ("v%08d" % i).ljust(size, ".").encode()


def key(i):
    return ("k%08d" % i).encode()


def index_of_value(v):
    return int(v[1:9])


def sha256(values):
    h = hashlib.sha256()
    for v in sorted(values):
        h.update(v)
        h.update(b"\n")
    return h.hexdigest()


def duplicates(values):
    return len(values) - len(set(values))


def error_list(errors):
    """Distinct delivery error messages, sorted, at most 10."""
    return sorted(set(errors))[:10]


# --- arguments -----------------------------------------------------------------------------


def parse_args(argv):
    p = common.parser("client matrix driver")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--client", required=True, choices=("confluent", "kafka-python"))
    p.add_argument("-X", dest="props", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--topic")
    p.add_argument("--count", type=int)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--compression", default="none")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication", type=int, default=1)
    p.add_argument("--acks", default="all", choices=("all", "-1", "1", "0"))
    p.add_argument("--idempotent", action="store_true")
    p.add_argument("--linger-ms", type=int)
    p.add_argument("--group")
    p.add_argument("--group-protocol", default="classic", choices=("classic", "consumer"))
    p.add_argument(
        "--isolation", default="read_uncommitted", choices=("read_uncommitted", "read_committed")
    )

    def error(message):
        raise Failure(f"bad arguments: {message}")

    p.error = error
    args = p.parse_args(argv)
    props = {}
    for item in args.props:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise Failure(f"bad -X {item!r}: want key=value")
        props[k.strip()] = v.strip()
    args.props = props
    if args.command in ("produce", "consume", "transactions"):
        if not args.topic:
            raise Failure(f"{args.command} needs --topic")
        if args.count is None or args.count < 0:
            raise Failure(f"{args.command} needs --count N (N >= 0)")
    if args.compression not in CODECS:
        raise Failure(f"unknown compression {args.compression!r} (one of {', '.join(CODECS)})")
    if args.acks == "-1":
        args.acks = "all"
    if args.group is None:
        args.group = f"matrix-{args.client}-{uuid.uuid4().hex[:12]}"
    return args


def read_reserve(timeout):
    """Seconds kept after the read phase of consume for the commit, close and offset read-back."""
    return max(1.5, min(8.0, timeout * 0.15))


# --- confluent-kafka -----------------------------------------------------------------------


class Confluent:
    name = "confluent-kafka"

    def __init__(self, args, deadline):
        import confluent_kafka
        from confluent_kafka import admin

        self.ck = confluent_kafka
        self.adm = admin
        self.args = args
        self.deadline = deadline
        common.log(f"confluent-kafka {confluent_kafka.version()}, librdkafka {confluent_kafka.libversion()[0]}")

    def on_error(self, err):
        text = f"{err.name()}: {err.str()}"
        if err.code() == self.ck.KafkaError._AUTHENTICATION or err.fatal():
            # Retrying cannot help: fail now rather than at the deadline.
            finish({"error": text}, 1)
        note_client_error(text)

    def conf(self, **extra):
        c = {"bootstrap.servers": self.args.bootstrap, "error_cb": self.on_error}
        c.update(self.args.props)
        c.update(extra)
        return c

    def left(self, cap=None):
        t = max(0.1, self.deadline.left())
        return min(t, cap) if cap else t

    def admin(self):
        return self.adm.AdminClient(self.conf())

    def cluster(self):
        a = self.admin()
        stage("describing the cluster")
        d = wait(a.describe_cluster(request_timeout=self.left(30)), "describe_cluster", self.left(), a)
        out = {
            "cluster_id": d.cluster_id,
            "controller_id": d.controller.id if d.controller is not None else -1,
            "brokers": sorted(
                ({"id": n.id, "host": n.host, "port": n.port} for n in d.nodes),
                key=lambda b: b["id"],
            ),
        }
        if self.args.topic:
            stage("reading the topic metadata")
            md = a.list_topics(topic=self.args.topic, timeout=self.left(30))
            t = md.topics.get(self.args.topic)
            if t is None or t.error is not None:
                raise Failure(f"topic {self.args.topic}: {t.error if t else 'missing'}")
            leaders = []
            for pid, pm in sorted(t.partitions.items()):
                b = md.brokers.get(pm.leader)
                leaders.append(
                    {
                        "partition": pid,
                        "leader": pm.leader,
                        "host": b.host if b else None,
                        "port": b.port if b else None,
                    }
                )
            out["leaders"] = leaders
        return out

    def ensure_topic(self):
        topic, a = self.args.topic, self.admin()
        stage(f"creating topic {topic}")
        futures = a.create_topics(
            [
                self.adm.NewTopic(
                    topic,
                    num_partitions=self.args.partitions,
                    replication_factor=self.args.replication,
                )
            ],
            operation_timeout=self.left(15),
            request_timeout=self.left(20),
        )
        try:
            wait(futures[topic], f"create topic {topic}", self.left(), a)
            common.log(f"created topic {topic}")
        except self.ck.KafkaException as e:
            if e.args[0].code() != self.ck.KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            common.log(f"topic {topic} exists")
        while not self.deadline.expired():
            md = a.list_topics(topic=topic, timeout=self.left(5))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions and all(
                p.leader >= 0 for p in t.partitions.values()
            ):
                return sorted(t.partitions)
            time.sleep(0.2)
        raise Failure(f"topic {topic} never showed leaders for all partitions")

    def send(self, producer, i, on_delivery):
        """Queues record i, waiting (within the deadline) while librdkafka's queue is full."""
        args = self.args
        while True:
            try:
                producer.produce(args.topic, key=key(i), value=value(i, args.size), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
                if self.deadline.expired():
                    raise Failure("deadline exceeded while producing")
        producer.poll(0)

    def produce(self):
        args = self.args
        self.ensure_topic()
        extra = {"acks": args.acks, "compression.type": args.compression}
        if "partitioner" not in args.props:
            # The Java client's partitioner (murmur2 of the key), as KafkaJS and kafka-python use:
            # every client then spreads the same records over the partitions the same way.
            extra["partitioner"] = "murmur2_random"
        if args.idempotent:
            extra["enable.idempotence"] = True
        if args.linger_ms is not None:
            extra["linger.ms"] = args.linger_ms
        # Bound the delivery attempts by the deadline, so failures arrive as delivery errors.
        extra.setdefault("message.timeout.ms", int(max(1000, (self.deadline.left() - 2) * 1000)))
        producer = self.ck.Producer(self.conf(**extra))
        acked, errors = [], []
        stage(f"producing {args.count} records")

        def on_delivery(err, msg):
            if err is not None:
                errors.append(f"{err.name()}: {err.str()}")
            else:
                acked.append(msg.value())

        for i in range(args.count):
            self.send(producer, i, on_delivery)
        stage("waiting for the delivery reports")
        left = producer.flush(self.left())
        if left:
            raise Failure(with_last_error(f"{left} records not delivered before the deadline"))
        return {
            "sent": args.count,
            "acked": len(acked),
            "sha256": sha256(acked),
            "errors": error_list(errors),
        }

    def consumer_conf(self, group, isolation, protocol="classic", **more):
        extra = {
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
        if protocol == "consumer":
            extra["group.protocol"] = "consumer"
        extra.update(more)
        return self.conf(**extra)

    def transient(self, err):
        """Consumer events that librdkafka recovers from by itself (noted, not fatal)."""
        E = self.ck.KafkaError
        if err.code() == E._PARTITION_EOF:
            return True
        if not err.fatal() and err.code() in (E._TRANSPORT, E._ALL_BROKERS_DOWN, E._TIMED_OUT):
            note_client_error(f"{err.name()}: {err.str()}")
            return True
        return False

    def consume(self):
        args = self.args
        c = self.ck.Consumer(
            self.consumer_conf(args.group, args.isolation, args.group_protocol)
        )
        c.subscribe([args.topic])
        values, last = [], {}
        stop_at = self.deadline.end - read_reserve(args.timeout)
        done_at = None
        stage(f"consuming {args.count} records in group {args.group}")
        try:
            while True:
                now = time.monotonic()
                if now >= stop_at or (done_at is not None and now >= done_at):
                    break
                end = stop_at if done_at is None else min(stop_at, done_at)
                msgs = c.consume(num_messages=500, timeout=max(0.01, min(0.5, end - now)))
                for m in msgs:
                    if m.error():
                        if self.transient(m.error()):
                            continue
                        raise self.ck.KafkaException(m.error())
                    values.append(m.value())
                    last[m.partition()] = max(last.get(m.partition(), -1), m.offset())
                if done_at is None and len(values) >= args.count:
                    done_at = time.monotonic() + 1.0
            if last:
                stage("committing")
                offsets = [self.ck.TopicPartition(args.topic, p, o + 1) for p, o in last.items()]
                c.commit(offsets=offsets, asynchronous=False)
        finally:
            stage("closing the consumer")
            c.close()
        return {
            "count": len(values),
            "sha256": sha256(set(values)),
            "duplicates": duplicates(values),
            "committed": self.committed(args.group, args.topic),
        }

    def committed(self, group, topic):
        stage("reading the committed offsets back")
        req = [self.ck.ConsumerGroupTopicPartitions(group)]
        a = self.admin()  # keep a reference: a collected AdminClient never completes its futures
        futures = a.list_consumer_group_offsets(req, request_timeout=self.left(15))
        res = wait(futures[group], "list_consumer_group_offsets", self.left(), a)
        return {
            str(tp.partition): tp.offset
            for tp in sorted(res.topic_partitions, key=lambda tp: tp.partition)
            if tp.topic == topic and tp.offset >= 0
        }

    def read_all(self, partitions, isolation):
        """Reads every partition from the beginning to its end (the LSO for read_committed)."""
        args = self.args
        c = self.ck.Consumer(
            self.consumer_conf(
                f"matrix-txn-read-{uuid.uuid4().hex[:12]}", isolation, **{"enable.partition.eof": True}
            )
        )
        tps = [self.ck.TopicPartition(args.topic, p, self.ck.OFFSET_BEGINNING) for p in partitions]
        c.assign(tps)
        stage(f"reading {args.topic} to its end with {isolation}")
        pending, values = set(partitions), []
        try:
            while pending:
                if self.deadline.expired():
                    raise Failure(
                        with_last_error(f"{isolation} reader did not reach the end of {sorted(pending)}")
                    )
                for m in c.consume(num_messages=500, timeout=self.left(0.5)):
                    if m.error():
                        if m.error().code() == self.ck.KafkaError._PARTITION_EOF:
                            pending.discard(m.partition())
                            continue
                        if self.transient(m.error()):
                            continue
                        raise self.ck.KafkaException(m.error())
                    values.append(m.value())
        finally:
            c.close()
        return values

    def transactions(self):
        args = self.args
        k = args.count
        partitions = self.ensure_topic()
        producer = self.ck.Producer(
            self.conf(
                **{
                    "transactional.id": f"matrix-txn-{uuid.uuid4().hex[:12]}",
                    "compression.type": args.compression,
                    "partitioner": args.props.get("partitioner", "murmur2_random"),
                }
            )
        )
        errors = []

        def on_delivery(err, _msg):
            if err is not None:
                errors.append(f"{err.name()}: {err.str()}")

        stage("init_transactions")
        producer.init_transactions(self.left(30))
        for lo, hi, commit in ((0, k, True), (k, 2 * k, False)):
            stage(f"producing records {lo}..{hi} in a transaction")
            producer.begin_transaction()
            for i in range(lo, hi):
                self.send(producer, i, on_delivery)
            if producer.flush(self.left()):
                raise Failure("transactional records not delivered before the deadline")
            if errors:
                raise Failure(f"delivery errors: {error_list(errors)}")
            stage("committing the transaction" if commit else "aborting the transaction")
            if commit:
                producer.commit_transaction(self.left(30))
            else:
                producer.abort_transaction(self.left(30))
        committed = self.read_all(partitions, "read_committed")
        uncommitted = self.read_all(partitions, "read_uncommitted")
        return {
            "committed": k,
            "committed_seen": sum(1 for v in committed if index_of_value(v) < k),
            "aborted_seen": sum(1 for v in committed if index_of_value(v) >= k),
            "sha256": sha256(committed),
            "uncommitted_seen": len(uncommitted),
        }


# --- kafka-python --------------------------------------------------------------------------

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
        return {
            "sent": args.count,
            "acked": len(acked),
            "sha256": sha256(acked),
            "errors": error_list(errors),
        }

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
        values, last = [], {}
        stop_at = self.deadline.end - read_reserve(args.timeout)
        done_at = None
        stage(f"consuming {args.count} records in group {args.group}")
        try:
            while True:
                now = time.monotonic()
                if now >= stop_at or (done_at is not None and now >= done_at):
                    break
                end = stop_at if done_at is None else min(stop_at, done_at)
                batch = c.poll(timeout_ms=int(max(10, min(500, (end - now) * 1000))), max_records=500)
                for tp, records in batch.items():
                    for r in records:
                        values.append(r.value)
                        last[tp.partition] = max(last.get(tp.partition, -1), r.offset)
                if done_at is None and len(values) >= args.count:
                    done_at = time.monotonic() + 1.0
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
        return {
            "count": len(values),
            "sha256": sha256(set(values)),
            "duplicates": duplicates(values),
            "committed": self.committed(args.group, args.topic),
        }

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
        try:
            stage("init_transactions")
            p.init_transactions()
            for lo, hi, commit in ((0, k, True), (k, 2 * k, False)):
                stage(f"producing records {lo}..{hi} in a transaction")
                p.begin_transaction()
                futures = [
                    p.send(args.topic, key=key(i), value=value(i, args.size)) for i in range(lo, hi)
                ]
                p.flush(timeout=max(0.1, self.deadline.left() - 0.5))
                for f in futures:
                    f.get(timeout=max(0.1, self.deadline.left()))
                stage("committing the transaction" if commit else "aborting the transaction")
                if commit:
                    p.commit_transaction()
                else:
                    p.abort_transaction()
        finally:
            p.close(timeout=max(0.1, min(5, self.deadline.left() - 0.5)))
        committed = self.read_all(partitions, "read_committed")
        uncommitted = self.read_all(partitions, "read_uncommitted")
        return {
            "committed": k,
            "committed_seen": sum(1 for v in committed if index_of_value(v) < k),
            "aborted_seen": sum(1 for v in committed if index_of_value(v) >= k),
            "sha256": sha256(committed),
            "uncommitted_seen": len(uncommitted),
        }


# --- main ----------------------------------------------------------------------------------


def main():
    timeout = 60.0
    try:
        # The watchdog needs --timeout before anything can block; parse_args raises on errors.
        for i, a in enumerate(sys.argv):
            if a == "--timeout" and i + 1 < len(sys.argv):
                timeout = float(sys.argv[i + 1])
            elif a.startswith("--timeout="):
                timeout = float(a.split("=", 1)[1])
    except ValueError:
        pass
    start_watchdog(timeout)
    try:
        args = parse_args(sys.argv[1:])
        deadline = common.Deadline(max(0.5, args.timeout - 1.0))
        driver = (Confluent if args.client == "confluent" else KafkaPython)(args, deadline)
        result = getattr(driver, args.command)()
    except Failure as e:
        common.log(f"error: {e}")
        finish({"error": str(e)}, 1)
    except Exception as e:  # noqa: BLE001 - every failure must reach the test as JSON
        import traceback

        traceback.print_exc(file=sys.stderr)
        text = str(e) if str(e).startswith(type(e).__name__) else f"{type(e).__name__}: {e}"
        finish({"error": with_last_error(text)}, 1)
    finish(result, 0)


if __name__ == "__main__":
    main()
