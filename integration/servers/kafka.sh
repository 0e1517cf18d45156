#!/usr/bin/env bash
# A throwaway single-node Apache Kafka broker (KRaft, combined broker+controller)
# for the integration tests and benchmarks. Binds to 127.0.0.1 only.
#
#   kafka.sh start   DIR PORT CONTROLLER_PORT   format DIR (first time only), start, wait until ready
#   kafka.sh stop    DIR                        SIGTERM, wait for exit (SIGKILL after a deadline)
#   kafka.sh kill    DIR                        SIGKILL (a crash), wait for exit
#   kafka.sh restart DIR                        stop + start on the same ports; topics and data kept
#   kafka.sh status  DIR                        exit 0 and print the pid when running, exit 3 when not
#   kafka.sh destroy DIR                        stop, then remove DIR
#
# The broker jars come from scripts/setup.sh ($W2K_CACHE/kafka, default .cache/kafka).
# Environment: W2K_CACHE, W2K_JAVA (java binary), W2K_KAFKA_HEAP (default "-Xms512m -Xmx1g"),
#              W2K_KAFKA_START_TIMEOUT (seconds, default 180), W2K_KAFKA_STOP_TIMEOUT (default 60).
# Variants (unset: the plain broker above). The PLAINTEXT listener on PORT always stays:
#   W2K_KAFKA_EXTRA_CONFIG=FILE  broker properties appended to DIR/server.properties (a later
#                                line wins, e.g. listeners=... adding SSL/SASL listeners);
#                                kept as DIR/extra.properties, so restart reuses it
#   W2K_KAFKA_ADD_SCRAM=CRED     SCRAM credentials created when DIR is formatted (first start),
#                                e.g. 'SCRAM-SHA-512=[name=alice,password=secret]'; several:
#                                one per line (kafka-storage format --add-scram)
#   W2K_KAFKA_CLUSTER_ID=ID      the cluster id DIR is formatted with (first start; default: a
#                                random one): the nodes of one multi-node cluster share it, their
#                                node.id and controller.quorum.voters come in W2K_KAFKA_EXTRA_CONFIG
set -euo pipefail
W2K_SCRIPT=kafka.sh
# shellcheck source=integration/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=integration/servers/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/service.sh"
W2K_SVC_NAME=broker
W2K_SVC_PID=kafka.pid

JAVA="${W2K_JAVA:-java}"
KAFKA_LIB="$W2K_CACHE/kafka"
START_TIMEOUT="${W2K_KAFKA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${W2K_KAFKA_STOP_TIMEOUT:-60}"

