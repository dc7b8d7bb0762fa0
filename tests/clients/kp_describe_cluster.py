"""kafka-python 3.x KafkaAdminClient.describe_cluster() (sends DescribeCluster).

Prints {"brokers": [{"id", "host", "port"}...], "controller_id", "cluster_id", "api"}, where
"api" says which request kafka-python used: "DescribeCluster" when the server's ApiVersions
lists key 60, else "Metadata" (kafka-python's fallback for older brokers).
"""

from kafka.admin import KafkaAdminClient

import common


def main():
    args = common.parser(__doc__).parse_args()
    admin = KafkaAdminClient(
        bootstrap_servers=args.bootstrap,
        request_timeout_ms=int(args.timeout * 1000),
        client_id="kafka-proxy-e2e",
    )
    try:
        desc = admin.describe_cluster()
    finally:
        admin.close()
    brokers = sorted(
        (
            {"id": b["broker_id"], "host": b["host"], "port": b["port"]}
            for b in desc.get("brokers", [])
        ),
        key=lambda b: b["id"],
    )
    return {
        "brokers": brokers,
        "controller_id": desc.get("controller_id"),
        "cluster_id": desc.get("cluster_id"),
        "api": "DescribeCluster" if 60 in common.api_versions(args.bootstrap) else "Metadata",
    }


if __name__ == "__main__":
    common.run(main)
