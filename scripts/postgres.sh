#!/usr/bin/env bash
# A local PostgreSQL 15 (Debian's cluster 15/main) for the event-store tests and development.
#   scripts/postgres.sh start   install postgresql if missing, start the cluster, create the
#                               role `butterfly` (password `butterfly`) and the database
#                               `butterfly_test` it owns; prints nothing but errors
#   scripts/postgres.sh url     print the Npgsql connection string for that database
#   scripts/postgres.sh stop    stop the cluster, but only if `start` is what started it
# Every verb is idempotent. Must run as root (pg_ctlcluster, apt-get, runuser).
set -euo pipefail

pg_version=15
cluster=main
role=butterfly
password=butterfly
database=butterfly_test
# Written by `start` when it started the cluster itself, so `stop` never stops a cluster
# that someone else (a developer, another script) had running before.
state_file=/tmp/butterfly-postgres-${pg_version}-${cluster}.started

die() { echo "postgres.sh: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (it uses apt-get, pg_ctlcluster and runuser)"
}

ensure_installed() {
    if [ ! -x "/usr/lib/postgresql/${pg_version}/bin/postgres" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || die "apt-get update failed"
        apt-get install -y -qq postgresql >/dev/null || die "apt-get install postgresql failed"
    fi
    # The package creates the cluster; a machine where it was dropped gets it back.
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "${pg_version}/${cluster}"; then
        pg_createcluster "$pg_version" "$cluster" >/dev/null || die "pg_createcluster ${pg_version} ${cluster} failed"
    fi
}

cluster_port() {
    pg_lsclusters -h | awk -v v="$pg_version" -v c="$cluster" '$1 == v && $2 == c {print $3}'
}

is_running() {
    # pg_ctlcluster status exits 0 when the server runs, 3 when it does not.
    pg_ctlcluster "$pg_version" "$cluster" status >/dev/null 2>&1
}

psql_admin() {
    # Runs one statement as the postgres superuser over the local socket; prints the result.
    runuser -u postgres -- psql -p "$(cluster_port)" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

wait_ready() {
    local port i
    port=$(cluster_port)
    for i in $(seq 1 100); do
        pg_isready -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.1
    done
    die "PostgreSQL ${pg_version}/${cluster} did not accept connections on 127.0.0.1:${port} within 10 s"
}

start() {
    need_root
    ensure_installed
    if ! is_running; then
        pg_ctlcluster "$pg_version" "$cluster" start >/dev/null || die "pg_ctlcluster ${pg_version} ${cluster} start failed"
        touch "$state_file"
    fi
    wait_ready
    if [ "$(psql_admin "select 1 from pg_roles where rolname = '${role}'")" != 1 ]; then
        psql_admin "create role ${role} login password '${password}'" >/dev/null
    fi
    if [ "$(psql_admin "select 1 from pg_database where datname = '${database}'")" != 1 ]; then
        psql_admin "create database ${database} owner ${role}" >/dev/null
    fi
}

stop() {
    need_root
    [ -f "$state_file" ] || return 0
    if is_running; then
        pg_ctlcluster "$pg_version" "$cluster" stop >/dev/null || die "pg_ctlcluster ${pg_version} ${cluster} stop failed"
    fi
    rm -f "$state_file"
}

url() {
    local port
    port=$(cluster_port 2>/dev/null || true)
    echo "Host=127.0.0.1;Port=${port:-5432};Database=${database};Username=${role};Password=${password}"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
