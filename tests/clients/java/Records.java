// The Java driver's records: the contract's deterministic keys and values (tests/clients/DRIVERS.md),
// the sha256 digest over values, and what a consumer received. See Driver.java.

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class Records {
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
            return Records.sha256(distinct.values());
        }
    }
}
