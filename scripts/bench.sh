#!/usr/bin/env bash
# The performance harness (benches/perf/) with what it needs around it.
#
#   scripts/bench.sh [harness options...]          e.g. scripts/bench.sh --seconds 3 --rounds 5
#   scripts/bench.sh profile [WORKLOAD] [options]  kafka-proxy under `perf record` (default produce8)
#
# Raises the open-files limit (the memory benchmark holds 10,000 client connections: two
# descriptors each in the harness, two in kafka-proxy, two in HAProxy), installs haproxy (the
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
say "open-files limit $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

if [[ $mode == profile ]]; then
    workload="${1:-produce8}"
    (($# > 0)) && shift
    symbols_target="${CARGO_TARGET_DIR:-$ROOT/target}-symbols"
    say "building kafka-proxy with symbols in $symbols_target"
    CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release --bin kafka-proxy --target-dir "$symbols_target"
    export KAFKA_PROXY_BIN="$symbols_target/release/kafka-proxy"
    exec cargo bench --bench perf -- --profile "$workload" "$@"
fi

exec cargo bench --bench perf -- "$@"
