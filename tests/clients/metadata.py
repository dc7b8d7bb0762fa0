"""confluent-kafka AdminClient.list_topics(): which brokers does the cluster advertise?

Prints {"brokers": [{"id", "host", "port"}...], "controller_id", "cluster_id", "topics": [...]}.
Through the proxy every broker address must be a proxy address.
"""

from confluent_kafka.admin import AdminClient

import common


def main():
    args = common.parser(__doc__).parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    md = admin.list_topics(timeout=args.timeout)
    brokers = sorted(
        ({"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()),
        key=lambda b: b["id"],
    )
    return {
        "brokers": brokers,
        "controller_id": md.controller_id,
        "cluster_id": md.cluster_id,
        "topics": sorted(t for t in md.topics if not t.startswith("__")),
    }


if __name__ == "__main__":
    common.run(main)
