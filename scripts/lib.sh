# shellcheck shell=bash
# Shared install steps for scripts/test.sh and scripts/demo.sh. Source it; do not run it.
#
# After `ensure_tansu` and `ensure_venv`, these are set and exported:
#   TANSU_BIN                 path to the tansu broker binary
#   KAFKA_PROXY_TEST_PYTHON   path to the venv's python (confluent-kafka, kafka-python)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The broker the end-to-end tests run against. The exact install line matters: the
# features pick the storage engines tansu is built with (we use memory://, and sqlite:// for
# the SCRAM users of the upstream SASL tests, which live in storage).
TANSU_VERSION="0.6.0"
TANSU_INSTALL=(cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql)

# Python clients. Change a pin here and the venv is rebuilt on the next run (stamp file).
# kafka-python needs python-snappy, lz4 and zstandard for those codecs (wheels, no build).
PY_PACKAGES=("confluent-kafka==2.16.1" "kafka-python==3.0.12" "python-snappy==0.7.3" "lz4==4.4.5" "zstandard==0.25.0")
VENV="$ROOT/.test-env/venv"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages the tests need: openssl (the TLS tests make their certificates with it) and
# haproxy (the TLS terminator in front of tansu, which cannot speak TLS from its command line).
# Local authentication: slapd and ldap-utils (the auth-ldap tests run their own throwaway slapd
# from a temp dir on loopback ports; the distro's slapd service is not used) and python3-kafka
# (Debian's kafka-python 2.0.2, the client of the legacy SaslHandshake v0 flow, run with
# /usr/bin/python3, not the venv).
# Forward proxies: dante-server and tinyproxy (third-party SOCKS5 and HTTP CONNECT proxies the
# tests start from temp config files on loopback ports; their services are not used) and curl
# (a third-party client of the built-in `tools` proxies).
# Add a feature's packages to this list; `ensure_apt_packages` installs whichever are missing.
APT_PACKAGES=(openssl haproxy slapd ldap-utils python3-kafka dante-server tinyproxy curl krb5-kdc krb5-admin-server krb5-user faketime)

ensure_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        say "apt packages present: ${APT_PACKAGES[*]}"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing packages ${missing[*]} and no apt-get: install them by hand"
        return 1
    fi
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    say "installing apt packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Operations: prometheus, for promtool (`promtool check metrics` lints the proxy's /metrics
# output; the Prometheus server the package also installs is never started by the tests).
APT_PACKAGES+=(prometheus)

ensure_tansu() {
    if [[ -n "${TANSU_BIN:-}" && -x "$TANSU_BIN" ]]; then
        :
    elif command -v tansu >/dev/null 2>&1; then
        TANSU_BIN="$(command -v tansu)"
    elif [[ -x "$HOME/.cargo/bin/tansu" ]]; then
        TANSU_BIN="$HOME/.cargo/bin/tansu"
    else
        say "installing tansu $TANSU_VERSION (one time, ~15 minutes on 2 cores): ${TANSU_INSTALL[*]}"
        local t0=$SECONDS
        "${TANSU_INSTALL[@]}"
        TANSU_BIN="$HOME/.cargo/bin/tansu"
        say "tansu installed in $((SECONDS - t0))s"
    fi
    local version
    version="$("$TANSU_BIN" --version 2>/dev/null || true)"
    if [[ "$version" != *"$TANSU_VERSION"* ]]; then
        say "warning: $TANSU_BIN is '${version:-unknown version}', the tests are written for tansu $TANSU_VERSION"
    fi
    say "tansu: $TANSU_BIN ($version)"
    export TANSU_BIN
}

# cargo-deny checks the dependency tree against deny.toml (bans, licenses, sources; offline).
CARGO_DENY_INSTALL=(cargo install cargo-deny --locked)

ensure_cargo_deny() {
    if cargo deny --version >/dev/null 2>&1; then
        say "cargo-deny: $(cargo deny --version)"
        return 0
    fi
    say "installing cargo-deny (one time, ~5 minutes on 2 cores): ${CARGO_DENY_INSTALL[*]}"
    local t0=$SECONDS
    "${CARGO_DENY_INSTALL[@]}"
    say "cargo-deny installed in $((SECONDS - t0))s"
}

ensure_venv() {
    local stamp="$VENV/.kafka-proxy-stamp"
    local want="${PY_PACKAGES[*]}"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        say "python venv up to date: $VENV ($want)"
    else
        say "creating python venv $VENV with: $want"
        local t0=$SECONDS
        local py
        py="$(command -v python3 || command -v python)" || { say "python3 not found"; return 1; }
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        "$py" -m venv "$VENV" || {
            say "'$py -m venv' failed (on Debian: apt-get install python3-venv)"
            return 1
        }
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            --only-binary confluent-kafka "${PY_PACKAGES[@]}"
        printf '%s' "$want" >"$stamp"
        say "venv ready in $((SECONDS - t0))s"
    fi
    KAFKA_PROXY_TEST_PYTHON="$VENV/bin/python"
    export KAFKA_PROXY_TEST_PYTHON
}

