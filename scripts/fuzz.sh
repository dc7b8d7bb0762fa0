#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer with AddressSanitizer) one after the
# other, and prints how many inputs each executed and whether it found anything.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); every target unless some are named. FUZZ_RUNS=N also stops
# a target after N executions (whichever comes first). Targets run in sequence: on a 2-core
# machine, parallel jobs only slow each other down.
#
# Toolchain: cargo-fuzz needs nightly Rust (-Zsanitizer=address). The script uses rustup's
# nightly when there is one, tries `rustup toolchain install nightly --profile minimal` when
# there is not, and otherwise runs the stable compiler with RUSTC_BOOTSTRAP=1 (which unlocks
# the same -Z flags; checked with Rust 1.95). cargo-fuzz itself is installed with
# `cargo install cargo-fuzz --locked` when missing.
#
# Corpora: the committed seeds (fuzz/seeds/<target>/, built from the unit tests' vectors by
# src/fuzzing/seeds.rs) are copied into fuzz/corpus/<target>/, libFuzzer's working corpus
# (not committed), before each run. A crash is saved under fuzz/artifacts/<target>/; the
# script goes on with the other targets and exits 1 at the end. Replay one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
#
# Builds go to $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set (fuzz/target otherwise),
# apart from the normal builds, whose flags differ. Logs: $FUZZ_LOG_DIR (a temp dir).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (SECONDS: a positive whole number)" >&2
    exit 2
fi
shift || true

all_targets=()
for file in fuzz/fuzz_targets/*.rs; do
    all_targets+=("$(basename "$file" .rs)")
done
targets=("${@:-${all_targets[@]}}")
for target in "${targets[@]}"; do
    if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
        echo "no fuzz target $target (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done

# The cargo command that can build with -Z flags.
fuzz_cargo=(cargo +nightly)
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    say "no nightly toolchain: trying rustup toolchain install nightly --profile minimal"
    if ! rustup toolchain install nightly --profile minimal >&2; then
        say "no nightly toolchain to be had: using the stable compiler with RUSTC_BOOTSTRAP=1"
        export RUSTC_BOOTSTRAP=1
        fuzz_cargo=(cargo)
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (one time): cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked
fi

if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
fi
log_dir="${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kafka-proxy-fuzz.XXXXXX")}"
mkdir -p "$log_dir"

# -a: debug assertions and overflow checks on, so an arithmetic overflow is a finding too.
build=("${fuzz_cargo[@]}" fuzz build -O -a)
say "building ${#targets[@]} fuzz targets: ${build[*]}"
t0=$SECONDS
for target in "${targets[@]}"; do
    "${build[@]}" "$target" >"$log_dir/build-$target.log" 2>&1 || {
        cat "$log_dir/build-$target.log" >&2
        say "building $target failed"
        exit 1
    }
done
say "built in $((SECONDS - t0))s; running each target for ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS runs}"

failed=()
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    if [[ -d "fuzz/seeds/$target" ]]; then
        cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    fi
    log="$log_dir/$target.log"
    # -timeout: an input that takes 10 s is a hang, reported like a crash.
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    [[ -n "${FUZZ_RUNS:-}" ]] && args+=(-runs="$FUZZ_RUNS")
    started=$SECONDS
    if "${fuzz_cargo[@]}" fuzz run -O -a "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (see $log and fuzz/artifacts/$target/)"
        failed+=("$target")
        grep -E "^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)" "$log" | head -5 >&2 || true
    fi
    # libFuzzer's own figures: executions, and the seconds it fuzzed (a rebuild before the run,
    # after a source change, is not counted).
    stat() { grep -oE "stat::$1: *[0-9]+" "$log" | grep -oE '[0-9]+$' | tail -1; }
    runs="$(stat number_of_executed_units)"
    runs="${runs:-$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')}"
    fuzzed="$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+')"
    fuzzed="${fuzzed:-$((SECONDS - started))}"
    rate="$(stat average_exec_per_sec)"
    line="$(printf '%-28s %12s runs %6ss %8s/s  %s' "$target" "${runs:-?}" "$fuzzed" "${rate:-?}" "$result")"
    summary+=("$line")
    say "$line"
done

echo
echo "fuzz summary (${seconds}s per target${FUZZ_RUNS:+, at most $FUZZ_RUNS runs}; logs in $log_dir):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
