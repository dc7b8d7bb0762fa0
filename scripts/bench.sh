#!/usr/bin/env bash
# The performance harness (benches/perf/) with what it needs around it.
#
#   scripts/bench.sh [harness options...]          e.g. scripts/bench.sh --seconds 3 --rounds 5
#   scripts/bench.sh profile [WORKLOAD] [options]  kafka-proxy under `perf record` (default produce8)
#
# Raises the open-files limit (the memory benchmark holds 10,000 client connections: one
# descriptor each in the harness, two in kafka-proxy, two in HAProxy) and vm.max_map_count,
# builds the static musl binary when the musl target is installed, installs haproxy (the
# reference hop) and, for profiles, linux-perf when missing, prints the load average (other
# work on the machine skews every figure: measure when it is low), then runs
# `cargo bench --bench perf`. The harness options are documented at the top of
# benches/perf/main.rs.
#
# The profile mode builds kafka-proxy with symbols (the release profile strips them) in its own
# target directory and points the harness at it with KAFKA_PROXY_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

mode=run
if [[ "${1:-}" == profile ]]; then
    mode=profile
    shift
fi

# Only what the harness uses (lib.sh's full list is for the tests).
APT_PACKAGES=(haproxy)
[[ $mode == profile ]] && APT_PACKAGES+=(linux-perf)
ensure_apt_packages

wanted_files=65536
if ! ulimit -n "$wanted_files" 2>/dev/null; then
    # Without privileges the soft limit may rise only to the hard one.
    ulimit -n "$(ulimit -Hn)"
fi
# 10,000 connections all busy at once are 20,000 kafka-proxy threads, each with four memory
# mappings (stack, signal stack, a guard page for each): more than the usual vm.max_map_count
# of 65530, past which thread starts fail. Raised for the run where allowed (as root).
wanted_maps=262144
if (( $(cat /proc/sys/vm/max_map_count) < wanted_maps )); then
    if ! (echo "$wanted_maps" > /proc/sys/vm/max_map_count) 2>/dev/null; then
        say "warning: vm.max_map_count is $(cat /proc/sys/vm/max_map_count) and cannot be raised;" \
            "the 10,000-connection memory case may fail to serve them all"
    fi
fi
say "open-files limit $(ulimit -n); vm.max_map_count $(cat /proc/sys/vm/max_map_count);" \
    "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

if [[ $mode == profile ]]; then
    workload="${1:-produce8}"
    (($# > 0)) && shift
    symbols_target="${CARGO_TARGET_DIR:-$ROOT/target}/symbols"
    say "building kafka-proxy with symbols in $symbols_target"
    CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release --bin kafka-proxy --target-dir "$symbols_target"
    export KAFKA_PROXY_BIN="$symbols_target/release/kafka-proxy"
    exec cargo bench --bench perf -- --profile "$workload" "$@"
fi

# The memory benchmark also measures the static musl build, the binary a release ships, when
# the musl target is installed (see the README's "Static binary").
musl_target=x86_64-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$musl_target" && command -v musl-gcc >/dev/null; then
    say "building the static musl binary for the memory benchmark"
    cargo build --release --bin kafka-proxy --target "$musl_target"
    export KAFKA_PROXY_MUSL_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$musl_target/release/kafka-proxy"
else
    say "no musl target (rustup target add $musl_target; apt-get install musl-tools): the memory" \
        "benchmark measures the glibc build only"
fi
exec cargo bench --bench perf -- "$@"
