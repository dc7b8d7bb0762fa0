// The Java driver's commands that look at the cluster and administer topics: cluster, coordinator,
// admin. See Driver.java.

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;

final class ClusterCommands {

    /** cluster [--topic T]: the cluster as the Java client sees it. Proves DescribeCluster (Admin
     * sends it in Kafka 4) and, with --topic, the Metadata a consumer gets: brokers and leaders with
     * the host and port the client would connect to (through the proxy: the proxy's). */
    static Map<String, Object> cluster() throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        try (Admin a = Clients.admin()) {
            Driver.phase("describeCluster");
            DescribeClusterResult r = a.describeCluster();
            out.put("cluster_id", Driver.get(r.clusterId()));
            Node controller = Driver.get(r.controller());
            out.put("controller_id", controller == null ? -1 : controller.id());
            List<Node> nodes = new ArrayList<>(Driver.get(r.nodes()));
            nodes.sort((x, y) -> Integer.compare(x.id(), y.id()));
            List<Object> brokers = new ArrayList<>();
            for (Node n : nodes) brokers.add(Clients.node(n));
            out.put("brokers", brokers);
        }
        String topic = Driver.args.opt("topic");
        if (topic != null) {
            Driver.phase("partitionsFor " + topic);
            try (KafkaConsumer<byte[], byte[]> c = Clients.consumer(Clients.consumerProps(null))) {
                // Retry briefly while a new topic's leaders are still being elected.
                List<PartitionInfo> parts = Driver.until(10000,
                        () -> c.partitionsFor(topic, Duration.ofMillis(Driver.remainingMs() + 2000)),
                        ps -> ps != null && !ps.isEmpty() && ps.stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
                List<PartitionInfo> sorted = new ArrayList<>(parts == null ? List.of() : parts);
                sorted.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
                List<Object> leaders = new ArrayList<>();
                for (PartitionInfo pi : sorted) {
                    Node l = pi.leader();
                    boolean known = l != null && !l.isEmpty();
                    leaders.add(Json.obj("partition", pi.partition(), "leader", known ? l.id() : -1,
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
        Args args = Driver.args;
        String group = args.opt("group");
        String txid = args.opt("transactional-id");
        if (group == null && txid == null) throw new IllegalArgumentException("coordinator needs --group or --transactional-id");
        String topic = args.str("topic", "java-driver-coordinator");
        Map<String, Object> out = new LinkedHashMap<>();
        try (Admin a = Clients.admin()) {
            Clients.ensureTopic(a, topic, args.integer("partitions", 1), args.integer("replication", 1), Map.of());
            if (group != null) {
                Driver.phase("coordinator: join group " + group);
                try (KafkaConsumer<byte[], byte[]> c = Clients.consumer(Clients.consumerProps(group))) {
                    c.subscribe(List.of(topic));
                    while (c.assignment().isEmpty()) c.poll(Duration.ofMillis(200));
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (TopicPartition tp : c.assignment()) offsets.put(tp, new OffsetAndMetadata(c.position(tp)));
                    Driver.phase("coordinator: commit for " + group);
                    c.commitSync(offsets, Duration.ofMillis(Driver.remainingMs() + 2000));
                    c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
                }
                Driver.phase("coordinator: describeConsumerGroups " + group);
                ConsumerGroupDescription d = Driver.get(a.describeConsumerGroups(List.of(group)).describedGroups().get(group));
                out.put("coordinator", Clients.node(d.coordinator()));
            }
            if (txid != null) {
                Driver.phase("coordinator: transaction " + txid);
                Properties p = Clients.producerProps();
                p.put("transactional.id", txid);
                p.put("enable.idempotence", "true");
                p.put("acks", "all");
                try (KafkaProducer<byte[], byte[]> pr = Clients.producer(p)) {
                    pr.initTransactions();
                    pr.beginTransaction();
                    pr.send(new ProducerRecord<>(topic, Records.key(0), Records.value(0, args.integer("size", 100))));
                    pr.commitTransaction();
                    pr.close(Duration.ofSeconds(5));
                }
                Driver.phase("coordinator: describeTransactions " + txid);
                TransactionDescription td = Driver.get(a.describeTransactions(List.of(txid)).description(txid));
                int id = td.coordinatorId();
                Map<String, Object> c = Json.obj("id", id, "host", "", "port", -1);
                for (Node n : Driver.get(a.describeCluster().nodes())) if (n.id() == id) c = Clients.node(n);
                out.put(group == null ? "coordinator" : "transaction_coordinator", c);
            }
        }
        return out;
    }

    /** admin --topic T: a fixed sequence of topic administration, each step's observable result:
     * CreateTopics (with a config), DescribeTopics (Metadata), DescribeConfigs,
     * IncrementalAlterConfigs, ListTopics, CreatePartitions, DeleteTopics. Proves the admin APIs
     * pass through (routed to the controller-facing broker the client picks) with the same results. */
    static Map<String, Object> adminSequence() throws Exception {
        String topic = Driver.args.required("topic");
        List<Object> steps = new ArrayList<>();
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin a = Clients.admin()) {
            Driver.phase("admin: createTopics " + topic);
            Driver.get(a.createTopics(List.of(new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "3600000")))).all());
            steps.add(Json.obj("step", "create_topics", "partitions", 2, "replication", 1, "retention.ms", "3600000"));

            steps.add(describeStep(a, topic, 2));
            steps.add(configStep(a, res, "3600000"));

            Driver.phase("admin: incrementalAlterConfigs retention.ms=7200000");
            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET);
            Driver.get(a.incrementalAlterConfigs(Map.of(res, List.of(op))).all());
            steps.add(Json.obj("step", "incremental_alter_configs", "retention.ms", "7200000"));
            steps.add(configStep(a, res, "7200000"));

            steps.add(listStep(a, topic, true));

            Driver.phase("admin: createPartitions to 3");
            Driver.get(a.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all());
            steps.add(Json.obj("step", "create_partitions", "total", 3));
            steps.add(describeStep(a, topic, 3));

            Driver.phase("admin: deleteTopics " + topic);
            Driver.get(a.deleteTopics(List.of(topic)).all());
            steps.add(Json.obj("step", "delete_topics", "topic", topic));
            steps.add(listStep(a, topic, false));
        }
        return Json.obj("steps", steps);
    }

    static Map<String, Object> describeStep(Admin a, String topic, int partitions) throws Exception {
        Driver.phase("admin: describeTopics " + topic + " (want " + partitions + " partitions)");
        TopicDescription d = Driver.until(10000, () -> Clients.describe(a, topic), x -> x.partitions().size() == partitions
                && x.partitions().stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
        List<TopicPartitionInfo> ps = new ArrayList<>(d.partitions());
        ps.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
        List<Object> replicas = new ArrayList<>();
        boolean leaders = true;
        for (TopicPartitionInfo pi : ps) {
            replicas.add(pi.replicas().size());
            leaders &= pi.leader() != null && !pi.leader().isEmpty();
        }
        return Json.obj("step", "describe_topics", "partitions", ps.size(), "replicas", replicas,
                "internal", d.isInternal(), "all_have_leaders", leaders);
    }

    static Map<String, Object> configStep(Admin a, ConfigResource res, String want) throws Exception {
        Driver.phase("admin: describeConfigs " + res.name() + " (want retention.ms=" + want + ")");
        // Another broker may answer before the change reached it: retry briefly.
        ConfigEntry e = Driver.until(10000, () -> {
            Config c = Driver.get(a.describeConfigs(List.of(res)).all()).get(res);
            return c.get("retention.ms");
        }, x -> x != null && want.equals(x.value()));
        return Json.obj("step", "describe_configs", "retention.ms", e == null ? null : e.value(),
                "source", e == null ? null : e.source().name());
    }

    static Map<String, Object> listStep(Admin a, String topic, boolean want) throws Exception {
        Driver.phase("admin: listTopics (want " + topic + (want ? "" : " gone") + ")");
        Set<String> names = Driver.until(10000, () -> Driver.get(a.listTopics().names()), n -> n.contains(topic) == want);
        return Json.obj("step", "list_topics", "contains", names.contains(topic));
    }
}
