#!/usr/bin/env bash
# On demand, as root (it mounts a filesystem): a real full disk. Not part of CI;
# ledger-tests/faults.rs covers the same path with a planned I/O error and needs
# neither root nor mount.
#
#   ledger-tests/disk-full.sh [SIZE]      (SIZE of the tmpfs, default 3m)
#
# Runs `dbond serve` on a small tmpfs and drives it with `dbond load` until the
# filesystem is full. Then checks that the server is still up and answering reads
# (writes fail-stopped with errors, no hang, no crash), that every acknowledged
# write is on the ledger (`dbond load`'s own final check), and, after making room
# (remounting larger, as an operator would free space), that the store reopens,
# verifies in full (`dbond verify`) and accepts writes again.
set -euo pipefail

size="${1:-3m}"
root="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "needs root (mount -t tmpfs)"; exit 2; }

cargo build --locked --profile test --bin dbond --manifest-path "$root/Cargo.toml" >&2
dbond="$root/target/debug/dbond"

mnt="$(mktemp -d)"
log="$(mktemp -d)"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2> /dev/null && wait "$server" 2> /dev/null || true
    umount "$mnt" 2> /dev/null || true
    rmdir "$mnt" 2> /dev/null || true
}
trap cleanup EXIT
mount -t tmpfs -o "size=$size" tmpfs "$mnt"
data="$mnt/data"

start() {
    "$dbond" serve --data "$data" --listen 127.0.0.1:0 > "$log/out" 2> "$log/err" &
    server=$!
    for _ in $(seq 1 200); do
        addr="$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log/out")"
        [ -n "$addr" ] && return 0
        kill -0 "$server" 2> /dev/null || { cat "$log/err"; echo "FAIL: serve exited"; exit 1; }
        sleep 0.05
    done
    echo "FAIL: serve did not start"; exit 1
}

start
echo "serving on $addr from a $size tmpfs"
# Enough writes to fill the filesystem several times over.
"$dbond" load --server "http://$addr" --admin-key "$data/admin.key" --count 20000 \
    --concurrency 32 --banks 4 --series 2 > "$log/load" 2>&1 || true
cat "$log/load"
df -h "$mnt" | tail -n 1
kill -0 "$server" || { cat "$log/err"; echo "FAIL: the server died when the disk filled"; exit 1; }
grep -q "^check: all" "$log/load" || { echo "FAIL: load did not confirm its acknowledged writes"; exit 1; }
grep -qi "unavailable" "$log/load" || { echo "FAIL: the disk never filled (use a smaller SIZE)"; exit 1; }
if grep -qi "panicked" "$log/err"; then cat "$log/err"; echo "FAIL: the server panicked"; exit 1; fi
grep -i "storage failure" "$log/err" | head -n 3 || true

kill -TERM "$server"; wait "$server" || true; server=""
mount -o remount,size=64m "$mnt"
"$dbond" verify --data "$data"
start
echo "reopened with room: $(grep -c . "$log/err" || true) lines on stderr"
"$dbond" load --server "http://$addr" --admin-key "$data/admin.key" --count 200 \
    --concurrency 8 --banks 2 --series 1 > "$log/load2" 2>&1 || { cat "$log/load2"; echo "FAIL: no writes after making room"; exit 1; }
grep -i "errors" "$log/load2"
kill -TERM "$server"; wait "$server" || true; server=""
"$dbond" verify --data "$data"
echo "OK: a full disk stopped writes cleanly; nothing acknowledged was lost; the store verifies and takes writes again"