# Prints a free TCP port on 127.0.0.1 (the kernel picks it; racy only in theory).
free_port() {
    "${KAFKA_PROXY_TEST_PYTHON:-python3}" -c \
        'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT SECONDS: waits until 127.0.0.1:PORT accepts a TCP connection.
wait_port() {
    local port=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Apache Kafka, the reference broker (tests/kafka/): its jars from Maven Central, pinned in
# tests/kafka/pom.xml, copied once into .test-env/kafka-$KAFKA_VERSION/libs (the next run reuses
# it, and Maven's own cache in ~/.m2). Needs java (17+) and mvn.
KAFKA_VERSION="4.3.1"
KAFKA_HOME_DIR="$ROOT/.test-env/kafka-$KAFKA_VERSION"

ensure_java() {
    local tool
    for tool in java javac mvn; do
        command -v "$tool" >/dev/null 2>&1 || {
            say "$tool not found: the Kafka tests need Java 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)"
            return 1
        }
    done
}

ensure_kafka() {
    ensure_java
    local libs="$KAFKA_HOME_DIR/libs" pom="$ROOT/tests/kafka/pom.xml"
    if ! stale "$KAFKA_HOME_DIR/.stamp" "$pom"; then
        say "kafka $KAFKA_VERSION jars present: $libs"
    else
        say "resolving kafka $KAFKA_VERSION jars from Maven Central into $libs"
        local t0=$SECONDS
        rm -rf "$libs"
        mkdir -p "$libs"
        mvn -q -B -Dstyle.color=never -f "$ROOT/tests/kafka/pom.xml" dependency:copy-dependencies \
            -DoutputDirectory="$libs" -DincludeScope=runtime
        fresh "$KAFKA_HOME_DIR/.stamp" "$pom"
        say "kafka jars ready in $((SECONDS - t0))s ($(find "$libs" -name '*.jar' | wc -l) jars)"
    fi
    KAFKA_LIBS="$libs"
    export KAFKA_LIBS
}

# stale STAMP FILES...: true when STAMP does not hold the SHA-256 of FILES (concatenated), that
# is, when what those files describe must be built or installed again. `fresh STAMP FILES...`
# records it afterwards.
digest_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stale() { local stamp=$1; shift; [[ ! -f "$stamp" || "$(cat "$stamp")" != "$(digest_of "$@")" ]]; }
fresh() { local stamp=$1; shift; digest_of "$@" >"$stamp"; }

# The Java client driver (tests/clients/java/*.java), compiled against the Kafka jars into
# .test-env/java-driver when its sources change. Run it as
#   java -cp "$KAFKA_PROXY_JAVA_DRIVER:$KAFKA_LIBS/*" Driver COMMAND --bootstrap HOST:PORT ...
ensure_java_driver() {
    ensure_kafka
    local out="$ROOT/.test-env/java-driver"
    local sources=("$ROOT"/tests/clients/java/*.java "$ROOT/tests/kafka/pom.xml")
    if stale "$out/.stamp" "${sources[@]}"; then
        say "compiling the Java client driver into $out"
        rm -rf "$out"
        mkdir -p "$out"
        javac -nowarn -encoding UTF-8 -d "$out" -cp "$KAFKA_LIBS/*" "$ROOT"/tests/clients/java/*.java
        fresh "$out/.stamp" "${sources[@]}"
    fi
    KAFKA_PROXY_JAVA_DRIVER="$out"
    export KAFKA_PROXY_JAVA_DRIVER
}

# The franz-go driver (tests/clients/franz/, a Go module pinned by its go.sum), built with the Go
# module proxy into .test-env/bin/franz-driver when its sources change.
ensure_franz() {
    command -v go >/dev/null 2>&1 || { say "go not found: the franz-go tests need Go"; return 1; }
    local bin="$ROOT/.test-env/bin/franz-driver"
    local sources=("$ROOT"/tests/clients/franz/*.go "$ROOT"/tests/clients/franz/go.*)
    if [[ ! -x "$bin" ]] || stale "$bin.stamp" "${sources[@]}"; then
        say "building the franz-go driver into $bin"
        mkdir -p "$(dirname "$bin")"
        (cd "$ROOT/tests/clients/franz" && go build -mod=readonly -o "$bin" .)
        fresh "$bin.stamp" "${sources[@]}"
    fi
    FRANZ_DRIVER="$bin"
    export FRANZ_DRIVER
}

# KafkaJS 2 from npm (tests/clients/kafkajs/, pinned by its package-lock.json), installed with
# `npm ci` when the lock file changes.
ensure_kafkajs() {
    command -v node >/dev/null 2>&1 || { say "node not found: the KafkaJS tests need Node.js and npm"; return 1; }
    local dir="$ROOT/tests/clients/kafkajs"
    if stale "$dir/node_modules/.kafka-proxy-stamp" "$dir/package-lock.json"; then
        say "installing KafkaJS (npm ci) in $dir"
        (cd "$dir" && npm ci --no-audit --no-fund --silent)
        fresh "$dir/node_modules/.kafka-proxy-stamp" "$dir/package-lock.json"
    fi
    KAFKAJS_DRIVER="$dir/driver.js"
    export KAFKAJS_DRIVER
}
