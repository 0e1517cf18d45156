#!/usr/bin/env bash
# A throwaway PostgreSQL server (Debian's 15, or any major 10-18) for the tests and benchmarks.
# Binds to 127.0.0.1 only; its Unix socket lives in DIR.
#
#   pg.sh start   DIR PORT              initdb DIR/data (first time only), start, wait until ready
#   pg.sh stop    DIR [fast|immediate|smart]   pg_ctl stop (default fast)
#   pg.sh restart DIR [fast|immediate|smart]   stop with that mode, start again on the same port
#   pg.sh status  DIR                   exit 0 when running, 3 when not
#   pg.sh promote DIR                   promote a standby (pg_ctl promote -w)
#   pg.sh destroy DIR                   stop (fast, then immediate), remove DIR
#
# Authentication: local (Unix socket) connections are trusted; TCP connections
# (127.0.0.1) need a password (scram-sha-256), also for replication. The
# superuser is `postgres`, password $W2K_PG_PASSWORD (default w2k-secret-pw).
# As root, the server runs as the `postgres` system user (initdb refuses root):
# DIR and its parents must then be traversable by that user (e.g. under /tmp).
# Environment: W2K_PG_VERSION (a major, 10-18: the build scripts/setup.sh put in
#              $W2K_CACHE/pg/MAJOR; unset: Debian's 15), W2K_PG_BIN (the server's
#              bin dir, overrides W2K_PG_VERSION; default /usr/lib/postgresql/15/bin),
#              W2K_PG_PASSWORD, W2K_PG_START_TIMEOUT (seconds, default 60).
#              psql and pg_isready come from Debian's 15 (the cached builds have none).
set -euo pipefail
W2K_SCRIPT=pg.sh
# shellcheck source=integration/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEBIAN_PGBIN=/usr/lib/postgresql/15/bin
if [[ -n "${W2K_PG_BIN:-}" ]]; then
    PGBIN="$W2K_PG_BIN"
elif [[ -n "${W2K_PG_VERSION:-}" ]]; then
    [[ "$W2K_PG_VERSION" =~ ^[0-9]+$ ]] || w2k_die "W2K_PG_VERSION must be a major version number (10-18), got '$W2K_PG_VERSION'"
    PGBIN="$W2K_CACHE/pg/$W2K_PG_VERSION/bin"
    [[ -x "$PGBIN/postgres" ]] ||
        w2k_die "no PostgreSQL $W2K_PG_VERSION in $W2K_CACHE/pg/$W2K_PG_VERSION (run scripts/setup.sh; W2K_PG_MAJORS chooses the majors it fetches)"
else
    PGBIN="$DEBIAN_PGBIN"
fi
# Clients: the server's own when it has them, else Debian's (libpq talks to 10-18 alike).
CLIENTBIN="$PGBIN"
[[ -x "$CLIENTBIN/psql" ]] || CLIENTBIN="$DEBIAN_PGBIN"
PASSWORD="${W2K_PG_PASSWORD:-w2k-secret-pw}"
START_TIMEOUT="${W2K_PG_START_TIMEOUT:-60}"

