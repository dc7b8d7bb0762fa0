// The Java client driver for the end-to-end tests: one scenario per run with the real Apache Kafka
// Java clients (kafka-clients 4.3.1: Admin, KafkaProducer, KafkaConsumer, KafkaShareConsumer).
//
//   java -cp "$KAFKA_PROXY_JAVA_DRIVER:$KAFKA_LIBS/*" Driver COMMAND --bootstrap HOST:PORT [options]
//
// It follows the driver contract in tests/clients/DRIVERS.md: exactly one JSON object on stdout, as
// its last (and only) line; client logs (log4j2, WARN and above) and progress go to stderr. On any
// failure it prints {"error": "<Class>: <message>"} and exits 1. A watchdog enforces --timeout
// (default 60 s): past it the driver prints {"error": "timeout after Ns in <phase>"} and exits 1, so
// it never hangs a test. Every repeatable -X key=value is set on every admin, producer and consumer
// configuration (security.protocol, sasl.*, ssl.*, group.protocol ...); -X wins over the driver's own
// settings (the share consumer drops the keys it refuses, e.g. group.protocol, auto.offset.reset).
// Only the JDK and the Kafka jars are used; the JSON is written by hand.
//
// Commands (one method each, below): cluster, coordinator, produce, consume, transactions,
// share-consume, produce-loop, admin, move-leader, scram-user.

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Driver {

    // ---------------------------------------------------------------------------------------------
    // Entry point, watchdog, output

    static Args args;
    static double timeoutSecs;
    static long deadlineNanos;
    /** What the driver is doing now; the watchdog names it when the deadline passes. */
    static volatile String phase = "start";
    static final Object OUTPUT_LOCK = new Object();
    static boolean emitted;

    public static void main(String[] argv) {
        Logs.init();
        int code;
        try {
            args = Args.parse(argv);
            startWatchdog(args.dbl("timeout", 60));
            emit(run(args.command));
            code = 0;
        } catch (Throwable t) {
            Throwable c = unwrap(t);
            System.err.println("driver: failed in phase '" + phase + "':");
            c.printStackTrace(System.err);
            emit(obj("error", c.getClass().getSimpleName() + ": " + c.getMessage()));
            code = 1;
        }
        // halt, not exit: a client thread or shutdown hook that hangs must not keep the test waiting.
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    static Map<String, Object> run(String command) throws Exception {
        switch (command) {
            case "cluster": return cluster();
            case "coordinator": return coordinator();
            case "produce": return produce();
            case "consume": return consume();
            case "transactions": return transactions();
            case "share-consume": return shareConsume();
            case "produce-loop": return produceLoop();
            case "admin": return adminSequence();
            case "move-leader": return moveLeader();
            case "scram-user": return scramUser();
            default: throw new IllegalArgumentException("unknown command '" + command + "'");
        }
    }

    static void startWatchdog(double secs) {
        timeoutSecs = secs;
        deadlineNanos = System.nanoTime() + (long) (secs * 1e9);
        Thread t = new Thread(() -> {
            long left;
            while ((left = deadlineNanos - System.nanoTime()) > 0) {
                try {
                    Thread.sleep(Math.max(1, left / 1_000_000));
                } catch (InterruptedException ignored) {
                    // keep watching
                }
            }
            String n = secs == Math.rint(secs) ? String.valueOf((long) secs) : String.valueOf(secs);
            if (emit(obj("error", "timeout after " + n + "s in " + phase))) {
                System.err.println("driver: watchdog fired in phase '" + phase + "'");
                System.err.flush();
                Runtime.getRuntime().halt(1);
            }
        }, "driver-watchdog");
        t.setDaemon(true);
        t.start();
    }

    /** Prints the one JSON line; false if a line was printed already (main and watchdog race). */
    static boolean emit(Map<String, Object> result) {
        synchronized (OUTPUT_LOCK) {
            if (emitted) return false;
            emitted = true;
            System.out.println(Json.write(result));
            System.out.flush();
            return true;
        }
    }

    static void phase(String p) {
        phase = p;
        System.err.println("driver: " + p);
    }

    static void log(String s) {
        System.err.println("driver: " + s);
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Milliseconds until the --timeout deadline (0 once it has passed). */
    static long remainingMs() {
        return Math.max(0, (deadlineNanos - System.nanoTime()) / 1_000_000);
    }

    /** Waits for an admin future. It may wait past the deadline on purpose: the watchdog then
     * reports the timeout with the phase, which says more than a bare TimeoutException. */
    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(remainingMs() + 2000, TimeUnit.MILLISECONDS);
    }

    /** Calls attempt until done accepts its result, retriable errors retried, for at most limitMs
     * (and never past the deadline); then returns the last result or throws the last error. */
    static <T> T until(long limitMs, Callable<T> attempt, Predicate<T> done) throws Exception {
        long end = System.nanoTime() + Math.min(limitMs, remainingMs()) * 1_000_000;
        while (true) {
            T last = null;
            Exception error = null;
            try {
                last = attempt.call();
                if (done.test(last)) return last;
            } catch (Exception e) {
                if (!(unwrap(e) instanceof RetriableException)) throw e;
                error = e;
                log("retrying after " + unwrap(e));
            }
            if (System.nanoTime() >= end) {
                if (error != null) throw error;
                return last;
            }
            Thread.sleep(200);
        }
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    // ---------------------------------------------------------------------------------------------
    // Records (the contract's deterministic keys and values) and digests

    static byte[] key(int i) {
        return String.format("k%08d", i).getBytes(StandardCharsets.US_ASCII);
    }

    /** value(i): "v%08d" right-padded with '.' to size bytes (no padding when size is smaller). */
    static byte[] value(int i, int size) {
        StringBuilder s = new StringBuilder(String.format("v%08d", i));
        while (s.length() < size) s.append('.');
        return s.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** The i of a value(i), or -1 if the value is not one of ours. */
    static int indexOf(byte[] v) {
        try {
            return Integer.parseInt(new String(v, 1, 8, StandardCharsets.US_ASCII));
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** Lowercase hex SHA-256 over the values sorted bytewise ascending, each followed by '\n'. */
    static String sha256(Collection<byte[]> values) throws Exception {
        List<byte[]> sorted = new ArrayList<>(values);
        sorted.sort(java.util.Arrays::compareUnsigned);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (byte[] v : sorted) {
            md.update(v);
            md.update((byte) '\n');
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : md.digest()) hex.append(String.format("%02x", b));
        return hex.toString();
    }

    /** The values a consumer received: distinct ones, and how many extra copies came. */
    static final class Seen {
        final Map<String, byte[]> distinct = new HashMap<>();
        int total;

        void add(byte[] v) {
            total++;
            distinct.putIfAbsent(new String(v, StandardCharsets.ISO_8859_1), v);
        }

        int count() {
            return distinct.size();
        }

        int duplicates() {
            return total - distinct.size();
        }

        String sha256() throws Exception {
            return Driver.sha256(distinct.values());
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Client configurations: the driver's settings, then every -X on top

    static Properties common(String role) {
        Properties p = new Properties();
        p.put("bootstrap.servers", args.required("bootstrap"));
        p.put("client.id", "java-driver-" + args.command + "-" + role);
        return p;
    }

    static Properties withX(Properties p) {
        p.putAll(args.x);
        return p;
    }

    static Admin admin() {
        Properties p = common("admin");
        p.put("request.timeout.ms", String.valueOf(Math.max(1000, Math.min(30000, remainingMs()))));
        p.put("default.api.timeout.ms", String.valueOf(remainingMs() + 2000));
        return Admin.create(withX(p));
    }

    static Properties producerProps() {
        Properties p = common("producer");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("max.block.ms", String.valueOf(remainingMs() + 2000));
        return p;
    }

    static Properties consumerProps(String group) {
        Properties p = common("consumer");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        if (group != null) p.put("group.id", group);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("allow.auto.create.topics", "false");
        p.put("default.api.timeout.ms", String.valueOf(remainingMs() + 2000));
        return p;
    }

    static KafkaConsumer<byte[], byte[]> consumer(Properties p) {
        return new KafkaConsumer<>(withX(p));
    }

    static KafkaProducer<byte[], byte[]> producer(Properties p) {
        return new KafkaProducer<>(withX(p));
    }

    /** Creates topic unless it exists, then waits until every partition has a leader. */
    static void ensureTopic(Admin a, String topic, int partitions, int replication, Map<String, String> configs)
            throws Exception {
        phase("create topic " + topic);
        try {
            get(a.createTopics(List.of(new NewTopic(topic, partitions, (short) replication).configs(configs))).all());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e;
            log("topic " + topic + " exists already");
        }
        phase("wait for leaders of " + topic);
        until(30000, () -> describe(a, topic),
                d -> d.partitions().stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
    }

    static TopicDescription describe(Admin a, String topic) throws Exception {
        return get(a.describeTopics(List.of(topic)).topicNameValues().get(topic));
    }

    static Map<String, Object> node(Node n) {
        return obj("id", n.id(), "host", n.host(), "port", n.port());
    }

    // ---------------------------------------------------------------------------------------------
    // Commands

    /** cluster [--topic T]: the cluster as the Java client sees it. Proves DescribeCluster (Admin
     * sends it in Kafka 4) and, with --topic, the Metadata a consumer gets: brokers and leaders with
     * the host and port the client would connect to (through the proxy: the proxy's). */
    static Map<String, Object> cluster() throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        try (Admin a = admin()) {
            phase("describeCluster");
            DescribeClusterResult r = a.describeCluster();
            out.put("cluster_id", get(r.clusterId()));
            Node controller = get(r.controller());
            out.put("controller_id", controller == null ? -1 : controller.id());
            List<Node> nodes = new ArrayList<>(get(r.nodes()));
            nodes.sort((x, y) -> Integer.compare(x.id(), y.id()));
            List<Object> brokers = new ArrayList<>();
            for (Node n : nodes) brokers.add(node(n));
            out.put("brokers", brokers);
        }
        String topic = args.opt("topic");
        if (topic != null) {
            phase("partitionsFor " + topic);
            try (KafkaConsumer<byte[], byte[]> c = consumer(consumerProps(null))) {
                // Retry briefly while a new topic's leaders are still being elected.
                List<PartitionInfo> parts = until(10000, () -> c.partitionsFor(topic, Duration.ofMillis(remainingMs() + 2000)),
                        ps -> ps != null && !ps.isEmpty() && ps.stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
                List<PartitionInfo> sorted = new ArrayList<>(parts == null ? List.of() : parts);
                sorted.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
                List<Object> leaders = new ArrayList<>();
                for (PartitionInfo pi : sorted) {
                    Node l = pi.leader();
                    boolean known = l != null && !l.isEmpty();
                    leaders.add(obj("partition", pi.partition(), "leader", known ? l.id() : -1,
                            "host", known ? l.host() : "", "port", known ? l.port() : -1));
                }
                out.put("leaders", leaders);
                c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            }
        }
        return out;
    }

    /** coordinator --group G | --transactional-id X [--topic T]: makes the group (or transactional
     * id) exist, then asks Admin for its coordinator. Proves FindCoordinator (group and transaction
     * keys) and the coordinator's address as the client sees it. Output: {"coordinator": {id, host,
     * port}} for the group; for the transactional id alone also "coordinator" (the id from
     * describeTransactions, host/port looked up in describeCluster); with both, the transaction's is
     * "transaction_coordinator". */
    static Map<String, Object> coordinator() throws Exception {
        String group = args.opt("group");
        String txid = args.opt("transactional-id");
        if (group == null && txid == null) throw new IllegalArgumentException("coordinator needs --group or --transactional-id");
        String topic = args.str("topic", "java-driver-coordinator");
        Map<String, Object> out = new LinkedHashMap<>();
        try (Admin a = admin()) {
            ensureTopic(a, topic, args.integer("partitions", 1), args.integer("replication", 1), Map.of());
            if (group != null) {
                phase("coordinator: join group " + group);
                try (KafkaConsumer<byte[], byte[]> c = consumer(consumerProps(group))) {
                    c.subscribe(List.of(topic));
                    while (c.assignment().isEmpty()) c.poll(Duration.ofMillis(200));
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (TopicPartition tp : c.assignment()) offsets.put(tp, new OffsetAndMetadata(c.position(tp)));
                    phase("coordinator: commit for " + group);
                    c.commitSync(offsets, Duration.ofMillis(remainingMs() + 2000));
                    c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
                }
                phase("coordinator: describeConsumerGroups " + group);
                ConsumerGroupDescription d = get(a.describeConsumerGroups(List.of(group)).describedGroups().get(group));
                out.put("coordinator", node(d.coordinator()));
            }
            if (txid != null) {
                phase("coordinator: transaction " + txid);
                Properties p = producerProps();
                p.put("transactional.id", txid);
                p.put("enable.idempotence", "true");
                p.put("acks", "all");
                try (KafkaProducer<byte[], byte[]> pr = producer(p)) {
                    pr.initTransactions();
                    pr.beginTransaction();
                    pr.send(new ProducerRecord<>(topic, key(0), value(0, args.integer("size", 100))));
                    pr.commitTransaction();
                    pr.close(Duration.ofSeconds(5));
                }
                phase("coordinator: describeTransactions " + txid);
                TransactionDescription td = get(a.describeTransactions(List.of(txid)).description(txid));
                int id = td.coordinatorId();
                Map<String, Object> c = obj("id", id, "host", "", "port", -1);
                for (Node n : get(a.describeCluster().nodes())) if (n.id() == id) c = node(n);
                out.put(group == null ? "coordinator" : "transaction_coordinator", c);
            }
        }
        return out;
    }

    /** produce --topic T --count N [--size B] [--compression C] [--partitions P] [--replication R]
     * [--acks all|1|0] [--idempotent] [--linger-ms M]: creates T if missing and produces N records,
     * waiting for every delivery report. Proves Produce (every compression codec, acks levels,
     * idempotent InitProducerId) and Metadata leader routing. */
    static Map<String, Object> produce() throws Exception {
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        int size = args.integer("size", 100);
        try (Admin a = admin()) {
            ensureTopic(a, topic, args.integer("partitions", 3), args.integer("replication", 1), Map.of());
        }
        boolean idempotent = args.flag("idempotent");
        int linger = args.integer("linger-ms", 5);
        Properties p = producerProps();
        p.put("acks", args.str("acks", "all"));
        p.put("enable.idempotence", String.valueOf(idempotent));
        p.put("compression.type", args.str("compression", "none"));
        p.put("linger.ms", String.valueOf(linger));
        // Deliveries time out a little before the deadline, so failures show up as "errors".
        long delivery = Math.max(remainingMs() - 3000, 2000 + linger);
        p.put("delivery.timeout.ms", String.valueOf(delivery));
        p.put("request.timeout.ms", String.valueOf(Math.max(1000, Math.min(30000, (delivery - linger) / 2))));
        AtomicInteger acked = new AtomicInteger();
        Set<String> errors = ConcurrentHashMap.newKeySet();
        List<byte[]> sent = new ArrayList<>();
        phase("produce: send " + count + " records");
        try (KafkaProducer<byte[], byte[]> pr = producer(p)) {
            for (int i = 0; i < count; i++) {
                byte[] v = value(i, size);
                sent.add(v);
                pr.send(new ProducerRecord<>(topic, key(i), v), (md, e) -> {
                    if (e == null) acked.incrementAndGet();
                    else errors.add(e.getClass().getSimpleName());
                });
            }
            phase("produce: flush");
            pr.flush();
            pr.close(Duration.ofSeconds(5));
        }
        return obj("sent", count, "acked", acked.get(), "sha256", sha256(sent), "errors", new TreeSet<>(errors));
    }

    /** consume --topic T --count N [--group G] [--group-protocol classic|consumer] [--isolation L]:
     * a subscribed group member reads N records (then 1 s more, to count duplicates), commits, and
     * reads the committed offsets back with Admin. Proves the group protocol (JoinGroup/SyncGroup/
     * Heartbeat, or KIP-848 ConsumerGroupHeartbeat), Fetch, OffsetCommit and OffsetFetch. */
    static Map<String, Object> consume() throws Exception {
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        String group = args.str("group", "java-driver-" + UUID.randomUUID());
        Properties p = consumerProps(group);
        p.put("group.protocol", args.str("group-protocol", "classic"));
        p.put("isolation.level", args.str("isolation", "read_uncommitted"));
        Seen seen = new Seen();
        // Stop reading early enough to still commit and read offsets back before the deadline.
        long reserveMs = Math.min(10000, (long) (timeoutSecs * 250));
        try (KafkaConsumer<byte[], byte[]> c = consumer(p)) {
            phase("consume: subscribe " + topic + " as " + group);
            c.subscribe(List.of(topic));
            long extraUntil = -1;
            while (remainingMs() > reserveMs) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) seen.add(r.value());
                if (seen.count() >= count && extraUntil < 0) {
                    phase("consume: " + seen.count() + " records; 1 s more for duplicates");
                    extraUntil = System.nanoTime() + 1_000_000_000L;
                }
                if (extraUntil >= 0 && System.nanoTime() >= extraUntil) break;
            }
            phase("consume: commitSync after " + seen.count() + " records");
            c.commitSync(Duration.ofMillis(remainingMs() + 2000));
            phase("consume: close");
            c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
        Map<String, Object> committed = new TreeMap<>();
        try (Admin a = admin()) {
            phase("consume: listConsumerGroupOffsets " + group);
            Map<TopicPartition, OffsetAndMetadata> offs =
                    get(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet()) {
                if (e.getKey().topic().equals(topic) && e.getValue() != null) {
                    committed.put(String.valueOf(e.getKey().partition()), e.getValue().offset());
                }
            }
        }
        return obj("count", seen.count(), "sha256", seen.sha256(), "duplicates", seen.duplicates(), "committed", committed);
    }

    /** transactions --topic T --count K [--partitions P] [--replication R] [--size B]: one
     * transactional producer commits K records and aborts K more; then read_committed and
     * read_uncommitted readers read the whole topic. Proves InitProducerId with a transactional id,
     * AddPartitionsToTxn, EndTxn, the transaction markers and the last stable offset in Fetch and
     * ListOffsets (read_committed sees exactly the committed K). */
    static Map<String, Object> transactions() throws Exception {
        String topic = args.required("topic");
        int k = args.integer("count", 100);
        int size = args.integer("size", 100);
        List<TopicPartition> tps = new ArrayList<>();
        try (Admin a = admin()) {
            ensureTopic(a, topic, args.integer("partitions", 1), args.integer("replication", 1), Map.of());
            for (TopicPartitionInfo pi : describe(a, topic).partitions()) tps.add(new TopicPartition(topic, pi.partition()));

            Properties p = producerProps();
            p.put("transactional.id", "java-driver-tx-" + UUID.randomUUID());
            p.put("enable.idempotence", "true");
            p.put("acks", "all");
            try (KafkaProducer<byte[], byte[]> pr = producer(p)) {
                phase("transactions: initTransactions");
                pr.initTransactions();
                phase("transactions: commit " + k + " records");
                pr.beginTransaction();
                for (int i = 0; i < k; i++) pr.send(new ProducerRecord<>(topic, key(i), value(i, size)));
                pr.commitTransaction();
                phase("transactions: abort " + k + " records");
                pr.beginTransaction();
                for (int i = k; i < 2 * k; i++) pr.send(new ProducerRecord<>(topic, key(i), value(i, size)));
                pr.flush();
                pr.abortTransaction();
                pr.close(Duration.ofSeconds(5));
            }

            // EndTxn returns before the coordinator has written the markers: wait until the last
            // stable offset (read_committed) has caught up with the high watermark everywhere.
            phase("transactions: wait for the markers (LSO == high watermark)");
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (TopicPartition tp : tps) latest.put(tp, OffsetSpec.latest());
            until(30000, () -> {
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> hw = get(a.listOffsets(latest).all());
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> lso =
                        get(a.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all());
                for (TopicPartition tp : tps) if (hw.get(tp).offset() != lso.get(tp).offset()) return false;
                return true;
            }, done -> done);
        }

        Seen committed = readAll(tps, "read_committed");
        Seen uncommitted = readAll(tps, "read_uncommitted");
        int committedSeen = 0, abortedSeen = 0;
        for (byte[] v : committed.distinct.values()) {
            int i = indexOf(v);
            if (i >= 0 && i < k) committedSeen++;
            else abortedSeen++;
        }
        return obj("committed", k, "committed_seen", committedSeen, "aborted_seen", abortedSeen,
                "sha256", committed.sha256(), "uncommitted_seen", uncommitted.total);
    }

    /** Reads the partitions from the beginning to their end offsets (for read_committed: the last
     * stable offset), without a group. */
    static Seen readAll(List<TopicPartition> tps, String isolation) {
        phase("read " + tps + " " + isolation);
        Properties p = consumerProps(null);
        p.put("isolation.level", isolation);
        Seen seen = new Seen();
        try (KafkaConsumer<byte[], byte[]> c = consumer(p)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofMillis(remainingMs() + 2000));
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) if (c.position(tp) < end.get(tp)) done = false;
                if (done) break;
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) seen.add(r.value());
            }
            c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
        return seen;
    }

    /** share-consume --topic T --count N [--group G]: a KIP-932 share group member reads N records,
     * acknowledging each one explicitly (ACCEPT) and committing the acknowledgements. Proves
     * ShareGroupHeartbeat, ShareFetch, ShareAcknowledge and the GROUP config resource
     * (share.auto.offset.reset=earliest set through IncrementalAlterConfigs before the first poll). */
    static Map<String, Object> shareConsume() throws Exception {
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        String group = args.str("group", "java-driver-share-" + UUID.randomUUID());
        try (Admin a = admin()) {
            phase("share-consume: set share.auto.offset.reset=earliest on group " + group);
            ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
            get(a.incrementalAlterConfigs(Map.of(res, List.of(op))).all());
        }
        Properties p = common("share-consumer");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", "explicit");
        p.put("default.api.timeout.ms", String.valueOf(remainingMs() + 2000));
        withX(p);
        // The share consumer refuses some consumer-group settings (group.protocol, auto.offset.reset,
        // isolation.level ...) that -X may carry for the other clients: drop those.
        for (String k : shareUnsupportedConfigs()) {
            if (p.remove(k) != null) log("share consumer: dropped unsupported -X " + k);
        }
        Seen seen = new Seen();
        int acknowledged = 0;
        long reserveMs = Math.min(10000, (long) (timeoutSecs * 250));
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p)) {
            phase("share-consume: subscribe " + topic + " as " + group);
            c.subscribe(List.of(topic));
            long extraUntil = -1;
            while (remainingMs() > reserveMs) {
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(200));
                Map<String, Integer> pending = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    seen.add(r.value());
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                    pending.merge(r.topic() + "-" + r.partition(), 1, Integer::sum);
                }
                if (!pending.isEmpty()) {
                    Map<TopicIdPartition, Optional<KafkaException>> result = c.commitSync(Duration.ofMillis(remainingMs() + 2000));
                    for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : result.entrySet()) {
                        Integer n = pending.get(e.getKey().topic() + "-" + e.getKey().partition());
                        if (n == null) continue;
                        if (e.getValue().isEmpty()) acknowledged += n;
                        else log("share-consume: commit failed for " + e.getKey() + ": " + e.getValue().get());
                    }
                }
                if (seen.count() >= count && extraUntil < 0) {
                    phase("share-consume: " + seen.count() + " records; 1 s more for duplicates");
                    extraUntil = System.nanoTime() + 1_000_000_000L;
                }
                if (extraUntil >= 0 && System.nanoTime() >= extraUntil) break;
            }
            phase("share-consume: close");
            c.close(Duration.ofSeconds(5));
        }
        return obj("count", seen.count(), "sha256", seen.sha256(), "duplicates", seen.duplicates(), "acknowledged", acknowledged);
    }

    /** The configurations KafkaShareConsumer rejects, read from kafka-clients itself. */
    @SuppressWarnings("unchecked")
    static List<String> shareUnsupportedConfigs() {
        try {
            java.lang.reflect.Field f = Class.forName("org.apache.kafka.clients.consumer.ShareConsumerConfig")
                    .getDeclaredField("SHARE_GROUP_UNSUPPORTED_CONFIGS");
            f.setAccessible(true);
            return (List<String>) f.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return List.of("auto.offset.reset", "enable.auto.commit", "group.instance.id", "isolation.level",
                    "partition.assignment.strategy", "interceptor.classes", "session.timeout.ms",
                    "heartbeat.interval.ms", "group.protocol", "group.remote.assignor");
        }
    }

    /** produce-loop --topic T --count N [--interval-ms M] [--partitions P] [--replication R]
     * [--size B]: a steady acks=all idempotent producer (one record every M ms) that must survive
     * broker restarts and leader moves with nothing lost: acked == sent, no errors. retriable_seen
     * names the retriable errors the producer met on the way (from callbacks and from the producer's
     * own WARN log lines, e.g. NotLeaderOrFollowerException, NetworkException). */
    static Map<String, Object> produceLoop() throws Exception {
        String topic = args.required("topic");
        int count = args.integer("count", 1000);
        int interval = args.integer("interval-ms", 5);
        int size = args.integer("size", 100);
        int replication = args.integer("replication", 3);
        try (Admin a = admin()) {
            ensureTopic(a, topic, args.integer("partitions", 3), replication,
                    Map.of("min.insync.replicas", String.valueOf(Math.min(2, replication))));
        }
        Set<String> retriable = Logs.captureRetriable();
        Properties p = producerProps();
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("retries", String.valueOf(Integer.MAX_VALUE));
        p.put("delivery.timeout.ms", "120000");
        p.put("request.timeout.ms", "10000");
        AtomicInteger acked = new AtomicInteger();
        Set<String> errors = ConcurrentHashMap.newKeySet();
        Map<Integer, byte[]> ackedValues = new ConcurrentHashMap<>();
        phase("produce-loop: send " + count + " records, one every " + interval + " ms");
        try (KafkaProducer<byte[], byte[]> pr = producer(p)) {
            for (int i = 0; i < count; i++) {
                final int n = i;
                byte[] v = value(i, size);
                pr.send(new ProducerRecord<>(topic, key(i), v), (md, e) -> {
                    if (e == null) {
                        ackedValues.put(n, v);
                        int a = acked.incrementAndGet();
                        if (a % 100 == 0) System.err.println("progress acked=" + a);
                    } else {
                        errors.add(e.getClass().getSimpleName());
                        if (e instanceof RetriableException) retriable.add(e.getClass().getSimpleName());
                    }
                });
                if (interval > 0) Thread.sleep(interval);
            }
            phase("produce-loop: flush (" + acked.get() + " acked so far)");
            pr.flush();
            pr.close(Duration.ofSeconds(5));
        }
        return obj("sent", count, "acked", acked.get(), "sha256", sha256(ackedValues.values()),
                "errors", new TreeSet<>(errors), "retriable_seen", new TreeSet<>(retriable));
    }

    /** admin --topic T: a fixed sequence of topic administration, each step's observable result:
     * CreateTopics (with a config), DescribeTopics (Metadata), DescribeConfigs,
     * IncrementalAlterConfigs, ListTopics, CreatePartitions, DeleteTopics. Proves the admin APIs
     * pass through (routed to the controller-facing broker the client picks) with the same results. */
    static Map<String, Object> adminSequence() throws Exception {
        String topic = args.required("topic");
        List<Object> steps = new ArrayList<>();
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin a = admin()) {
            phase("admin: createTopics " + topic);
            get(a.createTopics(List.of(new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "3600000")))).all());
            steps.add(obj("step", "create_topics", "partitions", 2, "replication", 1, "retention.ms", "3600000"));

            steps.add(describeStep(a, topic, 2));
            steps.add(configStep(a, res, "3600000"));

            phase("admin: incrementalAlterConfigs retention.ms=7200000");
            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET);
            get(a.incrementalAlterConfigs(Map.of(res, List.of(op))).all());
            steps.add(obj("step", "incremental_alter_configs", "retention.ms", "7200000"));
            steps.add(configStep(a, res, "7200000"));

            steps.add(listStep(a, topic, true));

            phase("admin: createPartitions to 3");
            get(a.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all());
            steps.add(obj("step", "create_partitions", "total", 3));
            steps.add(describeStep(a, topic, 3));

            phase("admin: deleteTopics " + topic);
            get(a.deleteTopics(List.of(topic)).all());
            steps.add(obj("step", "delete_topics", "topic", topic));
            steps.add(listStep(a, topic, false));
        }
        return obj("steps", steps);
    }

    static Map<String, Object> describeStep(Admin a, String topic, int partitions) throws Exception {
        phase("admin: describeTopics " + topic + " (want " + partitions + " partitions)");
        TopicDescription d = until(10000, () -> describe(a, topic), x -> x.partitions().size() == partitions
                && x.partitions().stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
        List<TopicPartitionInfo> ps = new ArrayList<>(d.partitions());
        ps.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
        List<Object> replicas = new ArrayList<>();
        boolean leaders = true;
        for (TopicPartitionInfo pi : ps) {
            replicas.add(pi.replicas().size());
            leaders &= pi.leader() != null && !pi.leader().isEmpty();
        }
        return obj("step", "describe_topics", "partitions", ps.size(), "replicas", replicas,
                "internal", d.isInternal(), "all_have_leaders", leaders);
    }

    static Map<String, Object> configStep(Admin a, ConfigResource res, String want) throws Exception {
        phase("admin: describeConfigs " + res.name() + " (want retention.ms=" + want + ")");
        // Another broker may answer before the change reached it: retry briefly.
        ConfigEntry e = until(10000, () -> {
            Config c = get(a.describeConfigs(List.of(res)).all()).get(res);
            return c.get("retention.ms");
        }, x -> x != null && want.equals(x.value()));
        return obj("step", "describe_configs", "retention.ms", e == null ? null : e.value(),
                "source", e == null ? null : e.source().name());
    }

    static Map<String, Object> listStep(Admin a, String topic, boolean want) throws Exception {
        phase("admin: listTopics (want " + topic + (want ? "" : " gone") + ")");
        Set<String> names = until(10000, () -> get(a.listTopics().names()), n -> n.contains(topic) == want);
        return obj("step", "list_topics", "contains", names.contains(topic));
    }

    /** move-leader --topic T --partition P --to ID: makes broker ID the leader of T-P (run directly
     * against the cluster, to move leaders under a client that talks through the proxy): reorders
     * the replicas so ID is first (adding it if it is not a replica, through
     * AlterPartitionReassignments, waiting for the reassignment to finish), runs a preferred leader
     * election and waits until DescribeTopics shows ID as leader. */
    static Map<String, Object> moveLeader() throws Exception {
        String topic = args.required("topic");
        int partition = args.integer("partition", 0);
        int to = Integer.parseInt(args.required("to"));
        TopicPartition tp = new TopicPartition(topic, partition);
        try (Admin a = admin()) {
            phase("move-leader: describe " + tp);
            List<Integer> replicas = replicasOf(describe(a, topic), partition);
            List<Integer> target = new ArrayList<>();
            target.add(to);
            for (int r : replicas) if (r != to) target.add(r);
            log("replicas " + replicas + " -> " + target);
            if (!target.equals(replicas)) {
                phase("move-leader: reassign " + tp + " to " + target);
                get(a.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(target)))).all());
                phase("move-leader: wait for the reassignment of " + tp);
                until(remainingMs(), () -> {
                    Map<TopicPartition, PartitionReassignment> ongoing =
                            get(a.listPartitionReassignments(Set.of(tp)).reassignments());
                    return !ongoing.containsKey(tp) && replicasOf(describe(a, topic), partition).equals(target);
                }, done -> done);
            }
            phase("move-leader: preferred election of " + tp + " (want leader " + to + ")");
            until(remainingMs(), () -> {
                Optional<Throwable> err = get(a.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions()).get(tp);
                if (err != null && err.isPresent() && !(err.get() instanceof ElectionNotNeededException)) {
                    log("election: " + err.get());
                }
                Node leader = partitionOf(describe(a, topic), partition).leader();
                return leader != null && leader.id() == to;
            }, done -> done);
            TopicPartitionInfo pi = partitionOf(describe(a, topic), partition);
            if (pi.leader() == null || pi.leader().id() != to) {
                throw new IllegalStateException("leader of " + tp + " is " + pi.leader() + ", not " + to);
            }
            return obj("leader", pi.leader().id(), "replicas", replicasOf(describe(a, topic), partition));
        }
    }

    static TopicPartitionInfo partitionOf(TopicDescription d, int partition) {
        for (TopicPartitionInfo pi : d.partitions()) if (pi.partition() == partition) return pi;
        throw new IllegalArgumentException(d.name() + " has no partition " + partition);
    }

    static List<Integer> replicasOf(TopicDescription d, int partition) {
        List<Integer> ids = new ArrayList<>();
        for (Node n : partitionOf(d, partition).replicas()) ids.add(n.id());
        return ids;
    }

    /** scram-user --user U --password P [--mechanism SCRAM-SHA-256|SCRAM-SHA-512] [--iterations
     * 4096]: upserts a SCRAM credential and waits until DescribeUserScramCredentials shows it.
     * Proves AlterUserScramCredentials (forwarded to the controller) and its describe; tests use it
     * to create the SASL/SCRAM users they then log in with. */
    static Map<String, Object> scramUser() throws Exception {
        String user = args.required("user");
        String password = args.required("password");
        String mechName = args.str("mechanism", "SCRAM-SHA-256");
        int iterations = args.integer("iterations", 4096);
        ScramMechanism mech = ScramMechanism.fromMechanismName(mechName);
        if (mech == ScramMechanism.UNKNOWN) throw new IllegalArgumentException("unknown SCRAM mechanism " + mechName);
        try (Admin a = admin()) {
            phase("scram-user: alterUserScramCredentials " + user + " " + mechName);
            get(a.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion(user, new ScramCredentialInfo(mech, iterations), password))).all());
            phase("scram-user: describeUserScramCredentials " + user);
            UserScramCredentialsDescription d = until(10000, () -> {
                try {
                    return get(a.describeUserScramCredentials(List.of(user)).description(user));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof ResourceNotFoundException) return null; // not there yet
                    throw e;
                }
            }, x -> x != null && x.credentialInfos().stream().anyMatch(ci -> ci.mechanism() == mech && ci.iterations() == iterations));
            List<Map<String, Object>> mechs = new ArrayList<>();
            if (d != null) {
                for (ScramCredentialInfo ci : d.credentialInfos()) {
                    mechs.add(obj("mechanism", ci.mechanism().mechanismName(), "iterations", ci.iterations()));
                }
            }
            mechs.sort((x, y) -> ((String) x.get("mechanism")).compareTo((String) y.get("mechanism")));
            return obj("user", user, "mechanisms", mechs);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Command line: COMMAND, then --name value (or --name=value), flags, and repeatable -X key=value

    static final class Args {
        static final Set<String> FLAGS = Set.of("idempotent");
        static final Set<String> OPTIONS = Set.of("bootstrap", "timeout", "topic", "count", "size", "compression",
                "partitions", "replication", "acks", "idempotent", "linger-ms", "group", "group-protocol",
                "isolation", "transactional-id", "interval-ms", "partition", "to", "user", "password",
                "mechanism", "iterations");

        String command;
        final Map<String, String> opts = new HashMap<>();
        final Properties x = new Properties();

        static Args parse(String[] argv) {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String s = argv[i];
                if (s.equals("-X")) {
                    if (++i >= argv.length) throw new IllegalArgumentException("-X needs key=value");
                    a.addX(argv[i]);
                } else if (s.startsWith("-X") && s.length() > 2) {
                    a.addX(s.substring(2));
                } else if (s.startsWith("--")) {
                    String name = s.substring(2), val;
                    int eq = name.indexOf('=');
                    if (eq >= 0) {
                        val = name.substring(eq + 1);
                        name = name.substring(0, eq);
                    } else if (FLAGS.contains(name)) {
                        val = "true";
                    } else {
                        if (++i >= argv.length) throw new IllegalArgumentException("--" + name + " needs a value");
                        val = argv[i];
                    }
                    if (!OPTIONS.contains(name)) throw new IllegalArgumentException("unknown option --" + name);
                    a.opts.put(name, val);
                } else if (a.command == null) {
                    a.command = s;
                } else {
                    throw new IllegalArgumentException("unexpected argument '" + s + "'");
                }
            }
            if (a.command == null) throw new IllegalArgumentException("usage: Driver COMMAND --bootstrap HOST:PORT [options]");
            a.required("bootstrap");
            return a;
        }

        void addX(String kv) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("-X needs key=value, got '" + kv + "'");
            x.put(kv.substring(0, eq), kv.substring(eq + 1));
        }

        String opt(String name) {
            return opts.get(name);
        }

        String str(String name, String def) {
            return opts.getOrDefault(name, def);
        }

        String required(String name) {
            String v = opts.get(name);
            if (v == null) throw new IllegalArgumentException(command + " needs --" + name);
            return v;
        }

        int integer(String name, int def) {
            String v = opts.get(name);
            return v == null ? def : Integer.parseInt(v);
        }

        double dbl(String name, double def) {
            String v = opts.get(name);
            return v == null ? def : Double.parseDouble(v);
        }

        boolean flag(String name) {
            String v = opts.get(name);
            return v != null && !v.equals("false");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // JSON output (objects with sorted keys, arrays, strings, numbers, booleans, null)

    static final class Json {
        static String write(Object o) {
            StringBuilder sb = new StringBuilder();
            value(sb, o);
            return sb.toString();
        }

        static void value(StringBuilder sb, Object o) {
            if (o == null) {
                sb.append("null");
            } else if (o instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : new TreeMap<>((Map<?, ?>) o).entrySet()) {
                    if (!first) sb.append(", ");
                    first = false;
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(": ");
                    value(sb, e.getValue());
                }
                sb.append('}');
            } else if (o instanceof Collection) {
                sb.append('[');
                boolean first = true;
                for (Object e : (Collection<?>) o) {
                    if (!first) sb.append(", ");
                    first = false;
                    value(sb, e);
                }
                sb.append(']');
            } else if (o instanceof Number || o instanceof Boolean) {
                sb.append(o);
            } else {
                string(sb, o.toString());
            }
        }

        static void string(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
                        else sb.append(c);
                }
            }
            sb.append('"');
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Logging: log4j2 (Kafka's) configured in code, WARN and above to stderr, so stdout carries
    // only the JSON line. JAVA_DRIVER_LOG_LEVEL=INFO (or DEBUG) shows more.

    static final class Logs {
        static org.apache.logging.log4j.core.LoggerContext context;

        static void init() {
            org.apache.logging.log4j.Level level =
                    org.apache.logging.log4j.Level.toLevel(System.getenv("JAVA_DRIVER_LOG_LEVEL"), org.apache.logging.log4j.Level.WARN);
            var b = org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory.newConfigurationBuilder();
            b.setStatusLevel(org.apache.logging.log4j.Level.ERROR);
            b.setConfigurationName("java-driver");
            b.add(b.newAppender("stderr", "Console")
                    .addAttribute("target", org.apache.logging.log4j.core.appender.ConsoleAppender.Target.SYSTEM_ERR)
                    .add(b.newLayout("PatternLayout").addAttribute("pattern", "%d{HH:mm:ss.SSS} %-5level %c{1} - %msg%n%throwable")));
            b.add(b.newRootLogger(level).add(b.newAppenderRef("stderr")));
            context = org.apache.logging.log4j.core.config.Configurator.initialize(b.build());
        }

        static final Pattern ERROR_NAME = Pattern.compile("Error: ([A-Z][A-Z_]+)");
        static final Pattern EXCEPTION_NAME = Pattern.compile("\\b([A-Z][A-Za-z]*Exception)\\b");

        /** Starts collecting the simple class names of retriable Kafka errors that client log lines
         * (WARN and above) mention, e.g. the producer's "Got error produce response ... retrying
         * ... Error: NOT_LEADER_OR_FOLLOWER"; returns the live set. */
        static Set<String> captureRetriable() {
            Set<String> seen = ConcurrentHashMap.newKeySet();
            var appender = new org.apache.logging.log4j.core.appender.AbstractAppender("retriable", null, null, true,
                    org.apache.logging.log4j.core.config.Property.EMPTY_ARRAY) {
                @Override
                public void append(org.apache.logging.log4j.core.LogEvent event) {
                    String msg = event.getMessage().getFormattedMessage();
                    Matcher m = ERROR_NAME.matcher(msg);
                    while (m.find()) {
                        try {
                            Throwable ex = Errors.valueOf(m.group(1)).exception();
                            if (ex instanceof RetriableException) seen.add(ex.getClass().getSimpleName());
                        } catch (IllegalArgumentException notAnError) {
                            // some other capitalised word
                        }
                    }
                    StringBuilder text = new StringBuilder(msg);
                    for (Throwable t = event.getThrown(); t != null; t = t.getCause()) text.append(' ').append(t.getClass().getName());
                    m = EXCEPTION_NAME.matcher(text);
                    while (m.find()) {
                        try {
                            Class<?> c = Class.forName("org.apache.kafka.common.errors." + m.group(1));
                            if (RetriableException.class.isAssignableFrom(c)) seen.add(c.getSimpleName());
                        } catch (ClassNotFoundException notKafka) {
                            // not one of Kafka's error classes
                        }
                    }
                }
            };
            appender.start();
            var config = context.getConfiguration();
            config.addAppender(appender);
            config.getRootLogger().addAppender(appender, org.apache.logging.log4j.Level.WARN, null);
            context.updateLoggers();
            return seen;
        }
    }
}
