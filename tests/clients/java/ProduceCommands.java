// The Java driver's producer commands: produce, produce-loop. See Driver.java.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RetriableException;

final class ProduceCommands {

    /** produce --topic T --count N [--size B] [--compression C] [--partitions P] [--replication R]
     * [--acks all|1|0] [--idempotent] [--linger-ms M]: creates T if missing and produces N records,
     * waiting for every delivery report. Proves Produce (every compression codec, acks levels,
     * idempotent InitProducerId) and Metadata leader routing. */
    static Map<String, Object> produce() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int count = args.integer("count", 100);
        int size = args.integer("size", 100);
        try (Admin a = Clients.admin()) {
            Clients.ensureTopic(a, topic, args.integer("partitions", 3), args.integer("replication", 1), Map.of());
        }
        boolean idempotent = args.flag("idempotent");
        int linger = args.integer("linger-ms", 5);
        Properties p = Clients.producerProps();
        p.put("acks", args.str("acks", "all"));
        p.put("enable.idempotence", String.valueOf(idempotent));
        p.put("compression.type", args.str("compression", "none"));
        p.put("linger.ms", String.valueOf(linger));
        // Deliveries time out a little before the deadline, so failures show up as "errors".
        long delivery = Math.max(Driver.remainingMs() - 3000, 2000 + linger);
        p.put("delivery.timeout.ms", String.valueOf(delivery));
        p.put("request.timeout.ms", String.valueOf(Math.max(1000, Math.min(30000, (delivery - linger) / 2))));
        AtomicInteger acked = new AtomicInteger();
        Set<String> errors = ConcurrentHashMap.newKeySet();
        List<byte[]> sent = new ArrayList<>();
        Driver.phase("produce: send " + count + " records");
        try (KafkaProducer<byte[], byte[]> pr = Clients.producer(p)) {
            for (int i = 0; i < count; i++) {
                byte[] v = Records.value(i, size);
                sent.add(v);
                pr.send(new ProducerRecord<>(topic, Records.key(i), v), (md, e) -> {
                    if (e == null) acked.incrementAndGet();
                    else errors.add(e.getClass().getSimpleName());
                });
            }
            Driver.phase("produce: flush");
            pr.flush();
            pr.close(Duration.ofSeconds(5));
        }
        return Json.obj("sent", count, "acked", acked.get(), "sha256", Records.sha256(sent),
                "errors", new TreeSet<>(errors));
    }

    /** produce-loop --topic T --count N [--interval-ms M] [--partitions P] [--replication R]
     * [--size B]: a steady acks=all idempotent producer (one record every M ms) that must survive
     * broker restarts and leader moves with nothing lost: acked == sent, no errors. retriable_seen
     * names the retriable errors the producer met on the way (from callbacks and from the producer's
     * own WARN log lines, e.g. NotLeaderOrFollowerException, NetworkException). */
    static Map<String, Object> produceLoop() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int count = args.integer("count", 1000);
        int interval = args.integer("interval-ms", 5);
        int size = args.integer("size", 100);
        int replication = args.integer("replication", 3);
        try (Admin a = Clients.admin()) {
            Clients.ensureTopic(a, topic, args.integer("partitions", 3), replication,
                    Map.of("min.insync.replicas", String.valueOf(Math.min(2, replication))));
        }
        Set<String> retriable = Logs.captureRetriable();
        Properties p = Clients.producerProps();
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("retries", String.valueOf(Integer.MAX_VALUE));
        p.put("delivery.timeout.ms", "120000");
        p.put("request.timeout.ms", "10000");
        AtomicInteger acked = new AtomicInteger();
        Set<String> errors = ConcurrentHashMap.newKeySet();
        Map<Integer, byte[]> ackedValues = new ConcurrentHashMap<>();
        Driver.phase("produce-loop: send " + count + " records, one every " + interval + " ms");
        try (KafkaProducer<byte[], byte[]> pr = Clients.producer(p)) {
            for (int i = 0; i < count; i++) {
                final int n = i;
                byte[] v = Records.value(i, size);
                pr.send(new ProducerRecord<>(topic, Records.key(i), v), (md, e) -> {
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
            Driver.phase("produce-loop: flush (" + acked.get() + " acked so far)");
            pr.flush();
            pr.close(Duration.ofSeconds(5));
        }
        return Json.obj("sent", count, "acked", acked.get(), "sha256", Records.sha256(ackedValues.values()),
                "errors", new TreeSet<>(errors), "retriable_seen", new TreeSet<>(retriable));
    }
}
