#!/usr/bin/env bash
# Makes a streaming replica of a running PostgreSQL primary in DIR, and starts it.
#
#   make-replica.sh [options] DIR
#
# DIR must be absent or empty. The replica is a base backup of the primary
# (pg_basebackup -R -X stream: it follows the primary from where the copy ends),
# with a postgresql.conf of its own: on Debian the primary's configuration lives in
# /etc/postgresql, not in its data directory, so the copy has none. The replica runs
# as the `postgres` OS user (DIR owned by it, mode 700), its socket and its log
# (DIR/log/postgresql.log) inside DIR.
#
# Options (each also read from the environment variable named after it):
#   --primary-host H   PRIMARY_HOST   the primary's address (127.0.0.1)
#   --primary-port P   PRIMARY_PORT   its port (5432)
#   --primary-user U   PRIMARY_USER   a role with REPLICATION (postgres); a password
#                                     comes from PGPASSWORD or ~postgres/.pgpass
#   --port P           REPLICA_PORT   the replica's port (5433)
#   --listen A         REPLICA_LISTEN the replica's listen_addresses (127.0.0.1)
#   --name N           REPLICA_NAME   its cluster_name, which is its application_name in
#                                     the primary's pg_stat_replication (replica_PORT)
#   --slot S           REPLICA_SLOT   a physical replication slot to create and use on the
#                                     primary (none); drop it when the replica is retired
#   --log-statement L  REPLICA_LOG_STATEMENT  none | ddl | mod | all (none)
#   --hba-file F       REPLICA_HBA_FILE  pg_hba.conf to install (default: loopback only)
#   --set 'k = v'      REPLICA_SETTINGS  more postgresql.conf lines (repeat the option;
#                                     in the variable, one per line)
#   --no-start         REPLICA_START=0   make it, do not start it
#   PG_BINDIR: the PostgreSQL binaries (default: those of the primary's major version)
#
# Stop:    runuser -u postgres -- pg_ctl -D DIR stop -m fast
# Promote: runuser -u postgres -- pg_ctl -D DIR promote
set -euo pipefail

die() { echo "make-replica.sh: $*" >&2; exit 1; }

PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
PRIMARY_USER=${PRIMARY_USER:-postgres}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_LISTEN=${REPLICA_LISTEN:-127.0.0.1}
REPLICA_NAME=${REPLICA_NAME:-}
REPLICA_SLOT=${REPLICA_SLOT:-}
REPLICA_LOG_STATEMENT=${REPLICA_LOG_STATEMENT:-none}
REPLICA_HBA_FILE=${REPLICA_HBA_FILE:-}
REPLICA_SETTINGS=${REPLICA_SETTINGS:-}
REPLICA_START=${REPLICA_START:-1}
PG_BINDIR=${PG_BINDIR:-}
OS_USER=postgres
DIR=

while (($#)); do
    case $1 in
        --primary-host) PRIMARY_HOST=$2; shift 2 ;;
        --primary-port) PRIMARY_PORT=$2; shift 2 ;;
        --primary-user) PRIMARY_USER=$2; shift 2 ;;
        --port) REPLICA_PORT=$2; shift 2 ;;
        --listen) REPLICA_LISTEN=$2; shift 2 ;;
        --name) REPLICA_NAME=$2; shift 2 ;;
        --slot) REPLICA_SLOT=$2; shift 2 ;;
        --log-statement) REPLICA_LOG_STATEMENT=$2; shift 2 ;;
        --hba-file) REPLICA_HBA_FILE=$2; shift 2 ;;
        --set) REPLICA_SETTINGS+=$'\n'"$2"; shift 2 ;;
        --no-start) REPLICA_START=0; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [[ -z $DIR ]] || die "one DIR only"; DIR=$1; shift ;;
    esac
done
[[ -n $DIR ]] || die "DIR is missing (see --help)"
REPLICA_NAME=${REPLICA_NAME:-replica_$REPLICA_PORT}
case $REPLICA_LOG_STATEMENT in none | ddl | mod | all) ;; *) die "--log-statement: none, ddl, mod or all" ;; esac

