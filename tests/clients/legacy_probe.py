"""What a legacy client gets from a Kafka 4 broker: Debian's kafka-python 2.0.2 pinned to
api_version=(0, 10), which sends Metadata v1 and Produce v2, versions Kafka 4 removed (KIP-896).

Run with /usr/bin/python3 (Debian's python3-kafka), not the venv. Prints
{"outcome": "delivered" | "failed", "error": ..., "seconds": ...}: a failure is the expected
answer, so it is reported, not raised; the test checks it came quickly and in words.
"""

import time

from common import emit, log, parser

import kafka
from kafka import KafkaProducer


def main():
    p = parser(__doc__)
    p.add_argument("--topic", required=True)
    args = p.parse_args()
    started = time.monotonic()
    out = {"kafka_python": kafka.__version__}
    try:
        producer = KafkaProducer(
            bootstrap_servers=args.bootstrap,
            api_version=(0, 10),
            max_block_ms=int(args.timeout * 1000 / 2),
            request_timeout_ms=int(args.timeout * 1000 / 3),
            retries=0,
        )
        try:
            producer.send(args.topic, b"legacy").get(timeout=args.timeout / 2)
            out["outcome"] = "delivered"
        finally:
            producer.close(timeout=2)
    except Exception as e:  # noqa: BLE001 - the failure is the answer
        log(f"kafka-python {kafka.__version__}: {type(e).__name__}: {e}")
        out["outcome"] = "failed"
        out["failure"] = f"{type(e).__name__}: {e}"
    out["seconds"] = round(time.monotonic() - started, 1)
    emit(out)


if __name__ == "__main__":
    main()
