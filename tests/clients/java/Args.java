// The Java driver's command line: COMMAND, then --name value (or --name=value), flags, and
// repeatable -X key=value (client configuration properties). See Driver.java.

import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

final class Args {
    static final Set<String> FLAGS = Set.of("idempotent");
    static final Set<String> OPTIONS = Set.of("bootstrap", "timeout", "topic", "count", "size", "compression",
            "partitions", "replication", "acks", "idempotent", "linger-ms", "group", "group-protocol",
            "isolation", "transactional-id", "interval-ms", "partition", "to", "user", "password",
            "mechanism", "iterations", "principal", "operations");

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
