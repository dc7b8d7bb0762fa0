// The Java driver's client configurations (the driver's settings, then every -X on top), the
// clients made from them, and the topic helpers the commands share. See Driver.java.

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

final class Clients {
    static Properties common(String role) {
        Properties p = new Properties();
        p.put("bootstrap.servers", Driver.args.required("bootstrap"));
        p.put("client.id", "java-driver-" + Driver.args.command + "-" + role);
        return p;
    }

    static Properties withX(Properties p) {
        p.putAll(Driver.args.x);
        return p;
    }

    static Admin admin() {
        Properties p = common("admin");
        p.put("request.timeout.ms", String.valueOf(Math.max(1000, Math.min(30000, Driver.remainingMs()))));
        p.put("default.api.timeout.ms", String.valueOf(Driver.remainingMs() + 2000));
        return Admin.create(withX(p));
    }

    static Properties producerProps() {
        Properties p = common("producer");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("max.block.ms", String.valueOf(Driver.remainingMs() + 2000));
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
        p.put("default.api.timeout.ms", String.valueOf(Driver.remainingMs() + 2000));
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
        Driver.phase("create topic " + topic);
        try {
            Driver.get(a.createTopics(List.of(new NewTopic(topic, partitions, (short) replication).configs(configs))).all());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e;
            Driver.log("topic " + topic + " exists already");
        }
        Driver.phase("wait for leaders of " + topic);
        Driver.until(30000, () -> describe(a, topic),
                d -> d.partitions().stream().allMatch(pi -> pi.leader() != null && !pi.leader().isEmpty()));
    }

    static TopicDescription describe(Admin a, String topic) throws Exception {
        return Driver.get(a.describeTopics(List.of(topic)).topicNameValues().get(topic));
    }

    static Map<String, Object> node(Node n) {
        return Json.obj("id", n.id(), "host", n.host(), "port", n.port());
    }
}
