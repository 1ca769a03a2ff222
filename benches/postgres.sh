#!/usr/bin/env bash
# The alternative a treasury's IT team would reach for: a PostgreSQL table, insert
# only, synchronous commit, the same subscription rows, the same concurrency as
# `dbond load`. Prints pgbench's rate and latency. Needs a local PostgreSQL
# (Debian: apt-get install postgresql); run as root (it starts a throwaway
# cluster as the postgres user) or as a user allowed to run initdb.
#
#   benches/postgres.sh [CONCURRENCY=64] [SECONDS=10]
set -euo pipefail
CONCURRENCY=${1:-64}
SECONDS_RUN=${2:-10}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
if [ -z "$PGBIN" ]; then
  echo "no local PostgreSQL found (apt-get install postgresql)" >&2
  exit 2
fi
DIR=$(mktemp -d)
RUN=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$DIR"
  RUN=(runuser -u postgres --)
fi
cleanup() { "${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" stop -m fast >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${RUN[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust >/dev/null
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start \
  -o "-p 55432 -k $DIR -c listen_addresses='' -c synchronous_commit=on -c fsync=on -c max_connections=300" >/dev/null
PSQL=("${RUN[@]}" "$PGBIN/psql" -h "$DIR" -p 55432 -d postgres -q)
"${RUN[@]}" "$PGBIN/psql" -h "$DIR" -p 55432 -d postgres -q <<'SQL'
CREATE TABLE subscriptions (
  subscription_id bigserial PRIMARY KEY,
  series_id text NOT NULL,
  bank_id text NOT NULL,
  investor_ref text NOT NULL,
  category smallint NOT NULL,
  country char(2) NOT NULL,
  units bigint NOT NULL CHECK (units > 0),
  idempotency_key text NOT NULL,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (bank_id, idempotency_key)
);
SQL
cat > "$DIR/insert.sql" <<'SQL'
\set i random(1, 2000000000)
INSERT INTO subscriptions (series_id, bank_id, investor_ref, category, country, units, idempotency_key)
VALUES ('LOAD-' || (:i % 4), 'bank-' || (:i % 8), 'inv-' || :i, 1, 'DE', 1 + :i % 100, 'k-' || :client_id || '-' || :i);
SQL
chmod a+r "$DIR/insert.sql"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), synchronous_commit=on, $CONCURRENCY clients, ${SECONDS_RUN}s"
"${RUN[@]}" "$PGBIN/pgbench" -h "$DIR" -p 55432 -n -c "$CONCURRENCY" -j 2 -T "$SECONDS_RUN" -r -f "$DIR/insert.sql" postgres 2>&1 \
  | grep -E "^(tps|latency average|number of transactions actually processed)"
"${RUN[@]}" "$PGBIN/psql" -h "$DIR" -p 55432 -d postgres -At -c "select count(*) || ' rows committed' from subscriptions"