usage() {
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# as_owner CMD...: run CMD as the server's owner, from DIR (the postgres user
# may not be able to read the caller's working directory).
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

set_dir() {
    DIR="$1"
    [[ -n "$DIR" ]] || usage
    DATA="$DIR/data"
    LOG="$DIR/postgres.log"
    # A data dir belongs to one major: the bin dir it was created with is kept in
    # DIR/pgbin and used for everything after (restart, stop, destroy).
    if [[ -f "$DIR/pgbin" && -f "$DATA/PG_VERSION" ]]; then
        PGBIN="$(cat "$DIR/pgbin")"
        CLIENTBIN="$PGBIN"
        [[ -x "$CLIENTBIN/psql" ]] || CLIENTBIN="$DEBIAN_PGBIN"
    fi
}

is_running() {
    [[ -f "$DATA/postmaster.pid" ]] || return 1
    as_owner "$PGBIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

init_cluster() {
    local pwfile
    [[ -f "$DATA/PG_VERSION" ]] && return 0
    pwfile="$DIR/.pwfile"
    (umask 077 && printf '%s\n' "$PASSWORD" >"$pwfile")
    if [[ $EUID -eq 0 ]]; then chown postgres: "$pwfile"; fi
    if ! as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        w2k_tail "$DIR/initdb.log"
        w2k_die "initdb of $DATA failed"
    fi
    rm -f "$pwfile"
    echo "$PGBIN" >"$DIR/pgbin"
    as_owner tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by integration/servers/pg.sh.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
local   replication  all                  trust
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
EOF
    # Settings live in an included file, so ALTER SYSTEM (postgresql.auto.conf,
    # read last) can still override them in a test.
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<'EOF'

# Added by integration/servers/pg.sh
include_if_exists = 'w2k.conf'
EOF
}

write_settings() {
    local port="$1"
    as_owner tee "$DATA/w2k.conf" >/dev/null <<EOF
# Written by integration/servers/pg.sh on every start.
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
fsync = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
EOF
    echo "$port" >"$DIR/port"
}

wait_ready() {
    local port="$1" deadline err=""
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        if "$CLIENTBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; then
            # A real query over TCP, with the password: the server is ready for clients.
            if err="$(PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=5 "$CLIENTBIN/psql" -X -q -A -t \
                -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'select 1' 2>&1)" &&
                [[ "$err" == 1 ]]; then
                return 0
            fi
        fi
        if ! is_running; then
            w2k_tail "$LOG"
            w2k_die "PostgreSQL in $DATA exited during startup; see $LOG"
        fi
        if ((SECONDS >= deadline)); then
            w2k_tail "$LOG"
            if [[ -n "$err" ]]; then w2k_log "last psql output: $err"; fi
            w2k_die "PostgreSQL on 127.0.0.1:$port was not ready within ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
}

cmd_start() {
    [[ $# -eq 2 ]] || usage
    set_dir "$1"
    local port="$2"
    w2k_check_port PORT "$port"
    [[ -x "$PGBIN/initdb" ]] || w2k_die "no PostgreSQL binaries in $PGBIN (run scripts/setup.sh, or set W2K_PG_BIN)"
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || w2k_die "running as root needs the 'postgres' system user (install postgresql-15)"
    fi
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
    set_dir "$DIR"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$DIR"
        chmod 0755 "$DIR"
        runuser -u postgres -- test -x "$DIR" ||
            w2k_die "the postgres user cannot enter $DIR: use a directory under /tmp (or make its parents traversable)"
    fi
    if is_running; then
        w2k_die "a PostgreSQL server already runs from $DATA"
    fi
    if w2k_port_busy "$port"; then
        w2k_die "port $port on 127.0.0.1 is already in use $(w2k_port_owner "$port")"
    fi
    init_cluster
    write_settings "$port"
    if [[ $EUID -eq 0 ]]; then
        touch "$LOG"
        chown postgres: "$DIR/port" "$LOG"
    fi
    # pg_ctl -w watches postmaster.pid and fails early if the postmaster dies;
    # wait_ready then checks what clients see.
    if ! as_owner "$PGBIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" \
        >"$DIR/pg_ctl.log" 2>&1; then
        w2k_tail "$DIR/pg_ctl.log" 10
        w2k_tail "$LOG"
        w2k_die "PostgreSQL in $DATA did not start (pg_ctl start failed); see $LOG"
    fi
    wait_ready "$port"
    w2k_log "PostgreSQL ready on 127.0.0.1:$port (socket dir $DIR)"
}

cmd_stop() {
    [[ $# -ge 1 && $# -le 2 ]] || usage
    set_dir "$1"
    local mode="${2:-fast}"
    case "$mode" in fast | immediate | smart) ;; *) w2k_die "stop mode must be fast, immediate or smart, got '$mode'" ;; esac
    [[ -d "$DATA" ]] || return 0
    DIR="$(cd "$DIR" && pwd)"
    set_dir "$DIR"
    is_running || return 0
    if ! as_owner "$PGBIN/pg_ctl" stop -D "$DATA" -m "$mode" -w -t "$START_TIMEOUT" >/dev/null 2>&1; then
        if [[ "$mode" != immediate ]]; then
            w2k_log "pg_ctl stop -m $mode failed or timed out; trying -m immediate"
            as_owner "$PGBIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 >/dev/null 2>&1 ||
                w2k_die "could not stop PostgreSQL in $DATA"
        else
            w2k_die "could not stop PostgreSQL in $DATA"
        fi
    fi
}

cmd_restart() {
    [[ $# -ge 1 && $# -le 2 ]] || usage
    set_dir "$1"
    [[ -f "$DIR/port" ]] || w2k_die "$DIR has no server (no $DIR/port): use start"
    local port
    port="$(cat "$DIR/port")"
    cmd_stop "$@"
    cmd_start "$1" "$port"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    set_dir "$1"
    if [[ -d "$DATA" ]] && is_running; then
        echo "running (port $(cat "$DIR/port" 2>/dev/null || echo '?'))"
        return 0
    fi
    echo "stopped"
    return 3
}

cmd_promote() {
    [[ $# -eq 1 ]] || usage
    set_dir "$1"
    is_running || w2k_die "no PostgreSQL server runs from $DATA"
    as_owner "$PGBIN/pg_ctl" promote -D "$DATA" -w -t "$START_TIMEOUT" >/dev/null ||
        w2k_die "pg_ctl promote of $DATA failed; see $LOG"
}

cmd_destroy() {
    [[ $# -eq 1 ]] || usage
    set_dir "$1"
    [[ -d "$DIR" ]] || return 0
    cmd_stop "$DIR" fast
    rm -rf -- "$DIR"
}

[[ $# -ge 1 ]] || usage
cmd="$1"
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
restart) cmd_restart "$@" ;;
status) cmd_status "$@" ;;
promote) cmd_promote "$@" ;;
destroy) cmd_destroy "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
