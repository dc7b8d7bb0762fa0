#!/usr/bin/env bash
# kafka-proxy against Apache Kafka with the Java producer's own perf tool (issue 17):
# `kafka-producer-perf-test` (org.apache.kafka.tools.ProducerPerformance), 1 KiB records, sent
# straight to the broker and through kafka-proxy, alternately, in one run.
#
#   scripts/bench-kafka.sh [--records N] [--rounds R] [--acks 1,all] [--partitions P]
#                          [--perf-stat] [--keep]
#
#   --records N     records per measured run (default 500000, about 10 s a run on 2 busy cores)
#   --rounds R      rounds; each round runs every acks setting once directly and once through
#                   the proxy, the order of the two paths swapped every other round (default 3)
#   --acks LIST     the producer's acks settings to measure, comma-separated (default 1,all)
#   --partitions P  partitions of the benchmark topic (default 1)
#   --perf-stat     after the rounds, one more run per path and acks setting with `perf stat`
#                   attached to the broker and kafka-proxy: their context switches and system
#                   calls per record
#   --keep          keep the temp dir (broker and proxy logs, raw results) and print its path
#
# What it does: starts one KRaft Apache Kafka node (combined broker and controller, the jars of
# tests/kafka/pom.xml, see ensure_kafka in scripts/lib.sh) on free loopback ports in a temp dir,
# with two PLAINTEXT listeners: DIRECT advertises 127.0.0.1:port, PROXIED advertises
# broker-1.invalid:port, a name that resolves nowhere, so a producer that goes through
# kafka-proxy can only reach the broker if the proxy rewrote every address it was given (no run
# silently bypasses the proxy). It builds kafka-proxy (`cargo build --release`) and starts
# `kafka-proxy server` in front of the PROXIED listener with default flags, checks both paths
# with a short produce, warms both up, then measures. The producer runs with its defaults
# (linger.ms, batch.size, compression none) plus `acks`, `--throughput -1` (as fast as it can).
#
# It prints Markdown tables: per path and acks the medians over the rounds of records/s, MB/s
# (the tool's MB: 2^20 bytes of record payload), the tool's avg and p99 latency, the proxy/direct
# ratio of records/s (ratio of the medians, and the median and range of the per-round ratios),
# and the CPU seconds per GB (10^9 bytes of record payload) of the broker, the client and kafka-proxy, from
# /proc/PID/stat and /usr/bin/time, with the cores the three used together during the run. The
# load average at start and end and the core count are printed with it: the broker, the client
# and the proxy share this machine's cores, and other work skews every figure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

