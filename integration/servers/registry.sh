#!/usr/bin/env bash
# A throwaway schema registry for the integration tests: Apicurio Registry with its
# Confluent-compatible API at http://127.0.0.1:PORT/apis/ccompat/v7, in-memory storage
# (schemas are lost when it stops). Binds to 127.0.0.1 only.
#
#   registry.sh fetch                            get Apicurio with Maven into $W2K_CACHE/apicurio
#                                                (integration/registry/pom.xml): 3.x when a
#                                                Java 21+ is there, else 2.x (runs on Java 17)
#   registry.sh start   DIR PORT [MGMT_PORT]     start, wait until the ccompat API answers
#                                                (MGMT_PORT: Quarkus management, default PORT+1)
#   registry.sh stop    DIR                      SIGTERM, wait for exit (SIGKILL after a deadline)
#   registry.sh kill    DIR                      SIGKILL (a crash)
#   registry.sh restart DIR                      stop + start on the same ports (storage is empty)
#   registry.sh status  DIR                      exit 0 and print the pid when running, 3 when not
#   registry.sh destroy DIR                      stop, then remove DIR
#
# Environment: W2K_CACHE, W2K_APICURIO_LINE (3 or 2: force the major version `fetch` gets),
# W2K_REGISTRY_JAVA (the java binary; default: the Temurin 25 JDK in /usr/lib/jvm, else
# the newest JDK in /usr/lib/jvm or on PATH that is new enough: 21+ for Apicurio 3, 17+
# for 2), W2K_REGISTRY_HEAP (default "-Xms64m -Xmx512m"), W2K_REGISTRY_START_TIMEOUT
# (seconds, default 180), W2K_REGISTRY_STOP_TIMEOUT (default 30).
set -euo pipefail
W2K_SCRIPT=registry.sh
# shellcheck source=integration/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=integration/servers/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/service.sh"
W2K_SVC_NAME=registry
W2K_SVC_PID=registry.pid

APICURIO_DIR="$W2K_CACHE/apicurio"
POM="$W2K_REPO/integration/registry/pom.xml"
START_TIMEOUT="${W2K_REGISTRY_START_TIMEOUT:-180}"
STOP_TIMEOUT="${W2K_REGISTRY_STOP_TIMEOUT:-30}"
API=/apis/ccompat/v7

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# java_major JAVA: the feature version of a java binary (17, 21, 25), or nothing.
java_major() {
    "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

# find_java MIN: print a java binary of version MIN or newer; fail when there is none.
find_java() {
    local min="$1" j v best="" bestv=0
    if [[ -n "${W2K_REGISTRY_JAVA:-}" ]]; then
        v="$(java_major "$W2K_REGISTRY_JAVA" || true)"
        [[ -n "$v" && "$v" -ge "$min" ]] || return 1
        printf '%s\n' "$W2K_REGISTRY_JAVA"
        return 0
    fi
    if [[ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]] && ((min <= 25)); then
        printf '%s\n' /usr/lib/jvm/temurin-25-jdk-amd64/bin/java
        return 0
    fi
    for j in /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
        [[ -x "$j" ]] || continue
        v="$(java_major "$j" || true)"
        if [[ -n "$v" && "$v" -ge "$min" && "$v" -gt "$bestv" ]]; then
            best="$j"
            bestv="$v"
        fi
    done
    [[ -n "$best" ]] || return 1
    printf '%s\n' "$best"
}

# The registry pid, if DIR/registry.pid names a live registry of this DIR (guards against pid reuse).
svc_pid() {
    local dir="$1" pid
    [[ -f "$dir/registry.pid" ]] || return 1
    pid="$(cat "$dir/registry.pid" 2>/dev/null || true)"
    w2k_pid_alive "$pid" || return 1
    w2k_pid_cmdline_has "$pid" "-Dw2k.dir=$dir" || return 1
    printf '%s\n' "$pid"
}

# http_get URL: print "STATUS BODY" of a GET, or fail when nothing answers.
http_get() {
    if command -v curl >/dev/null 2>&1; then
        local out
        out="$(curl -sS --max-time 5 -w '\n%{http_code}' "$1" 2>/dev/null)" || return 1
        printf '%s %s\n' "${out##*$'\n'}" "${out%$'\n'*}"
    else
        python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
EOF
    fi
}

# A real probe: the Confluent-compatible API must list subjects (a JSON array).
probe() {
    local port="$1" out
    out="$(http_get "http://127.0.0.1:$port$API/subjects")" || return 1
    [[ "$out" == "200 ["* ]]
}

cmd_fetch() {
    [[ $# -eq 0 ]] || usage
    local line="${W2K_APICURIO_LINE:-}" stamp tmp archive profile=()
    command -v mvn >/dev/null || w2k_die "mvn not found (install maven: scripts/setup.sh)"
    if [[ -z "$line" ]]; then
        if find_java 21 >/dev/null; then line=3; else line=2; fi
    fi
    case "$line" in
    3) ;;
    2) profile=(-Papicurio2) ;;
    *) w2k_die "W2K_APICURIO_LINE must be 3 or 2, got '$line'" ;;
    esac
    stamp="$(sha256sum "$POM" | cut -d' ' -f1) line $line"
    if [[ -f "$APICURIO_DIR/.w2k-stamp" && "$(cat "$APICURIO_DIR/.w2k-stamp")" == "$stamp" ]] &&
        launcher "$APICURIO_DIR" >/dev/null; then
        w2k_log "Apicurio Registry $line.x already in $APICURIO_DIR"
        return 0
    fi
    mkdir -p "$W2K_CACHE"
    tmp="$(mktemp -d "$W2K_CACHE/apicurio.tmp.XXXXXX")"
    w2k_log "fetching Apicurio Registry $line.x with Maven (integration/registry/pom.xml ${profile[*]}) into $APICURIO_DIR"
    if ! mvn -B -q -Dstyle.color=never -f "$POM" "${profile[@]}" dependency:copy-dependencies \
        -DexcludeTransitive=true -DoutputDirectory="$tmp" >"$W2K_CACHE/apicurio-mvn.log" 2>&1; then
        w2k_tail "$W2K_CACHE/apicurio-mvn.log"
        rm -rf "$tmp"
        w2k_die "Maven could not fetch Apicurio Registry; log: $W2K_CACHE/apicurio-mvn.log"
    fi
    archive="$(compgen -G "$tmp/apicurio-registry-app-*-all.tar.gz" | head -n1 || true)"
    [[ -n "$archive" ]] || { rm -rf "$tmp"; w2k_die "Maven ran but no apicurio-registry-app archive arrived in $tmp"; }
    tar -xzf "$archive" -C "$tmp" --no-same-owner || { rm -rf "$tmp"; w2k_die "cannot unpack $archive"; }
    rm -f "$archive"
    launcher "$tmp" >/dev/null || { rm -rf "$tmp"; w2k_die "the Apicurio archive holds neither quarkus-run.jar nor a *-runner.jar"; }
    echo "$stamp" >"$tmp/.w2k-stamp"
    rm -rf "$APICURIO_DIR"
    mv "$tmp" "$APICURIO_DIR"
    chmod 0755 "$APICURIO_DIR"
    w2k_log "Apicurio Registry $line.x ready in $APICURIO_DIR"
}

