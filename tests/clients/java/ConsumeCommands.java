// The Java driver's group consumer commands: consume (a consumer group, classic or KIP-848) and
// share-consume (a KIP-932 share group). See Driver.java.

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

final class ConsumeCommands {

    /** consume --topic T --count N [--group G] [--group-protocol classic|consumer] [--isolation L]:
     * a subscribed group member reads N records (then 1 s more, to count duplicates), commits, and
     * reads the committed offsets back with Admin. Proves the group protocol (JoinGroup/SyncGroup/
     * Heartbeat, or KIP-848 ConsumerGroupHeartbeat), Fetch, OffsetCommit and OffsetFetch. */
    static Map<String, Object> consume() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        String group = args.str("group", "java-driver-" + UUID.randomUUID());
        Properties p = Clients.consumerProps(group);
        p.put("group.protocol", args.str("group-protocol", "classic"));
        p.put("isolation.level", args.str("isolation", "read_uncommitted"));
        Records.Seen seen = new Records.Seen();
        // Stop reading early enough to still commit and read offsets back before the deadline.
        long reserveMs = Math.min(10000, (long) (Driver.timeoutSecs * 250));
        try (KafkaConsumer<byte[], byte[]> c = Clients.consumer(p)) {
            Driver.phase("consume: subscribe " + topic + " as " + group);
            c.subscribe(List.of(topic));
            long extraUntil = -1;
            while (Driver.remainingMs() > reserveMs) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) seen.add(r.value());
                if (seen.count() >= count && extraUntil < 0) {
                    Driver.phase("consume: " + seen.count() + " records; 1 s more for duplicates");
                    extraUntil = System.nanoTime() + 1_000_000_000L;
                }
                if (extraUntil >= 0 && System.nanoTime() >= extraUntil) break;
            }
            Driver.phase("consume: commitSync after " + seen.count() + " records");
            c.commitSync(Duration.ofMillis(Driver.remainingMs() + 2000));
            Driver.phase("consume: close");
            c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
        Map<String, Object> committed = new TreeMap<>();
        try (Admin a = Clients.admin()) {
            Driver.phase("consume: listConsumerGroupOffsets " + group);
            Map<TopicPartition, OffsetAndMetadata> offs =
                    Driver.get(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet()) {
                if (e.getKey().topic().equals(topic) && e.getValue() != null) {
                    committed.put(String.valueOf(e.getKey().partition()), e.getValue().offset());
                }
            }
        }
        return Json.obj("count", seen.count(), "sha256", seen.sha256(), "duplicates", seen.duplicates(),
                "committed", committed);
    }

    /** share-consume --topic T --count N [--group G]: a KIP-932 share group member reads N records,
     * acknowledging each one explicitly (ACCEPT) and committing the acknowledgements. Proves
     * ShareGroupHeartbeat, ShareFetch, ShareAcknowledge and the GROUP config resource
     * (share.auto.offset.reset=earliest set through IncrementalAlterConfigs before the first poll). */
    static Map<String, Object> shareConsume() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        String group = args.str("group", "java-driver-share-" + UUID.randomUUID());
        try (Admin a = Clients.admin()) {
            Driver.phase("share-consume: set share.auto.offset.reset=earliest on group " + group);
            ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
            Driver.get(a.incrementalAlterConfigs(Map.of(res, List.of(op))).all());
        }
        Properties p = Clients.common("share-consumer");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", "explicit");
        p.put("default.api.timeout.ms", String.valueOf(Driver.remainingMs() + 2000));
        Clients.withX(p);
        // The share consumer refuses some consumer-group settings (group.protocol, auto.offset.reset,
        // isolation.level ...) that -X may carry for the other clients: drop those.
        for (String k : shareUnsupportedConfigs()) {
            if (p.remove(k) != null) Driver.log("share consumer: dropped unsupported -X " + k);
        }
        Records.Seen seen = new Records.Seen();
        int acknowledged = 0;
        long reserveMs = Math.min(10000, (long) (Driver.timeoutSecs * 250));
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p)) {
            Driver.phase("share-consume: subscribe " + topic + " as " + group);
            c.subscribe(List.of(topic));
            long extraUntil = -1;
            while (Driver.remainingMs() > reserveMs) {
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(200));
                Map<String, Integer> pending = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    seen.add(r.value());
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                    pending.merge(r.topic() + "-" + r.partition(), 1, Integer::sum);
                }
                if (!pending.isEmpty()) {
                    Map<TopicIdPartition, Optional<KafkaException>> result =
                            c.commitSync(Duration.ofMillis(Driver.remainingMs() + 2000));
                    for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : result.entrySet()) {
                        Integer n = pending.get(e.getKey().topic() + "-" + e.getKey().partition());
                        if (n == null) continue;
                        if (e.getValue().isEmpty()) acknowledged += n;
                        else Driver.log("share-consume: commit failed for " + e.getKey() + ": " + e.getValue().get());
                    }
                }
                if (seen.count() >= count && extraUntil < 0) {
                    Driver.phase("share-consume: " + seen.count() + " records; 1 s more for duplicates");
                    extraUntil = System.nanoTime() + 1_000_000_000L;
                }
                if (extraUntil >= 0 && System.nanoTime() >= extraUntil) break;
            }
            Driver.phase("share-consume: close");
            c.close(Duration.ofSeconds(5));
        }
        return Json.obj("count", seen.count(), "sha256", seen.sha256(), "duplicates", seen.duplicates(),
                "acknowledged", acknowledged);
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
}
