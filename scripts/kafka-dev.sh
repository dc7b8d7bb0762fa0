#!/usr/bin/env bash
# Starts one Apache Kafka broker (KRaft, combined broker and controller) in the foreground, for
# trying things by hand. The tests start their own brokers (tests/kafka/cluster.rs).
#
#   scripts/kafka-dev.sh DIR PORT [CONTROLLER_PORT]
#
# Clients on 127.0.0.1:PORT, the KRaft controller on CONTROLLER_PORT (default PORT+1).
# DIR holds the config, the log segments and the broker's log; it is formatted on first use.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 2 || $# -eq 3 ]] || { echo "usage: $0 DIR PORT [CONTROLLER_PORT]" >&2; exit 2; }
dir=$1 port=$2 cport=${3:-$(($2 + 1))}
ensure_kafka
mkdir -p "$dir"
cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
java_opts=(-Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    "-Dlog4j2.configurationFile=$ROOT/tests/kafka/log4j2.yaml" -cp "$KAFKA_LIBS/*")
if [[ ! -f "$dir/data/meta.properties" ]]; then
    java "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
        -t "$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)" -c "$dir/server.properties" >/dev/null
fi
say "kafka $KAFKA_VERSION on 127.0.0.1:$port (log: $dir/broker.log)"
exec java "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1
