#!/usr/bin/env bash
# `dbond load` against the same build of `dbond serve` on each store engine, in one
# run: the sled store in a data folder; PostgreSQL 15 alone; PostgreSQL 15 with one
# synchronous standby (a second cluster made with pg_basebackup -R, and
# synchronous_standby_names = 's1', so a commit returns once the standby has
# flushed it). Both clusters are throwaway folders on loopback ports, fsync on,
# synchronous_commit on; everything shares the machine's cores. Prints `dbond
# load`'s rate, latency and final check for each.
#
# Needs PostgreSQL 15 (Debian: apt-get install postgresql) and a release build
# (cargo build --release); run as root (clusters run as the postgres user) or as
# a user allowed to run initdb.
#
#   benches/store-engines.sh [COUNT=20000] [CONCURRENCY=64]
set -euo pipefail
COUNT=${1:-20000}
CONCURRENCY=${2:-64}
cd "$(dirname "$0")/.."
DBOND=${DBOND:-target/release/dbond}
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$DBOND" ] || { echo "no $DBOND: cargo build --release first" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL 15 (apt-get install postgresql)" >&2; exit 2; }

DIR=$(mktemp -d)
chmod 755 "$DIR"
RUN=()
if [ "$(id -u)" = 0 ]; then
  RUN=(runuser -u postgres --)
  chown postgres "$DIR"
fi
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for c in standby primary; do
    [ -d "$DIR/$c" ] && "${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/$c" -m immediate stop > /dev/null 2>&1 || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts `dbond serve` with the given arguments; sets ADDR.
serve() {
  local log=$1; shift
  "$DBOND" serve --listen 127.0.0.1:0 "$@" > "$log" 2> "$log.err" &
  PIDS+=($!)
  for _ in $(seq 600); do
    ADDR=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log")
    [ -n "$ADDR" ] && return 0
    kill -0 "${PIDS[-1]}" 2> /dev/null || { cat "$log.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "dbond serve did not start" >&2; exit 1
}

stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2> /dev/null || true; unset 'PIDS[-1]'; }

load() {
  echo "== $1"
  "$DBOND" load --server "http://$ADDR" --admin-key "$2" --count "$COUNT" --concurrency "$CONCURRENCY" \
    | grep -E "subscriptions/s|latency|errors|check"
}

# sled.
serve "$DIR/sled.log" --data "$DIR/sled"
load "sled (data folder)" "$DIR/sled/admin.key"
stop_last

# PostgreSQL alone.
P1=$(free_port)
"${RUN[@]}" "$PGBIN/initdb" -D "$DIR/primary" -A trust -U postgres > /dev/null
OPTS="-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=on -c synchronous_commit=on -c max_connections=100"
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/primary" -l "$DIR/primary.log" -w start -o "-p $P1 $OPTS" > /dev/null
psql_p() { "$PGBIN/psql" -h 127.0.0.1 -p "$P1" -U postgres -XAtq -c "$1" postgres; }
psql_p "CREATE DATABASE alone"
psql_p "CREATE DATABASE synchronous"
URL="postgres://postgres@127.0.0.1:$P1/alone"
"$DBOND" store init --store "$URL" > /dev/null
serve "$DIR/pg-alone.log" --data "$DIR/pg-alone" --store "$URL"
load "PostgreSQL 15, no standby" "$DIR/pg-alone/admin.key"
stop_last

# PostgreSQL with one synchronous standby.
P2=$(free_port)
"${RUN[@]}" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P1" -U postgres -D "$DIR/standby" -R -X stream -c fast
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/standby" -l "$DIR/standby.log" -w start -o "-p $P2 $OPTS -c cluster_name=s1" > /dev/null
psql_p "ALTER SYSTEM SET synchronous_standby_names = 's1'"
psql_p "SELECT pg_reload_conf()" > /dev/null
for _ in $(seq 600); do
  [ "$(psql_p "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] && break
  sleep 0.1
done
URL="postgres://postgres@127.0.0.1:$P1,127.0.0.1:$P2/synchronous?target_session_attrs=read-write"
"$DBOND" store init --store "$URL" > /dev/null
serve "$DIR/pg-sync.log" --data "$DIR/pg-sync" --store "$URL"
load "PostgreSQL 15, one synchronous standby" "$DIR/pg-sync/admin.key"
stop_last
