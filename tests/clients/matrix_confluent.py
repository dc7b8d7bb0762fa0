"""The confluent-kafka (librdkafka) client of the client matrix driver, tests/clients/matrix.py."""

import time
import uuid

import common
from matrix_common import (
    Failure,
    consume_result,
    error_list,
    finish,
    key,
    note_client_error,
    produce_result,
    read_until_done,
    stage,
    transactions_read_back,
    two_transactions,
    value,
    wait,
    with_last_error,
)


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
        return produce_result(args.count, acked, errors)

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

        def poll(seconds):
            for m in c.consume(num_messages=500, timeout=seconds):
                if m.error():
                    if self.transient(m.error()):
                        continue
                    raise self.ck.KafkaException(m.error())
                yield m.partition(), m.offset(), m.value()

        stage(f"consuming {args.count} records in group {args.group}")
        try:
            values, last = read_until_done(poll, args.count, self.deadline, args.timeout)
            if last:
                stage("committing")
                offsets = [self.ck.TopicPartition(args.topic, p, o + 1) for p, o in last.items()]
                c.commit(offsets=offsets, asynchronous=False)
        finally:
            stage("closing the consumer")
            c.close()
        return consume_result(values, self.committed(args.group, args.topic))

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

        def produce_range(lo, hi):
            for i in range(lo, hi):
                self.send(producer, i, on_delivery)
            if producer.flush(self.left()):
                raise Failure("transactional records not delivered before the deadline")
            if errors:
                raise Failure(f"delivery errors: {error_list(errors)}")

        def end(commit):
            (producer.commit_transaction if commit else producer.abort_transaction)(self.left(30))

        stage("init_transactions")
        producer.init_transactions(self.left(30))
        two_transactions(k, producer.begin_transaction, produce_range, end)
        return transactions_read_back(k, lambda isolation: self.read_all(partitions, isolation))