# launcher DIR: print "JAR MIN_JAVA" of the unpacked Apicurio in DIR: quarkus-run.jar
# (3.x, a fast-jar, Java 21+) or apicurio-registry-app-*-runner.jar (2.x, Java 17+).
launcher() {
    local jar
    if [[ -f "$1/quarkus-run.jar" ]]; then
        printf '%s 21\n' "$1/quarkus-run.jar"
        return 0
    fi
    jar="$(compgen -G "$1/apicurio-registry-app-*-runner.jar" | head -n1 || true)"
    [[ -n "$jar" ]] || return 1
    printf '%s 17\n' "$jar"
}

cmd_start() {
    [[ $# -eq 2 || $# -eq 3 ]] || usage
    local dir="$1" port="$2" mport="${3:-$(($2 + 1))}" pid java deadline
    w2k_check_port PORT "$port"
    w2k_check_port MGMT_PORT "$mport"
    [[ "$port" != "$mport" ]] || w2k_die "PORT and MGMT_PORT must differ"
    local jar minjava
    read -r jar minjava < <(launcher "$APICURIO_DIR" || true) ||
        w2k_die "no Apicurio Registry in $APICURIO_DIR (run: integration/servers/registry.sh fetch, or scripts/setup.sh; or set W2K_CACHE)"
    java="$(find_java "$minjava")" ||
        w2k_die "no Java $minjava+ for $(basename "$jar") (W2K_REGISTRY_JAVA=${W2K_REGISTRY_JAVA:-unset}): install one, or fetch Apicurio 2.x, which runs on Java 17 (W2K_APICURIO_LINE=2 registry.sh fetch)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if pid="$(svc_pid "$dir")"; then
        w2k_die "a registry already runs from $dir (pid $pid)"
    fi
    for p in "$port" "$mport"; do
        if w2k_port_busy "$p"; then
            w2k_die "port $p on 127.0.0.1 is already in use $(w2k_port_owner "$p")"
        fi
    done
    printf '%s %s\n' "$port" "$mport" >"$dir/ports"

    # Detached: own session, no stdin, output to DIR/registry.log; working directory DIR
    # so nothing lands elsewhere. `setsid` execs java directly, so $! is the JVM.
    # shellcheck disable=SC2086 # W2K_REGISTRY_HEAP is a list of JVM options
    (cd "$dir" && exec setsid "$java" ${W2K_REGISTRY_HEAP:--Xms64m -Xmx512m} \
        -Djava.awt.headless=true -Dw2k.dir="$dir" \
        -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
        -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$mport" \
        -jar "$jar" \
        </dev/null >>"$dir/registry.log" 2>&1) &
    pid=$!
    echo "$pid" >"$dir/registry.pid"

    deadline=$((SECONDS + START_TIMEOUT))
    until probe "$port"; do
        if ! w2k_pid_alive "$pid"; then
            w2k_tail "$dir/registry.log"
            rm -f "$dir/registry.pid"
            w2k_die "Apicurio Registry (pid $pid) exited during startup; see $dir/registry.log"
        fi
        if ((SECONDS >= deadline)); then
            w2k_tail "$dir/registry.log"
            kill -KILL "$pid" 2>/dev/null || true
            w2k_wait_exit "$pid" 10 || true
            rm -f "$dir/registry.pid"
            w2k_die "Apicurio Registry on 127.0.0.1:$port did not answer $API/subjects within ${START_TIMEOUT}s (killed it)"
        fi
        sleep 0.3
    done
    w2k_log "schema registry ready at http://127.0.0.1:$port$API (management $mport, pid $pid, java $(java_major "$java"), dir $dir)"
}

w2k_svc_main "$@"
