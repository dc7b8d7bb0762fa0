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
// The sources, one concern each, all in this directory (the default package; ensure_java_driver in
// scripts/lib.sh compiles every *.java here):
//   Driver.java               entry point, command dispatch, watchdog, errors, the deadline helpers
//   Args.java                 the command line
//   Json.java                 the JSON output
//   Logs.java                 log4j2 set-up; the retriable errors that client log lines mention
//   Records.java              the contract's keys and values, sha256, the values a consumer received
//   Clients.java              admin, producer and consumer configurations (with -X); topic helpers
//   ClusterCommands.java      cluster, coordinator, admin
//   ProduceCommands.java      produce, produce-loop
//   ConsumeCommands.java      consume, share-consume
//   TransactionCommands.java  transactions
//   OperatorCommands.java     move-leader, scram-user
// Classes in the default package cannot be imported statically, so the commands call the shared
// helpers by class: Driver.phase, Driver.get, Clients.admin, Records.value, Json.obj ...

import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.RetriableException;

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
            emit(Json.obj("error", c.getClass().getSimpleName() + ": " + c.getMessage()));
            code = 1;
        }
        // halt, not exit: a client thread or shutdown hook that hangs must not keep the test waiting.
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    static Map<String, Object> run(String command) throws Exception {
        switch (command) {
            case "cluster": return ClusterCommands.cluster();
            case "coordinator": return ClusterCommands.coordinator();
            case "produce": return ProduceCommands.produce();
            case "consume": return ConsumeCommands.consume();
            case "transactions": return TransactionCommands.transactions();
            case "share-consume": return ConsumeCommands.shareConsume();
            case "produce-loop": return ProduceCommands.produceLoop();
            case "admin": return ClusterCommands.adminSequence();
            case "move-leader": return OperatorCommands.moveLeader();
            case "scram-user": return OperatorCommands.scramUser();
            case "acl": return AclCommands.acl();
            case "acl-probe": return AclCommands.aclProbe();
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
            if (emit(Json.obj("error", "timeout after " + n + "s in " + phase))) {
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

    // ---------------------------------------------------------------------------------------------
    // Waiting within the --timeout deadline

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
}
