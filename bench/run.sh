#!/usr/bin/env bash
# Reproduces the wal2kafka benchmark report with one command:
#
#   bench/run.sh [--quick] [--name NAME] [--phases LIST] [--no-debezium] [--keep]
#   bench/run.sh soak [--minutes 30] [--seed N] ...   the availability soak instead
#                                                     (bench/soak.py --help; step 1, then soak.py)
#
# 1. scripts/setup.sh: Debian packages, Kafka jars, .venv, build (idempotent;
#    skip with W2K_BENCH_SETUP=0 when everything is in place),
# 2. bench/debezium/fetch.sh: Kafka Connect + Debezium plugin into .cache/debezium
#    (skipped with --no-debezium),
# 3. matplotlib into .venv (bench/requirements.txt),
# 4. bench/run.py: starts its own PostgreSQL and Kafka, measures, writes
#    bench/results/NAME.md (+ .json, .png) and stops everything it started.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

debezium=1
soak=0
if [[ "${1:-}" == soak ]]; then
    soak=1
    debezium=0
    shift
fi
for a in "$@"; do
    case "$a" in
    --no-debezium) debezium=0 ;;
    -h | --help)
        sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        ((soak)) && exec "$REPO/.venv/bin/python" "$REPO/bench/soak.py" --help
        exec "$REPO/.venv/bin/python" "$REPO/bench/run.py" --help
        ;;
    esac
done

if [[ "${W2K_BENCH_SETUP:-1}" == 1 ]]; then
    scripts/setup.sh
else
    b="${W2K_BUILD:-build}"
    [[ -f "$b/CMakeCache.txt" ]] || cmake -S . -B "$b" -G Ninja >/dev/null
    cmake --build "$b"
fi
if ((soak)); then
    exec .venv/bin/python bench/soak.py "$@"
fi
if ((debezium)); then
    bench/debezium/fetch.sh
fi
.venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/run.py "$@"
