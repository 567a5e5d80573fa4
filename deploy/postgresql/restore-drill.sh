#!/usr/bin/env bash
# Restore drill: proves that the backups restore, to a point in time, with the shop's data whole.
#
#   restore-drill.sh [--before N] [--after N] [--keep]
#
# On a scratch PostgreSQL cluster of its own (initdb in a temp directory, loopback ports,
# its own pgBackRest repository and stanza; nothing of the host's cluster, /etc or
# /var/lib/pgbackrest is read or written), as production is set up by this directory:
#
#   1. the cluster archives its WAL with pgBackRest (archive.conf's settings) and the
#      shop's schema is migrated into it (the project's manage.py);
#   2. a full backup;
#   3. N purchases (--before, 20) through the project's purchase service; time T noted;
#      M more (--after, 10);
#   4. point-in-time restore to T into a NEW data directory, started on another port;
#   5. exit 0 only if exactly the purchases committed before T are there and
#      `manage.py rebuild_sales_totals --check` is clean against the restored database.
#
# It prints what it measured: the backup's size and time, the restore's time (to a
# database accepting writes: the recovery time of this size) and the data lost up to T.
#
# Run as root (the clusters run as the postgres OS user, through runuser) or as postgres.
# Needs pgbackrest and the PostgreSQL server binaries (PG_BINDIR, default
# /usr/lib/postgresql/15/bin). PYTHON: the project's interpreter (default: its .venv).
# --keep leaves the temp directory (stopped clusters, repository, logs) for a look.
set -euo pipefail

die() { echo "restore-drill: FAILED: $*" >&2; exit 1; }
say() { echo "restore-drill: $*"; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=python3
BEFORE=20
AFTER=10
KEEP=0
STANZA=drill

while (($#)); do
    case $1 in
        --before) BEFORE=$2; shift 2 ;;
        --after) AFTER=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $BEFORE =~ ^[1-9][0-9]*$ && $AFTER =~ ^[1-9][0-9]*$ ]] || die "--before and --after: positive counts"
command -v pgbackrest >/dev/null || die "no pgbackrest (apt-get install pgbackrest)"
[[ -x $PG_BINDIR/initdb ]] || die "no PostgreSQL server binaries in $PG_BINDIR (set PG_BINDIR)"

if ((EUID == 0)); then
    OS_USER=postgres
elif [[ $(id -un) == postgres ]]; then
    OS_USER=postgres
else
    die "run as root or as postgres"
