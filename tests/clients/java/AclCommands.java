// The Java driver's authorization commands: acl (an operator's grant, run directly against the
// cluster) and acl-probe (what one principal may do, run directly or through the proxy). See
// Driver.java.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

final class AclCommands {

    /** acl --topic T --principal User:U --operations WRITE,DESCRIBE: creates T (one partition)
     * unless it exists, allows U those operations on it, and waits until DescribeAcls shows them. */
    static Map<String, Object> acl() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        String principal = args.required("principal");
        List<AclBinding> bindings = new ArrayList<>();
        for (String op : args.required("operations").split(",")) {
            bindings.add(new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
                    new AccessControlEntry(principal, "*", AclOperation.fromString(op), AclPermissionType.ALLOW)));
        }
        try (Admin a = Clients.admin()) {
            Clients.ensureTopic(a, topic, 1, 1, Map.of());
            Driver.phase("acl: createAcls " + bindings);
            Driver.get(a.createAcls(bindings).all());
            AclBindingFilter filter = new AclBindingFilter(
                    new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL).toFilter(),
                    AccessControlEntryFilter.ANY);
            Driver.phase("acl: describeAcls " + topic);
            int want = bindings.size();
            Driver.until(10000, () -> Driver.get(a.describeAcls(filter).values()),
                    got -> got.stream().filter(b -> b.entry().principal().equals(principal)).count() >= want);
            return Json.obj("topic", topic, "principal", principal, "acls", want);
        }
    }

    /** acl-probe --topic T: tries to write one record to T and to read T from offset 0, each
     * within a few seconds, and says for each "ok" or the error's class name (e.g.
     * TopicAuthorizationException). Never fails itself: the outcomes are the answer. */
    static Map<String, Object> aclProbe() throws Exception {
        String topic = Driver.args.required("topic");
        return Json.obj("write", probeWrite(topic), "read", probeRead(topic));
    }

    static String probeWrite(String topic) {
        Properties p = Clients.producerProps();
        p.put("acks", "all");
        p.put("enable.idempotence", "false");
        p.put("max.block.ms", "10000");
        p.put("delivery.timeout.ms", "10000");
        p.put("request.timeout.ms", "5000");
        p.put("linger.ms", "0");
        Driver.phase("acl-probe: write " + topic);
        try (KafkaProducer<byte[], byte[]> pr = Clients.producer(p)) {
            Future<?> sent = pr.send(new ProducerRecord<>(topic, Records.key(0), Records.value(0, 10)));
            sent.get(15, TimeUnit.SECONDS);
            return "ok";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (Exception e) {
            return e.getClass().getSimpleName();
        }
    }

    static String probeRead(String topic) {
        Properties p = Clients.consumerProps(null);
        p.put("default.api.timeout.ms", "10000");
        Driver.phase("acl-probe: read " + topic);
        try (KafkaConsumer<byte[], byte[]> c = Clients.consumer(p)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seek(tp, 0);
            long end = System.nanoTime() + 10_000_000_000L;
            while (System.nanoTime() < end) {
                ConsumerRecords<byte[], byte[]> got = c.poll(Duration.ofMillis(500));
                if (!got.isEmpty()) return "ok";
            }
            return "no records";
        } catch (Exception e) {
            return e.getClass().getSimpleName();
        }
    }
}
