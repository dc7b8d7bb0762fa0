// The Java driver's transactions command: a transactional producer commits and aborts, then
// read_committed and read_uncommitted readers read the topic back. See Driver.java.

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

final class TransactionCommands {

    /** transactions --topic T --count K [--partitions P] [--replication R] [--size B]: one
     * transactional producer commits K records and aborts K more; then read_committed and
     * read_uncommitted readers read the whole topic. Proves InitProducerId with a transactional id,
     * AddPartitionsToTxn, EndTxn, the transaction markers and the last stable offset in Fetch and
     * ListOffsets (read_committed sees exactly the committed K). */
    static Map<String, Object> transactions() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int k = args.integer("count", 100);
        int size = args.integer("size", 100);
        List<TopicPartition> tps = new ArrayList<>();
        try (Admin a = Clients.admin()) {
            Clients.ensureTopic(a, topic, args.integer("partitions", 1), args.integer("replication", 1), Map.of());
            for (TopicPartitionInfo pi : Clients.describe(a, topic).partitions()) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }

            Properties p = Clients.producerProps();
            p.put("transactional.id", "java-driver-tx-" + UUID.randomUUID());
            p.put("enable.idempotence", "true");
            p.put("acks", "all");
            try (KafkaProducer<byte[], byte[]> pr = Clients.producer(p)) {
                Driver.phase("transactions: initTransactions");
                pr.initTransactions();
                Driver.phase("transactions: commit " + k + " records");
                pr.beginTransaction();
                for (int i = 0; i < k; i++) pr.send(new ProducerRecord<>(topic, Records.key(i), Records.value(i, size)));
                pr.commitTransaction();
                Driver.phase("transactions: abort " + k + " records");
                pr.beginTransaction();
                for (int i = k; i < 2 * k; i++) pr.send(new ProducerRecord<>(topic, Records.key(i), Records.value(i, size)));
                pr.flush();
                pr.abortTransaction();
                pr.close(Duration.ofSeconds(5));
            }

            // EndTxn returns before the coordinator has written the markers: wait until the last
            // stable offset (read_committed) has caught up with the high watermark everywhere.
            Driver.phase("transactions: wait for the markers (LSO == high watermark)");
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (TopicPartition tp : tps) latest.put(tp, OffsetSpec.latest());
            Driver.until(30000, () -> {
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> hw = Driver.get(a.listOffsets(latest).all());
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> lso =
                        Driver.get(a.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all());
                for (TopicPartition tp : tps) if (hw.get(tp).offset() != lso.get(tp).offset()) return false;
                return true;
            }, done -> done);
        }

        Records.Seen committed = readAll(tps, "read_committed");
        Records.Seen uncommitted = readAll(tps, "read_uncommitted");
        int committedSeen = 0, abortedSeen = 0;
        for (byte[] v : committed.distinct.values()) {
            int i = Records.indexOf(v);
            if (i >= 0 && i < k) committedSeen++;
            else abortedSeen++;
        }
        return Json.obj("committed", k, "committed_seen", committedSeen, "aborted_seen", abortedSeen,
                "sha256", committed.sha256(), "uncommitted_seen", uncommitted.total);
    }

    /** Reads the partitions from the beginning to their end offsets (for read_committed: the last
     * stable offset), without a group. */
    static Records.Seen readAll(List<TopicPartition> tps, String isolation) {
        Driver.phase("read " + tps + " " + isolation);
        Properties p = Clients.consumerProps(null);
        p.put("isolation.level", isolation);
        Records.Seen seen = new Records.Seen();
        try (KafkaConsumer<byte[], byte[]> c = Clients.consumer(p)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofMillis(Driver.remainingMs() + 2000));
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
}
