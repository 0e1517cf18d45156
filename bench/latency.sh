#!/usr/bin/env bash
# Reproduces bench/results/latency.md: this build against an older commit, in one run.
#
#   bench/latency.sh [BEFORE_COMMIT] [run.py options...]     (default bc1dddf, ~20 min)
#
# Builds wal2kafka at BEFORE_COMMIT in a temporary directory (git archive, removed
# at the end), then runs bench/run.sh with --before on it: the catch-up phase (1M
# changes, TCP and Unix socket, each wal2kafka twice) and the latency phase (10,000
# changes/s, 3 rounds in rotating order), raw reader, wal2kafka and exactly-once,
# before and after, no Debezium. Extra options go to run.py (e.g. --wait-quiet 60).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
before="bc1dddf"
if [[ $# -gt 0 && "$1" != -* ]]; then
    before="$1"
    shift
fi
old="$(mktemp -d /tmp/w2k-before-XXXXXX)"
trap 'rm -rf "$old"' EXIT
git -C "$REPO" archive "$before" | tar -x -C "$old"
cmake -S "$old" -B "$old/build" -G Ninja >/dev/null
cmake --build "$old/build" --target wal2kafka >/dev/null
"$REPO/bench/run.sh" --no-debezium --phases catchup,latency --before "$old/build" \
    --set lat_rates='[10000]' --set lat_seconds=20 --set warmup=5 --set lat_repeat=3 \
    --set catchup_repeat=2 --name latency --w2k-delivery "send_when_idle_ms = 1;" \
    --note "before: wal2kafka at $(git -C "$REPO" rev-parse --short "$before")" "$@"
