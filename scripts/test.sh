#!/usr/bin/env bash
# The one command that installs what the tests need and runs every test.
#
#   scripts/test.sh [extra cargo test args...]     e.g. scripts/test.sh -- --nocapture
#
# Installs (only when missing): Debian packages (APT_PACKAGES in scripts/lib.sh: openssl,
# haproxy, ...) with apt-get, tansu (the second broker implementation) with `cargo install`, a
# Python venv at .test-env/venv with confluent-kafka and kafka-python (rebuilt when the pins in
# scripts/lib.sh change), Apache Kafka's jars from Maven Central (tests/kafka/pom.xml), the Java
# client driver (javac), the franz-go driver (go build), KafkaJS (npm ci) and cargo-deny
# (`cargo install`). Then runs every test target of `cargo test --all-targets`, one timed group
# at a time, with the tools' paths in the environment, plus clippy and the unit tests of the
# build without default features and `cargo deny check bans licenses sources`; under CI (or
# with FUZZ_SMOKE_SECONDS=N) it ends with a smoke run of every fuzz target (scripts/fuzz.sh).
# Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

t0=$SECONDS
ensure_apt_packages
ensure_tansu
ensure_venv
ensure_kafka
ensure_java_driver
ensure_franz
ensure_kafkajs
ensure_cargo_deny
say "tools ready in $((SECONDS - t0))s"

say "tools: TANSU_BIN=$TANSU_BIN KAFKA_PROXY_TEST_PYTHON=$KAFKA_PROXY_TEST_PYTHON KAFKA_LIBS=$KAFKA_LIBS"
# Every target `cargo test --all-targets` would run, one group at a time, each timed. A new
# integration test target under tests/ needs its own line here.
TIMES=()
run_group() { # NAME CARGO-TEST-ARGS...
    local name=$1 t=$SECONDS
    shift
    say "cargo test $*"
    cargo test "$@"
    TIMES+=("$name: $((SECONDS - t))s")
    say "$name passed in $((SECONDS - t))s"
}
# A step that is not a cargo test group (a lint, a policy check), timed the same way.
timed_step() { # NAME COMMAND...
    local name=$1 t=$SECONDS
    shift
    say "$*"
    "$@"
    TIMES+=("$name: $((SECONDS - t))s")
    say "$name passed in $((SECONDS - t))s"
}
t1=$SECONDS
run_group "unit tests, benchmark and example smoke runs" --lib --bins --benches --examples "$@"
# The build without the optional parts (the cargo features google-id, oidc, aws-msk-iam, ldap,
# encrypted-keys, gssapi):
# lint-clean, and its unit tests (among them the refusals of what it leaves out) pass.
timed_step "clippy without default features" cargo clippy --all-targets --no-default-features -- -D warnings
run_group "unit tests without default features" --lib --no-default-features "$@"
# The dependency policy in deny.toml; these checks need no network once every platform's
# crates are in cargo's cache (cargo-deny reads the metadata of all of them; a build fetches
# only this platform's, so a fresh machine needs the fetch).
timed_step "cargo fetch (every platform's crates, for cargo deny)" cargo fetch --locked
timed_step "cargo deny (bans, licenses, sources)" cargo deny --offline check bans licenses sources
run_group "end-to-end against tansu and scripted brokers (tests/e2e)" --test e2e "$@"
run_group "end-to-end against Apache Kafka $KAFKA_VERSION (tests/kafka)" --test kafka "$@"
say "tests passed in $((SECONDS - t1))s (total $((SECONDS - t0))s)"
printf '    %s\n' "${TIMES[@]}" >&2

# Fuzz smoke: every fuzz target for a few seconds (about 6 minutes with the build). Always under
# CI; locally when FUZZ_SMOKE_SECONDS is set (scripts/fuzz.sh runs longer campaigns).
if [[ -n "${FUZZ_SMOKE_SECONDS:-}" ]] || [[ -n "${CI:-}" && "${CI}" != "false" && "${CI}" != "0" ]]; then
    t2=$SECONDS
    scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-5}"
    say "fuzz smoke passed in $((SECONDS - t2))s (total $((SECONDS - t0))s)"
else
    say "fuzz smoke skipped (runs under CI, or with FUZZ_SMOKE_SECONDS=N)"
fi