# Everything that touches DIR or the server runs as the postgres OS user.
as_owner() {
    if [[ $(id -un) == "$OS_USER" ]]; then
        "$@"
    elif ((EUID == 0)); then
        runuser -u "$OS_USER" -- "$@"
    else
        die "run as root or as $OS_USER"
    fi
}

primary_query() {
    as_owner "${PSQL:-psql}" -X -A -t -v ON_ERROR_STOP=1 -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" \
        -U "$PRIMARY_USER" -d postgres -c "$1"
}

# The replica must run the primary's major version.
if [[ -z $PG_BINDIR ]]; then
    version_num=$(primary_query "show server_version_num") || die "cannot reach the primary"
    PG_BINDIR=/usr/lib/postgresql/$((version_num / 10000))/bin
    [[ -x $PG_BINDIR/pg_ctl ]] || PG_BINDIR=$(dirname "$(command -v pg_ctl)")
fi
PSQL=$PG_BINDIR/psql

if [[ -e $DIR ]]; then
    [[ -d $DIR && -z $(ls -A "$DIR") ]] || die "$DIR exists and is not an empty directory"
else
    mkdir -p "$DIR"
fi
DIR=$(cd "$DIR" && pwd)
if ((EUID == 0)); then chown "$OS_USER:" "$DIR"; fi
chmod 700 "$DIR"

# A hot standby refuses to start with any of these lower than on the primary.
at_least_primary=$(primary_query "select name || ' = ' || setting from pg_settings where name in (
    'max_connections', 'max_worker_processes', 'max_wal_senders',
    'max_prepared_transactions', 'max_locks_per_transaction') order by name")

slot=()
if [[ -n $REPLICA_SLOT ]]; then slot=(--create-slot --slot "$REPLICA_SLOT"); fi
# --checkpoint fast: start copying now, not at the primary's next scheduled checkpoint.
as_owner "$PG_BINDIR/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" \
    -D "$DIR" -R -X stream --checkpoint fast --no-password "${slot[@]}"

as_owner tee "$DIR/postgresql.conf" >/dev/null <<EOF
# This replica's own settings, written by deploy/postgresql/make-replica.sh.
# (The primary_conninfo that pg_basebackup -R wrote is in postgresql.auto.conf.)
port = $REPLICA_PORT
listen_addresses = '$REPLICA_LISTEN'
unix_socket_directories = '$DIR'
cluster_name = '$REPLICA_NAME'
hot_standby = on
# The primary keeps the rows a query here still reads: vacuum there does not cancel
# reports here (at the cost of some bloat on the primary while a long report runs).
hot_standby_feedback = on
$at_least_primary
# stderr goes to log/postgresql.log (pg_ctl -l); statements are logged as they start.
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_statement = '$REPLICA_LOG_STATEMENT'
$REPLICA_SETTINGS
EOF

if [[ -n $REPLICA_HBA_FILE ]]; then
    as_owner tee "$DIR/pg_hba.conf" >/dev/null <"$REPLICA_HBA_FILE"
elif [[ ! -e $DIR/pg_hba.conf ]]; then
    as_owner tee "$DIR/pg_hba.conf" >/dev/null <<EOF
# Loopback and this directory's socket only (pass --hba-file for anything wider).
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
EOF
fi
[[ -e $DIR/pg_ident.conf ]] || as_owner touch "$DIR/pg_ident.conf"
as_owner mkdir -p "$DIR/log"

if [[ $REPLICA_START == 1 ]]; then
    as_owner "$PG_BINDIR/pg_ctl" -D "$DIR" -l "$DIR/log/postgresql.log" -w -t 120 start >/dev/null
    echo "replica $REPLICA_NAME of $PRIMARY_HOST:$PRIMARY_PORT on $REPLICA_LISTEN:$REPLICA_PORT, data in $DIR"
else
    echo "replica $REPLICA_NAME made in $DIR (not started)"
fi