fi
as_owner() {
    if [[ $(id -un) == "$OS_USER" ]]; then "$@"; else runuser -u "$OS_USER" -- "$@"; fi
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
seconds_since() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

WORK=$(mktemp -d /tmp/shop-restore-drill.XXXXXX)
chmod 700 "$WORK"
((EUID == 0)) && chown "$OS_USER:" "$WORK"
PRIMARY_DIR=$WORK/primary
RESTORED_DIR=$WORK/restored
CONF=$WORK/pgbackrest.conf
PORT=$(free_port)
RESTORED_PORT=$(free_port)
[[ $PORT != "$RESTORED_PORT" ]] || RESTORED_PORT=$(free_port)

stop_cluster() {
    if [[ -e $1/postmaster.pid ]]; then
        as_owner "$PG_BINDIR/pg_ctl" -D "$1" stop -m immediate >/dev/null 2>&1 || true
    fi
}
cleanup() {
    local status=$?
    stop_cluster "$RESTORED_DIR"
    stop_cluster "$PRIMARY_DIR"
    if ((status != 0)); then
        for log in "$WORK"/primary.log "$WORK"/restored.log; do
            [[ -s $log ]] && { echo "--- $log (last lines)"; tail -n 20 "$log"; } >&2
        done
    fi
    if ((KEEP)); then echo "restore-drill: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT

sql() { # sql PORT DBNAME QUERY: one value a line
    "$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3"
}
manage() { # manage PORT ARGS...: the project's manage.py against database shop on PORT
    local port=$1
    shift
    (cd "$ROOT" && env -u DATABASE_REPLICA_URL DJANGO_SETTINGS_MODULE=shop.settings \
        DATABASE_URL="postgres://postgres@127.0.0.1:$port/shop" DJANGO_LOG_LEVEL=WARNING \
        "$PYTHON" manage.py "$@")
}
pgbackrest_() { as_owner pgbackrest --config="$CONF" --stanza="$STANZA" "$@"; }

# 1. The scratch cluster, archiving to its own repository (as deploy/postgresql/archive.conf).
as_owner "$PG_BINDIR/initdb" -D "$PRIMARY_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_owner mkdir -m 700 "$WORK/log" "$WORK/lock"
as_owner tee "$CONF" >/dev/null <<EOF
[global]
repo1-path=$WORK/repo
repo1-retention-full=2
log-path=$WORK/log
lock-path=$WORK/lock
log-level-console=warn
log-level-file=info
start-fast=y
compress-type=zst

[$STANZA]
pg1-path=$PRIMARY_DIR
pg1-port=$PORT
pg1-socket-path=$WORK
pg1-user=postgres
EOF
as_owner tee -a "$PRIMARY_DIR/postgresql.conf" >/dev/null <<EOF
# The drill's scratch cluster (restore-drill.sh)
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$CONF --stanza=$STANZA archive-push %p'
archive_timeout = 60
EOF
as_owner "$PG_BINDIR/pg_ctl" -D "$PRIMARY_DIR" -l "$WORK/primary.log" -w start >/dev/null
pgbackrest_ stanza-create
pgbackrest_ check
sql "$PORT" postgres "create database shop" >/dev/null
manage "$PORT" migrate --noinput >/dev/null
say "scratch cluster on 127.0.0.1:$PORT, the shop's schema migrated, WAL archived by pgBackRest"

# 2. A full backup.
started=$(now)
pgbackrest_ --type=full backup
backup_seconds=$(seconds_since "$started")
backup_size=$(pgbackrest_ --output=json info | "$PYTHON" -c 'import json, sys
info = json.load(sys.stdin)[0]["backup"][-1]["info"]
print("%.1f MB, %.1f MB in the repository" % (info["size"] / 1e6, info["repository"]["delta"] / 1e6))')
say "full backup: $backup_size, in $backup_seconds s"

# 3. Purchases through the project's service: BEFORE, time T, AFTER.
write_purchases() { # write_purchases COUNT LABEL: prints the new purchases' ids, one a line
    manage "$PORT" shell --no-imports -c "
from products.models import Product
from products.services import create_product
from purchases.services import create_purchase
from users.models import User
from users.services import create_user
user = User.objects.filter(email='drill@example.com').first() or create_user(
    email='drill@example.com', first_name='Restore', last_name='Drill')
product = Product.objects.filter(sku='DRILL-1').first() or create_product(
    sku='DRILL-1', name='Drill product', price='12.50')
for n in range($1):
    print(create_purchase(user=user, product=product, quantity=1 + n % 3).pk)
"
}
write_purchases "$BEFORE" >"$WORK/before.ids"
T=$(sql "$PORT" postgres "select clock_timestamp()")
last_before=$(sql "$PORT" shop "select max(id) from purchases_purchase")
sleep 1 # commits after T are later than T by more than the clocks' resolution
write_purchases "$AFTER" >"$WORK/after.ids"
[[ $(wc -l <"$WORK/before.ids") == "$BEFORE" && $(wc -l <"$WORK/after.ids") == "$AFTER" ]] \
    || die "the purchases were not all written"
# The WAL holding them archived now (check switches to a new segment and waits for it).
started=$(now)
pgbackrest_ check
say "$BEFORE purchases, then T = $T, then $AFTER more; WAL archived $(seconds_since "$started") s after the switch"

# 4. Point-in-time restore to T into a new data directory, started on its own port.
started=$(now)
as_owner mkdir -m 700 "$RESTORED_DIR"
pgbackrest_ --pg1-path="$RESTORED_DIR" --type=time --target="$T" --target-action=promote \
    --archive-mode=off restore
as_owner "$PG_BINDIR/pg_ctl" -D "$RESTORED_DIR" -l "$WORK/restored.log" -o "-p $RESTORED_PORT" -w -t 120 start >/dev/null
for _ in $(seq 600); do
    [[ $(sql "$RESTORED_PORT" postgres "select pg_is_in_recovery()" 2>/dev/null) == f ]] && break
    sleep 0.1
done
[[ $(sql "$RESTORED_PORT" postgres "select pg_is_in_recovery()") == f ]] || die "the restored cluster did not finish its recovery"
restore_seconds=$(seconds_since "$started")
say "restored to T into a new data directory and promoted (127.0.0.1:$RESTORED_PORT) in $restore_seconds s"

# 5. Exactly the purchases committed before T, and the sales totals agreeing with them.
sql "$RESTORED_PORT" shop "select id from purchases_purchase order by id" >"$WORK/restored.ids"
sort -n "$WORK/before.ids" >"$WORK/expected.ids"
if ! cmp -s "$WORK/expected.ids" "$WORK/restored.ids"; then
    die "the restored purchases are not those committed before T: $(wc -l <"$WORK/restored.ids") found, $BEFORE expected (ids: $(paste -sd, "$WORK/restored.ids"))"
fi
[[ $(sql "$RESTORED_PORT" shop "select max(id) from purchases_purchase") == "$last_before" ]] \
    || die "the last purchase before T is missing"
manage "$RESTORED_PORT" rebuild_sales_totals --check >"$WORK/totals.out" 2>&1 \
    || die "rebuild_sales_totals --check against the restored database: $(cat "$WORK/totals.out")"
say "the restored database has exactly the $BEFORE purchases committed before T (none of the $AFTER after): nothing committed before T lost; rebuild_sales_totals --check clean"
say "OK: backup $backup_seconds s, restore to a point in time $restore_seconds s"
