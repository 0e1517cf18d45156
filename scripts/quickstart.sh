#!/usr/bin/env bash
# The quickstart: install and build everything (scripts/setup.sh), start a local
# PostgreSQL 15 and Kafka broker on free loopback ports, create a sample table,
# run wal2kafka on it, write some changes and show the decoded events as they
# arrive from Kafka. Everything it started is stopped and removed at the end.
#
#   scripts/quickstart.sh [--keep]     --keep: leave the servers and wal2kafka running
#                                      (prints how to reach them and how to stop them)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1

bash "$REPO/scripts/setup.sh" --no-extras

PY="$REPO/.venv/bin/python"
DIR="$(mktemp -d /tmp/w2k-quickstart-XXXXXX)"
chmod 755 "$DIR"
read -r PG_PORT KAFKA_PORT CTRL_PORT < <("$PY" -c '
import sys; sys.path.insert(0, "'"$REPO"'/integration")
import servers; print(*servers.free_ports(3))')
export PGPASSWORD="${W2K_PG_PASSWORD:-w2k-secret-pw}"
W2K_PID=""

cleanup() {
    [[ $KEEP -eq 1 ]] && return
    [[ -n "$W2K_PID" ]] && kill -TERM "$W2K_PID" 2>/dev/null && wait "$W2K_PID" 2>/dev/null || true
    bash "$REPO/integration/servers/kafka.sh" destroy "$DIR/kafka" >/dev/null 2>&1 || true
    bash "$REPO/integration/servers/pg.sh" destroy "$DIR/pg" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT and Kafka on 127.0.0.1:$KAFKA_PORT"
bash "$REPO/integration/servers/pg.sh" start "$DIR/pg" "$PG_PORT"
bash "$REPO/integration/servers/kafka.sh" start "$DIR/kafka" "$KAFKA_PORT" "$CTRL_PORT"

psql_app() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d shop "$@"; }

step "creating database shop with table public.orders"
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE shop"
psql_app <<'SQL'
CREATE TABLE orders (
    id       bigint PRIMARY KEY,
    customer text NOT NULL,
    amount   numeric(10,2),
    placed   timestamptz NOT NULL DEFAULT now(),
    tags     text[]
);
SQL

cat >"$DIR/wal2kafka.cfg" <<CFG
postgresql = { conninfo = "host=127.0.0.1 port=$PG_PORT dbname=shop user=postgres"; };
kafka = { bootstrap_servers = "127.0.0.1:$KAFKA_PORT"; };
streams = ( { name = "shop"; topic_prefix = "shop"; tables = ( "public.orders" ); } );
CFG

step "starting wal2kafka (config: $DIR/wal2kafka.cfg, log: $DIR/wal2kafka.log)"
"$REPO/build/wal2kafka" run --config "$DIR/wal2kafka.cfg" >"$DIR/wal2kafka.log" 2>&1 &
W2K_PID=$!
for _ in $(seq 1 300); do
    grep -q "streaming from slot" "$DIR/wal2kafka.log" && break
    kill -0 "$W2K_PID" 2>/dev/null || { cat "$DIR/wal2kafka.log"; exit 1; }
    sleep 0.1
done
grep -q "streaming from slot" "$DIR/wal2kafka.log" || { cat "$DIR/wal2kafka.log"; exit 1; }

step "writing changes: inserts, an update, a key change, a delete"
psql_app <<'SQL'
INSERT INTO orders (id, customer, amount, tags) VALUES
    (1, 'alice', 19.99, '{new}'), (2, 'bob', 5.00, NULL), (3, 'carol', 120.50, '{vip,new}');
UPDATE orders SET amount = 24.99, tags = '{paid}' WHERE id = 1;
UPDATE orders SET id = 20 WHERE id = 2;
DELETE FROM orders WHERE id = 3;
SQL

step "decoded events from Kafka (topic shop.public.orders), read with scripts/consume.py"
"$PY" "$REPO/scripts/consume.py" --bootstrap "127.0.0.1:$KAFKA_PORT" --prefix shop \
    --topic shop.public.orders --from-beginning --count 9 --timeout 30 --format compact

step "the slot is confirmed up to the last acknowledged change"
psql_app -c "SELECT slot_name, confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots"

if [[ $KEEP -eq 1 ]]; then
    cat <<EOF

Still running (--keep):
  PostgreSQL  psql -h 127.0.0.1 -p $PG_PORT -U postgres -d shop   (password: $PGPASSWORD)
  Kafka       127.0.0.1:$KAFKA_PORT
  wal2kafka   pid $W2K_PID, log $DIR/wal2kafka.log
  watch       $PY $REPO/scripts/consume.py --bootstrap 127.0.0.1:$KAFKA_PORT --prefix shop --format compact
  stop        kill $W2K_PID; bash $REPO/integration/servers/kafka.sh destroy $DIR/kafka; bash $REPO/integration/servers/pg.sh destroy $DIR/pg
EOF
fi
