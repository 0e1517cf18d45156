# shellcheck shell=bash
# Helpers shared by integration/servers/pg.sh and kafka.sh. Source, don't run.

W2K_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
W2K_CACHE="${W2K_CACHE:-$W2K_REPO/.cache}"

w2k_log() { printf '%s: %s\n' "${W2K_SCRIPT:-w2k}" "$*" >&2; }

w2k_die() {
    printf '%s: error: %s\n' "${W2K_SCRIPT:-w2k}" "$*" >&2
    exit 1
}

# w2k_tail FILE [N]: print the last N lines of FILE (indented) to stderr, if it exists.
w2k_tail() {
    local f="$1" n="${2:-40}"
    if [[ -s "$f" ]]; then
        printf -- '--- last %s lines of %s ---\n' "$n" "$f" >&2
        tail -n "$n" "$f" | sed 's/^/    /' >&2
        printf -- '--- end of %s ---\n' "$f" >&2
    else
        printf -- '(%s is missing or empty)\n' "$f" >&2
    fi
}

# w2k_pid_alive PID: true while any thread of process PID runs (not a zombie).
# Checks every task: a JVM's leader thread can show as a zombie (Z) while the
# rest of the process is still shutting down and holding its ports.
w2k_pid_alive() {
    local pid="$1" st state
    [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -d "/proc/$pid" ]] || return 1
    for st in /proc/"$pid"/task/*/stat; do
        # Field 3 is the state; the comm field (2) may hold spaces and parentheses.
        state="$(sed 's/^.*) //' "$st" 2>/dev/null | cut -d' ' -f1)" || continue
        if [[ -n "$state" && "$state" != Z && "$state" != X ]]; then
            return 0
        fi
    done
    return 1
}

# w2k_pid_cmdline_has PID WORD: true when PID's command line contains WORD.
w2k_pid_cmdline_has() {
    local pid="$1" word="$2"
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word"
}

# w2k_wait_exit PID SECONDS: wait until PID is gone; false if still there at the deadline.
w2k_wait_exit() {
    local pid="$1" secs="$2" deadline
    deadline=$((SECONDS + secs))
    while w2k_pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    return 0
}

w2k_check_port() {
    local name="$1" port="$2"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        w2k_die "$name must be a TCP port number (1-65535), got '$port'"
    fi
}

# w2k_port_busy PORT: true when something already listens on 127.0.0.1:PORT.
w2k_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# w2k_port_owner PORT: who listens on PORT (for error messages), if ss can tell.
w2k_port_owner() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3 || true
    fi
}
