"""Shared helpers for the client scripts the end-to-end tests run.

Every script takes --bootstrap host:port, does one scenario with a real Kafka client library,
and prints exactly one JSON object on stdout (logs go to stderr). On failure it prints
{"error": "..."} and exits 1, so the Rust harness can show what the client saw.
"""

import argparse
import hashlib
import json
import sys
import time
import traceback


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--bootstrap", required=True, help="host:port of the broker or the proxy")
    p.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds")
    return p


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def run(main):
    """Runs main(), prints its dict as JSON; prints {"error": ...} and exits 1 on exception."""
    try:
        result = main()
    except Exception as e:  # noqa: BLE001 - every failure must reach the test as JSON
        traceback.print_exc(file=sys.stderr)
        emit({"error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
    emit(result)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def message(i, value_size=0):
    """Deterministic, distinct key and value for message number i. With value_size > 0 the
    value is padded to exactly that many bytes (at least the 15-byte prefix)."""
    key = f"key-{i:08d}".encode()
    prefix = f"value-{i:08d}-"
    if value_size > 0:
        fill = "abcdefghijklmnopqrstuvwxyz"[i % 26]
        value = (prefix + fill * max(0, value_size - len(prefix))).encode()
    else:
        value = (prefix + "x" * (i % 97)).encode()
    return key, value


def index_of(key):
    return int(key.decode().rsplit("-", 1)[1])


def digest(pairs):
    """SHA-256 over the sorted (key, value) pairs: equal digests mean the same message set."""
    h = hashlib.sha256()
    for k, v in sorted(pairs):
        h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
    return h.hexdigest()


def split_hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def api_versions(bootstrap, timeout=10.0):
    """Raw ApiVersions v0 exchange: {api_key: (min_version, max_version)} the server supports."""
    import socket
    import struct

    host, port = split_hostport(bootstrap)
    with socket.create_connection((host, port), timeout=timeout) as s:
        body = struct.pack(">hhih", 18, 0, 7, -1)
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise ConnectionError("closed during ApiVersions")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        data = read(size)
    corr, err, n = struct.unpack(">ihi", data[:10])
    if corr != 7 or err != 0:
        raise RuntimeError(f"ApiVersions: correlation {corr}, error {err}")
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", data[10 + 6 * i : 16 + 6 * i])
        out[key] = (lo, hi)
    return out
