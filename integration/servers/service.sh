# shellcheck shell=bash
# stop, kill, restart, status and destroy for a server that runs as one process
# (the Kafka broker, the schema registry). Source after common.sh, once the script
# has defined:
#   W2K_SVC_NAME   what to call it in messages ("broker", "registry")
#   W2K_SVC_PID    the pid file's name inside the server's dir ("kafka.pid")
#   svc_pid DIR    print the pid of the server of DIR when it runs, else fail
#   STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL
#   cmd_start DIR PORT PORT2   (ports also written to DIR/ports as "PORT PORT2")

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" pid
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd)"
    if ! pid="$(svc_pid "$dir")"; then
        rm -f "$dir/$W2K_SVC_PID"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! w2k_wait_exit "$pid" "$STOP_TIMEOUT"; then
        w2k_log "$W2K_SVC_NAME pid $pid did not stop within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        w2k_wait_exit "$pid" 30 || w2k_die "$W2K_SVC_NAME pid $pid survives SIGKILL"
    fi
    rm -f "$dir/$W2K_SVC_PID"
}

cmd_kill() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" pid
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd)"
    if pid="$(svc_pid "$dir")"; then
        kill -KILL "$pid" 2>/dev/null || true
        w2k_wait_exit "$pid" 30 || w2k_die "$W2K_SVC_NAME pid $pid survives SIGKILL"
    fi
    rm -f "$dir/$W2K_SVC_PID"
}

cmd_restart() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" port port2
    [[ -f "$dir/ports" ]] || w2k_die "$dir has no $W2K_SVC_NAME (no $dir/ports): use start"
    read -r port port2 <"$dir/ports"
    cmd_stop "$dir"
    cmd_start "$dir" "$port" "$port2"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" pid
    if [[ -d "$dir" ]] && pid="$(svc_pid "$(cd "$dir" && pwd)")"; then
        echo "running (pid $pid)"
        return 0
    fi
    echo "stopped"
    return 3
}

cmd_destroy() {
    [[ $# -eq 1 ]] || usage
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    cmd_stop "$dir"
    rm -rf -- "$dir"
}

# w2k_svc_main ARGS...: run the command named by the first argument; "fetch" only
# where the script defines cmd_fetch.
w2k_svc_main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"
    shift
    case "$cmd" in
    fetch)
        if declare -F cmd_fetch >/dev/null; then
            cmd_fetch "$@"
        else
            usage
        fi
        ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    kill) cmd_kill "$@" ;;
    restart) cmd_restart "$@" ;;
    status) cmd_status "$@" ;;
    destroy) cmd_destroy "$@" ;;
    *) usage ;;
    esac
}
