#!/usr/bin/env bash
# A first look at kafka-proxy: build it, start a local Apache Kafka broker (KRaft, one node, in a
# temp dir), put the proxy in front of it, and send one message through the proxy and back.
#
#   scripts/demo.sh
#
# Needs Java 17+ and Maven (Kafka's jars come from Maven Central on first use) and Python 3 (a
# venv with Kafka clients is made on first use); see scripts/lib.sh.
# Everything listens on 127.0.0.1 on free ports and is stopped when the script ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_kafka
ensure_venv

say "building kafka-proxy (cargo build --release)"
cargo build --release
PROXY_BIN="$ROOT/target/release/kafka-proxy"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka-proxy-demo.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_log() { # name file
    echo "--- $1 log ---" >&2
    tail -n 40 "$2" >&2 || true
}

BROKER_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
while [[ "$PROXY_PORT" == "$BROKER_PORT" ]]; do PROXY_PORT="$(free_port)"; done

CONTROLLER_PORT="$(free_port)"
say "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$BROKER_PORT (KRaft, one node)"
scripts/kafka-dev.sh "$WORK/kafka" "$BROKER_PORT" "$CONTROLLER_PORT" >"$WORK/kafka-dev.log" 2>&1 </dev/null &
PIDS+=($!)
if ! wait_port "$BROKER_PORT" 90; then
    show_log kafka "$WORK/kafka/broker.log"
    exit 1
fi

say "starting kafka-proxy: 127.0.0.1:$PROXY_PORT -> broker 127.0.0.1:$BROKER_PORT"
set -x
"$PROXY_BIN" server --bootstrap-server-mapping "127.0.0.1:$BROKER_PORT,127.0.0.1:$PROXY_PORT" \
    --http-listen-address "127.0.0.1:$(free_port)" \
    >"$WORK/proxy.log" 2>&1 </dev/null &
{ set +x; } 2>/dev/null
PIDS+=($!)
if ! wait_port "$PROXY_PORT" 20; then
    show_log kafka-proxy "$WORK/proxy.log"
    exit 1
fi

say "client: metadata, produce and consume through 127.0.0.1:$PROXY_PORT"
if "$KAFKA_PROXY_TEST_PYTHON" tests/clients/hello.py --bootstrap "127.0.0.1:$PROXY_PORT" --timeout 30; then
    say "demo OK: the message went through kafka-proxy and came back"
else
    show_log kafka-proxy "$WORK/proxy.log"
    show_log kafka "$WORK/kafka/broker.log"
    say "demo FAILED"
    exit 1
fi
