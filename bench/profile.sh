#!/usr/bin/env bash
# Instructions per change of wal2kafka and of the raw slot reader, under callgrind:
#
#   bench/profile.sh [--changes 200000] [--txn 100000] [--runs raw,w2k,native]
#                    [--w2k-property K=V] [--out FILE.json] [--keep]
#
# Builds (cmake --build), then bench/profile.py: its own PostgreSQL and Kafka on free
# 127.0.0.1 ports from 58432 up, the catch-up workload of bench/run.py written once into
# one slot per run, each contender under valgrind --tool=callgrind; prints instructions
# per change (main thread, all threads) and the costliest functions. Everything it starts
# is stopped on exit, error, Ctrl-C and SIGTERM (profile.py's handlers: this script
# execs it). Needs valgrind, the Kafka jars (scripts/setup.sh; W2K_CACHE) and .venv.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
for a in "$@"; do
    case "$a" in
    -h | --help)
        sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exec "$REPO/.venv/bin/python" "$REPO/bench/profile.py" --help
        ;;
    esac
done
b="${W2K_BUILD:-build}"
[[ -f "$b/CMakeCache.txt" ]] || cmake -S . -B "$b" -G Ninja >/dev/null
cmake --build "$b" >/dev/null
export W2K_CACHE="${W2K_CACHE:-$REPO/.cache}"
exec .venv/bin/python bench/profile.py "$@"