usage() {
    sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The broker pid, if DIR/kafka.pid names a live broker of this DIR (guards against pid reuse).
svc_pid() {
    local dir="$1" pid
    [[ -f "$dir/kafka.pid" ]] || return 1
    pid="$(cat "$dir/kafka.pid" 2>/dev/null || true)"
    w2k_pid_alive "$pid" || return 1
    w2k_pid_cmdline_has "$pid" "$dir/server.properties" || return 1
    printf '%s\n' "$pid"
}

write_config() {
    local dir="$1" port="$2" cport="$3"
    cat >"$dir/server.properties" <<EOF
# Written by integration/servers/kafka.sh: single-node KRaft test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
log.retention.check.interval.ms=30000
# After a SIGKILL the restarted broker waits for its old registration's session
# to expire before it is caught up: keep that short (default 9 s) for fault tests.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
log.cleaner.backoff.ms=1000
EOF
    if [[ -n "${W2K_KAFKA_EXTRA_CONFIG:-}" ]]; then
        [[ -f "$W2K_KAFKA_EXTRA_CONFIG" ]] ||
            w2k_die "W2K_KAFKA_EXTRA_CONFIG=$W2K_KAFKA_EXTRA_CONFIG is not a file"
        [[ "$W2K_KAFKA_EXTRA_CONFIG" -ef "$dir/extra.properties" ]] ||
            cp "$W2K_KAFKA_EXTRA_CONFIG" "$dir/extra.properties"
    fi
    if [[ -f "$dir/extra.properties" ]]; then
        {
            printf '\n# From W2K_KAFKA_EXTRA_CONFIG (kept as %s)\n' "$dir/extra.properties"
            cat "$dir/extra.properties"
        } >>"$dir/server.properties"
    fi
    printf '%s %s\n' "$port" "$cport" >"$dir/ports"
}

format_storage() {
    local dir="$1" cp="$2" id
    if [[ -f "$dir/data/meta.properties" ]]; then
        return 0 # already formatted: keep topics and data
    fi
    local scram=() cred
    while IFS= read -r cred; do
        [[ -n "$cred" ]] && scram+=(--add-scram "$cred")
    done <<<"${W2K_KAFKA_ADD_SCRAM:-}"
    id="${W2K_KAFKA_CLUSTER_ID:-}"
    if [[ -z "$id" ]]; then
        id="$("$JAVA" -cp "$cp" kafka.tools.StorageTool random-uuid 2>>"$dir/format.log")" ||
            { w2k_tail "$dir/format.log"; w2k_die "kafka.tools.StorageTool random-uuid failed"; }
    fi
    if ! "$JAVA" -Dlog4j2.configurationFile="$W2K_REPO/integration/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool format \
        -t "$id" -c "$dir/server.properties" "${scram[@]}" >>"$dir/format.log" 2>&1; then
        w2k_tail "$dir/format.log"
        w2k_die "formatting Kafka storage in $dir/data failed"
    fi
}

# A real probe: broker metadata over the PLAINTEXT listener must list this node (its
# node.id: 1, or the last node.id line of a cluster node's config) at PORT.
probe() {
    local dir="$1" port="$2" out node
    node="$(sed -n 's/^node\.id=//p' "$dir/server.properties" | tail -n 1)"
    out="$(kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null)" || return 1
    grep -q "broker ${node:-1} at 127.0.0.1:$port" <<<"$out"
}

cmd_start() {
    [[ $# -eq 3 ]] || usage
    local dir="$1" port="$2" cport="$3" pid cp deadline
    w2k_check_port PORT "$port"
    w2k_check_port CONTROLLER_PORT "$cport"
    command -v kcat >/dev/null || w2k_die "kcat not found (install it: scripts/setup.sh)"
    command -v "$JAVA" >/dev/null || w2k_die "java not found (install it: scripts/setup.sh)"
    compgen -G "$KAFKA_LIB/kafka_2.13-*.jar" >/dev/null ||
        w2k_die "no Kafka jars in $KAFKA_LIB (run scripts/setup.sh, or set W2K_CACHE)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if pid="$(svc_pid "$dir")"; then
        w2k_die "a broker already runs from $dir (pid $pid)"
    fi
    for p in "$port" "$cport"; do
        if w2k_port_busy "$p"; then
            w2k_die "port $p on 127.0.0.1 is already in use $(w2k_port_owner "$p")"
        fi
    done
    cp="$KAFKA_LIB/*"
    write_config "$dir" "$port" "$cport"
    format_storage "$dir" "$cp"

    # Detached: own session, no stdin, output to files in DIR. `setsid` execs java
    # directly (this background job is never a process-group leader), so $! is java.
    # shellcheck disable=SC2086 # W2K_KAFKA_HEAP is a list of JVM options
    setsid "$JAVA" ${W2K_KAFKA_HEAP:--Xms512m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$W2K_REPO/integration/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$dir" \
        -cp "$cp" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/kafka.pid"

    deadline=$((SECONDS + START_TIMEOUT))
    until probe "$dir" "$port"; do
        if ! w2k_pid_alive "$pid"; then
            w2k_tail "$dir/server.log"
            w2k_tail "$dir/stdout.log" 20
            rm -f "$dir/kafka.pid"
            w2k_die "the Kafka broker (pid $pid) exited during startup; see $dir/server.log"
        fi
        if ((SECONDS >= deadline)); then
            w2k_tail "$dir/server.log"
            w2k_tail "$dir/stdout.log" 20
            kill -KILL "$pid" 2>/dev/null || true
            w2k_wait_exit "$pid" 10 || true
            rm -f "$dir/kafka.pid"
            w2k_die "the Kafka broker on 127.0.0.1:$port was not ready within ${START_TIMEOUT}s (killed it)"
        fi
        sleep 0.2
    done
    w2k_log "Kafka broker ready on 127.0.0.1:$port (controller $cport, pid $pid, dir $dir)"
}

w2k_svc_main "$@"
