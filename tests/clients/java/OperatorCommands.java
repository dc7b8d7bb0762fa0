// The Java driver's commands that change the cluster under a test, as an operator would:
// move-leader, scram-user. See Driver.java.

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.ResourceNotFoundException;

final class OperatorCommands {

    /** move-leader --topic T --partition P --to ID: makes broker ID the leader of T-P (run directly
     * against the cluster, to move leaders under a client that talks through the proxy): reorders
     * the replicas so ID is first (adding it if it is not a replica, through
     * AlterPartitionReassignments, waiting for the reassignment to finish), runs a preferred leader
     * election and waits until DescribeTopics shows ID as leader. */
    static Map<String, Object> moveLeader() throws Exception {
        Args args = Driver.args;
        String topic = args.required("topic");
        int partition = args.integer("partition", 0);
        int to = Integer.parseInt(args.required("to"));
        TopicPartition tp = new TopicPartition(topic, partition);
        try (Admin a = Clients.admin()) {
            Driver.phase("move-leader: describe " + tp);
            List<Integer> replicas = replicasOf(Clients.describe(a, topic), partition);
            List<Integer> target = new ArrayList<>();
            target.add(to);
            for (int r : replicas) if (r != to) target.add(r);
            Driver.log("replicas " + replicas + " -> " + target);
            if (!target.equals(replicas)) {
                Driver.phase("move-leader: reassign " + tp + " to " + target);
                Driver.get(a.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(target)))).all());
                Driver.phase("move-leader: wait for the reassignment of " + tp);
                Driver.until(Driver.remainingMs(), () -> {
                    Map<TopicPartition, PartitionReassignment> ongoing =
                            Driver.get(a.listPartitionReassignments(Set.of(tp)).reassignments());
                    return !ongoing.containsKey(tp) && replicasOf(Clients.describe(a, topic), partition).equals(target);
                }, done -> done);
            }
            Driver.phase("move-leader: preferred election of " + tp + " (want leader " + to + ")");
            Driver.until(Driver.remainingMs(), () -> {
                Optional<Throwable> err = Driver.get(a.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions()).get(tp);
                if (err != null && err.isPresent() && !(err.get() instanceof ElectionNotNeededException)) {
                    Driver.log("election: " + err.get());
                }
                Node leader = partitionOf(Clients.describe(a, topic), partition).leader();
                return leader != null && leader.id() == to;
            }, done -> done);
            TopicPartitionInfo pi = partitionOf(Clients.describe(a, topic), partition);
            if (pi.leader() == null || pi.leader().id() != to) {
                throw new IllegalStateException("leader of " + tp + " is " + pi.leader() + ", not " + to);
            }
            return Json.obj("leader", pi.leader().id(), "replicas", replicasOf(Clients.describe(a, topic), partition));
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
        Args args = Driver.args;
        String user = args.required("user");
        String password = args.required("password");
        String mechName = args.str("mechanism", "SCRAM-SHA-256");
        int iterations = args.integer("iterations", 4096);
        ScramMechanism mech = ScramMechanism.fromMechanismName(mechName);
        if (mech == ScramMechanism.UNKNOWN) throw new IllegalArgumentException("unknown SCRAM mechanism " + mechName);
        try (Admin a = Clients.admin()) {
            Driver.phase("scram-user: alterUserScramCredentials " + user + " " + mechName);
            Driver.get(a.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion(user, new ScramCredentialInfo(mech, iterations), password))).all());
            Driver.phase("scram-user: describeUserScramCredentials " + user);
            UserScramCredentialsDescription d = Driver.until(10000, () -> {
                try {
                    return Driver.get(a.describeUserScramCredentials(List.of(user)).description(user));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof ResourceNotFoundException) return null; // not there yet
                    throw e;
                }
            }, x -> x != null && x.credentialInfos().stream().anyMatch(ci -> ci.mechanism() == mech && ci.iterations() == iterations));
            List<Map<String, Object>> mechs = new ArrayList<>();
            if (d != null) {
                for (ScramCredentialInfo ci : d.credentialInfos()) {
                    mechs.add(Json.obj("mechanism", ci.mechanism().mechanismName(), "iterations", ci.iterations()));
                }
            }
            mechs.sort((x, y) -> ((String) x.get("mechanism")).compareTo((String) y.get("mechanism")));
            return Json.obj("user", user, "mechanisms", mechs);
        }
    }
}
