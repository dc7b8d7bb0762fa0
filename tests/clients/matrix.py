"""Client driver for the client matrix: one scenario with confluent-kafka or kafka-python.

    matrix.py --client confluent|kafka-python --bootstrap HOST:PORT [--timeout S] [-X k=v]... COMMAND ...

Commands (the contract is tests/clients/DRIVERS.md):
  cluster [--topic T]
  produce --topic T --count N [--size B] [--compression none|gzip|snappy|lz4|zstd]
          [--partitions P] [--replication R] [--acks all|1|0] [--idempotent] [--linger-ms M]
  consume --topic T --count N [--group G] [--group-protocol classic|consumer]
          [--isolation read_uncommitted|read_committed]
  transactions --topic T --count K [--partitions P]

Prints one JSON object as the last line of stdout; {"error": ...} and exit 1 on failure. The
options may come before or after the command. A watchdog ends the process at --timeout.

This file is the command line and the dispatch; the clients are matrix_confluent.py and
matrix_kafka_python.py, and what they share (records, sha256, output, the scenario logic that does
not depend on the client library) is matrix_common.py.
"""

import sys
import uuid

import common
from matrix_common import Failure, finish, start_watchdog, with_last_error
from matrix_confluent import Confluent
from matrix_kafka_python import KafkaPython

COMMANDS = ("cluster", "produce", "consume", "transactions")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


# --- arguments -----------------------------------------------------------------------------


def parse_args(argv):
    p = common.parser("client matrix driver")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--client", required=True, choices=("confluent", "kafka-python"))
    p.add_argument("-X", dest="props", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--topic")
    p.add_argument("--count", type=int)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--compression", default="none")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication", type=int, default=1)
    p.add_argument("--acks", default="all", choices=("all", "-1", "1", "0"))
    p.add_argument("--idempotent", action="store_true")
    p.add_argument("--linger-ms", type=int)
    p.add_argument("--group")
    p.add_argument("--group-protocol", default="classic", choices=("classic", "consumer"))
    p.add_argument(
        "--isolation", default="read_uncommitted", choices=("read_uncommitted", "read_committed")
    )

    def error(message):
        raise Failure(f"bad arguments: {message}")

    p.error = error
    args = p.parse_args(argv)
    props = {}
    for item in args.props:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise Failure(f"bad -X {item!r}: want key=value")
        props[k.strip()] = v.strip()
    args.props = props
    if args.command in ("produce", "consume", "transactions"):
        if not args.topic:
            raise Failure(f"{args.command} needs --topic")
        if args.count is None or args.count < 0:
            raise Failure(f"{args.command} needs --count N (N >= 0)")
    if args.compression not in CODECS:
        raise Failure(f"unknown compression {args.compression!r} (one of {', '.join(CODECS)})")
    if args.acks == "-1":
        args.acks = "all"
    if args.group is None:
        args.group = f"matrix-{args.client}-{uuid.uuid4().hex[:12]}"
    return args


# --- main ----------------------------------------------------------------------------------


def main():
    timeout = 60.0
    try:
        # The watchdog needs --timeout before anything can block; parse_args raises on errors.
        for i, a in enumerate(sys.argv):
            if a == "--timeout" and i + 1 < len(sys.argv):
                timeout = float(sys.argv[i + 1])
            elif a.startswith("--timeout="):
                timeout = float(a.split("=", 1)[1])
    except ValueError:
        pass
    start_watchdog(timeout)
    try:
        args = parse_args(sys.argv[1:])
        deadline = common.Deadline(max(0.5, args.timeout - 1.0))
        driver = (Confluent if args.client == "confluent" else KafkaPython)(args, deadline)
        result = getattr(driver, args.command)()
    except Failure as e:
        common.log(f"error: {e}")
        finish({"error": str(e)}, 1)
    except Exception as e:  # noqa: BLE001 - every failure must reach the test as JSON
        import traceback

        traceback.print_exc(file=sys.stderr)
        text = str(e) if str(e).startswith(type(e).__name__) else f"{type(e).__name__}: {e}"
        finish({"error": with_last_error(text)}, 1)
    finish(result, 0)


if __name__ == "__main__":
    main()