records=500000
rounds=3
acks_list=1,all
partitions=1
perf_stat=0
keep=0
while (($# > 0)); do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --acks) acks_list=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --perf-stat) perf_stat=1; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) say "unknown option $1 (see --help)"; exit 2 ;;
    esac
done
IFS=, read -r -a acks_values <<<"$acks_list"

ensure_kafka
if ((perf_stat)) && ! command -v perf >/dev/null 2>&1; then
    say "--perf-stat needs perf (apt-get install linux-perf)"
    exit 1
fi
say "building kafka-proxy (release)"
cargo build --release --quiet --bin kafka-proxy
proxy_bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/kafka-proxy"

work="$(mktemp -d "${TMPDIR:-/tmp}/kafka-proxy-bench-kafka.XXXXXX")"
broker_pid=""
proxy_pid=""
perf_pid=""
perf_pid2=""
cleanup() {
    local pid
    for pid in "$perf_pid" "$perf_pid2" "$proxy_pid" "$broker_pid"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "$perf_pid" "$perf_pid2" "$proxy_pid" "$broker_pid"; do
        [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
    done
    if ((keep)); then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The JVM flags of Kafka's own scripts (kafka-run-class.sh, kafka-server-start.sh and
# kafka-producer-perf-test.sh), not the quick-start ones of the tests.
jvm=(java -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/tests/kafka/log4j2.yaml" -cp "$KAFKA_LIBS/*")

controller_port=$(free_port)
direct_port=$(free_port)
proxied_port=$(free_port)
proxy_port=$(free_port)
http_port=$(free_port)
direct="127.0.0.1:$direct_port"
proxied="127.0.0.1:$proxy_port"
topic=bench

cat >"$work/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=DIRECT
listeners=CONTROLLER://127.0.0.1:$controller_port,DIRECT://127.0.0.1:$direct_port,PROXIED://127.0.0.1:$proxied_port
advertised.listeners=DIRECT://127.0.0.1:$direct_port,PROXIED://broker-1.invalid:$proxied_port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,DIRECT:PLAINTEXT,PROXIED:PLAINTEXT
log.dirs=$work/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
log.retention.check.interval.ms=10000
EOF

say "formatting KRaft storage in $work/data"
cluster_id="$("${jvm[@]}" -Xmx256m kafka.tools.StorageTool random-uuid)"
"${jvm[@]}" -Xmx256m kafka.tools.StorageTool format --cluster-id "$cluster_id" \
    --config "$work/server.properties" >"$work/format.log" 2>&1 \
    || { cat "$work/format.log" >&2; exit 1; }

say "starting Apache Kafka $KAFKA_VERSION (direct $direct, proxied listener 127.0.0.1:$proxied_port)"
"${jvm[@]}" -Xmx1g -Xms1g "-Dkafka.logs.dir=$work" kafka.Kafka "$work/server.properties" \
    </dev/null >"$work/broker.log" 2>&1 &
broker_pid=$!
if ! wait_port "$direct_port" 90; then
    tail -40 "$work/broker.log" >&2
    say "the broker did not listen on $direct within 90 s"
    exit 1
fi

say "starting kafka-proxy on $proxied"
"$proxy_bin" server \
    --bootstrap-server-mapping "broker-1.invalid:$proxied_port,$proxied" \
    --dial-address-mapping "broker-1.invalid:$proxied_port,127.0.0.1:$proxied_port" \
    --http-listen-address "127.0.0.1:$http_port" \
    </dev/null >"$work/proxy.log" 2>&1 &
proxy_pid=$!
if ! wait_port "$proxy_port" 20; then
    cat "$work/proxy.log" >&2
    say "kafka-proxy did not listen on $proxied within 20 s"
    exit 1
fi

"${jvm[@]}" -Xmx256m org.apache.kafka.tools.TopicCommand --bootstrap-server "$direct" --create \
    --topic "$topic" --partitions "$partitions" --replication-factor 1 \
    --config retention.bytes=1073741824 --config segment.bytes=268435456 >"$work/topic.log" 2>&1 \
    || { cat "$work/topic.log" >&2; exit 1; }

clk_tck=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# busy_ticks: CPU time the whole machine spent not idle (all cores), in clock ticks.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

results="$work/results.tsv"
: >"$results"

# produce PATH ACKS COUNT LABEL: one ProducerPerformance run; appends a line to $results
# (label path acks records/s MB/s avg-ms p99-ms wall-s broker-cpu-s proxy-cpu-s client-cpu-s
# machine-busy-s).
produce() {
    local path=$1 acks=$2 count=$3 label=$4 bootstrap out
    [[ $path == direct ]] && bootstrap=$direct || bootstrap=$proxied
    out="$work/run-$label-$path-acks$acks.log"
    local b0 p0 m0 t0 b1 p1 m1 t1
    m0=$(busy_ticks)
    b0=$(cpu_ticks "$broker_pid")
    p0=$(cpu_ticks "$proxy_pid")
    t0=$(date +%s.%N)
    if ! timeout 300 /usr/bin/time -f '%U %S' -o "$out.time" \
        "${jvm[@]}" -Xmx512m org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
        --num-records "$count" --record-size 1024 --throughput -1 \
        --producer-props "bootstrap.servers=$bootstrap" "acks=$acks" \
        >"$out" 2>&1; then
        tail -20 "$out" >&2
        say "ProducerPerformance failed ($path, acks=$acks)"
        return 1
    fi
    t1=$(date +%s.%N)
    b1=$(cpu_ticks "$broker_pid")
    p1=$(cpu_ticks "$proxy_pid")
    m1=$(busy_ticks)
    # "2000000 records sent, 190476.2 records/sec (186.01 MB/sec), 150.2 ms avg latency,
    #  800.0 ms max latency, 120 ms 50th, 300 ms 95th, 400 ms 99th, 500 ms 99.9th."
    local summary
    summary=$(grep -E "^$count records sent" "$out" | tail -1)
    if [[ -z "$summary" ]] || { [[ $label == check ]] && grep -qiE 'exception|error' "$out"; }; then
        tail -20 "$out" >&2
        say "ProducerPerformance reported errors ($path, acks=$acks): $out"
        return 1
    fi
    if grep -qiE 'exception|error' "$out"; then
        say "warning: the producer logged errors ($label $path acks=$acks):" \
            "$(grep -iE 'exception|error' "$out" | head -2)"
    fi
    awk -v label="$label" -v path="$path" -v acks="$acks" -v wall="$(echo "$t1 - $t0" | bc)" \
        -v bcpu="$((b1 - b0))" -v pcpu="$((p1 - p0))" -v mcpu="$((m1 - m0))" -v tck="$clk_tck" \
        -v client="$(awk '{ print $1 + $2 }' "$out.time")" '{
            gsub(/[(),]/, " ")
            for (i = 1; i <= NF; i++) {
                if ($(i + 1) == "records/sec") rps = $i
                if ($(i + 1) == "MB/sec") mbps = $i
                if ($(i + 1) == "ms" && $(i + 2) == "avg") avg = $i
                if ($(i + 1) == "ms" && $(i + 2) == "99th") p99 = $i
            }
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\n", label, path, acks,
                rps, mbps, avg, p99, wall, bcpu / tck, pcpu / tck, client, mcpu / tck
        }' <<<"$summary" >>"$results"
    say "$label $path acks=$acks: $summary"
}

say "checking both paths with 1000 records"
for path in direct proxy; do
    produce "$path" 1 1000 check
done
if ! grep -q . "$work/proxy.log"; then
    say "warning: kafka-proxy logged nothing"
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average $load_start on $(nproc) cores"
warm=$((records / 5 > 200000 ? 200000 : records / 5))
say "warming up both paths ($warm records each)"
for acks in "${acks_values[@]}"; do
    for path in direct proxy; do
        produce "$path" "$acks" "$warm" warmup
    done
done

for ((round = 1; round <= rounds; round++)); do
    order=(direct proxy)
    ((round % 2 == 0)) && order=(proxy direct)
    for acks in "${acks_values[@]}"; do
        for path in "${order[@]}"; do
            produce "$path" "$acks" "$records" "round$round"
        done
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

perf_results="$work/perf-stat.tsv"
: >"$perf_results"
# perf_counts FILE: "context-switches<TAB>system-calls" from a `perf stat -x,` output.
perf_counts() {
    awk -F, '$3 == "context-switches" { cs = $1 } $3 ~ /sys_enter/ { sc = $1 }
        END { printf "%s\t%s", cs, sc }' "$1"
}
if ((perf_stat)); then
    for acks in "${acks_values[@]}"; do
        for path in direct proxy; do
            csv="$work/perf-$path-acks$acks"
            perf stat -x, -e context-switches,raw_syscalls:sys_enter -p "$broker_pid" \
                -o "$csv.broker.csv" &
            perf_pid=$!
            if [[ $path == proxy ]]; then
                perf stat -x, -e context-switches,raw_syscalls:sys_enter -p "$proxy_pid" \
                    -o "$csv.proxy.csv" &
                perf_pid2=$!
            fi
            sleep 0.5
            produce "$path" "$acks" "$records" perfstat
            kill -INT "$perf_pid" ${perf_pid2:+"$perf_pid2"}
            wait "$perf_pid" ${perf_pid2:+"$perf_pid2"} || true
            perf_pid=""
            perf_pid2=""
            printf '%s\t%s\t%s\t%s\t%s\n' "$acks" "$path" \
                "$(tail -1 "$results" | cut -f4)" "$(perf_counts "$csv.broker.csv")" \
                "$([[ $path == proxy ]] && perf_counts "$csv.proxy.csv" || printf '\t')" \
                >>"$perf_results"
        done
    done
fi

threads=$(awk '/^Threads/ { print $2 }' "/proc/$proxy_pid/status")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

python3 - "$results" "$perf_results" <<EOF
import statistics, sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
perf = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
acks_values = "$acks_list".split(",")
records = $records
gb = records * 1024 / 1e9

def table(header, body):
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    line = lambda cells: print("| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |")
    line(header)
    line(["-" * w for w in widths])
    for r in body:
        line(r)
    print()

print("## kafka-proxy against Apache Kafka: kafka-producer-perf-test")
print()
print(f"Machine: $(nproc) × {'''$cpu_model'''}, Linux $(uname -r), Apache Kafka $KAFKA_VERSION (one KRaft node), "
      f"$(java -version 2>&1 | head -1 | tr -d '"'), kafka-proxy $(git rev-parse --short HEAD) with default flags.")
print(f"Settings: {records} records of 1024 bytes per run, --throughput -1, producer defaults "
      f"(linger.ms, batch.size, no compression), topic with $partitions partition(s), "
      f"$rounds rounds (direct and proxy alternate, order swapped every other round; medians). "
      f"Load average $load_start at start, $load_end at end.")
print()
body = []
for acks in acks_values:
    med = {}
    for path in ("direct", "proxy"):
        rs = [r for r in rows if r[0].startswith("round") and r[1] == path and r[2] == acks]
        if not rs:
            continue
        col = lambda i: statistics.median(float(r[i]) for r in rs)
        med[path] = dict(rps=col(3), mbps=col(4), avg=col(5), p99=col(6), wall=col(7),
                         broker=col(8), proxy=col(9), client=col(10),
                         cores=statistics.median((float(r[8]) + float(r[9]) + float(r[10])) / float(r[7]) for r in rs),
                         others=statistics.median(max(0.0, float(r[11]) - float(r[8]) - float(r[9]) - float(r[10])) / float(r[7]) for r in rs))
    if "direct" not in med or "proxy" not in med:
        continue
    ratios = []
    for rnd in sorted({r[0] for r in rows if r[0].startswith("round")}):
        d = [float(r[3]) for r in rows if r[0] == rnd and r[1] == "direct" and r[2] == acks]
        p = [float(r[3]) for r in rows if r[0] == rnd and r[1] == "proxy" and r[2] == acks]
        if d and p:
            ratios.append(p[0] / d[0])
    for path in ("direct", "proxy"):
        m = med[path]
        ratio = m["rps"] / med["direct"]["rps"]
        body.append([
            acks, "direct" if path == "direct" else "kafka-proxy",
            f"{m['rps']:.0f}", f"{m['mbps']:.1f}", f"{m['avg']:.1f}", f"{m['p99']:.0f}",
            f"{ratio:.3f}" if path == "proxy" else "1.000",
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})" if path == "proxy" else "",
            f"{m['broker'] / gb:.2f}", f"{m['client'] / gb:.2f}",
            f"{m['proxy'] / gb:.2f}" if path == "proxy" else "–",
            f"{m['cores']:.2f}", f"{m['others']:.2f}",
        ])
table(["acks", "path", "records/s", "MB/s", "avg ms", "p99 ms", "vs direct", "per-round ratio",
       "broker CPU s/GB", "client CPU s/GB", "proxy CPU s/GB", "cores used", "others' cores"], body)
print("vs direct: median records/s over median direct records/s; per-round ratio: each "
      "round's proxy/direct ratio, median (range). CPU s/GB: CPU seconds (user + system) per 10^9 bytes of record "
      "payload (the client's includes its JVM's start); cores used: (broker + client + proxy CPU "
      "seconds) / wall seconds of the run; others' cores: the machine's other busy CPU time "
      "(other processes, the kernel's softirq work not charged to ours) / wall seconds. "
      "Target of issue 17: vs direct >= 0.95.")
print()
body = []
for rnd in sorted({r[0] for r in rows if r[0].startswith("round")}, key=lambda x: int(x[5:])):
    for acks in acks_values:
        d = [r for r in rows if r[0] == rnd and r[1] == "direct" and r[2] == acks]
        p = [r for r in rows if r[0] == rnd and r[1] == "proxy" and r[2] == acks]
        if d and p:
            body.append([rnd[5:], acks, f"{float(d[0][3]):.0f}", f"{float(p[0][3]):.0f}",
                         f"{float(p[0][3]) / float(d[0][3]):.3f}"])
print("Each round (records/s):")
print()
table(["round", "acks", "direct", "kafka-proxy", "ratio"], body)
if perf:
    body = []
    for acks, path, rps, bcs, bsc, pcs, psc in perf:
        n = float(records)
        fmt = lambda v: f"{float(v) / n:.3f}" if v not in ("", "<not counted>", "<not supported>") else "–"
        body.append([acks, "direct" if path == "direct" else "kafka-proxy", f"{float(rps):.0f}",
                     fmt(bcs), fmt(bsc), fmt(pcs), fmt(psc)])
    print("Under \`perf stat\` (one extra run per path and acks setting, not in the tables above; "
          "per record, the broker's and kafka-proxy's context switches and system calls):")
    print()
    table(["acks", "path", "records/s", "broker cs", "broker syscalls", "proxy cs", "proxy syscalls"], body)
print(f"kafka-proxy threads at the end: $threads.")
EOF
