#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests and benchmarks: Debian's server binaries,
# initdb + pg_ctl on a free loopback port, no system service. As root it runs as the
# `postgres` user (the server refuses root). Trust authentication: for loopback tests only.
#
#   run.sh start [--port N]   initdb (once) and start; wait until it answers; print its URL
#   run.sh stop               stop it (fast shutdown) and delete the cluster
#   run.sh url                print the URL of the running cluster
#   run.sh pause | resume     stop / start the same cluster, keeping its data (outage tests)
#
# The URL (postgresql://postgres@127.0.0.1:PORT/postgres) is what the tests read from
# SR2FHIR_TEST_POSTGRES_URL; each test creates its own database in it.
#
# Environment (all optional):
#   TEST_POSTGRES_STATE   state folder (default: <this folder>/.run)
#   PG_BIN                server binaries (default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${TEST_POSTGRES_STATE:-$HERE/.run}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
URL_FILE="$STATE/url"
DATA_FILE="$STATE/datadir"
PORT_FILE="$STATE/port"

die() { echo "run.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# Run a server binary as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

datadir() { [[ -s "$DATA_FILE" ]] && cat "$DATA_FILE"; }

running() {
    local dir
    dir="$(datadir)" || return 1
    [[ -d "$dir" ]] && as_owner "$PG_BIN/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1
}

server_start() {
    local dir="$1" port="$2"
    # fsync stays on: the tests and benchmarks measure the durable commit the gateway relies on.
    as_owner "$PG_BIN/pg_ctl" -D "$dir/pgdata" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2 \
        || { tail -n 20 "$dir/server.log" >&2; die "the server did not start"; }
}

cmd_start() {
    local port=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) [[ $# -ge 2 ]] || usage; port="$2"; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ -x "$PG_BIN/initdb" ]] || die "no PostgreSQL server binaries (apt-get install postgresql)"
    if running; then
        cat "$URL_FILE"
        return 0
    fi
    mkdir -p "$STATE"
    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/sr2fhir-postgres.XXXXXX")"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
    as_owner "$PG_BIN/initdb" -D "$dir/pgdata" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    port="${port:-$(free_port)}"
    echo "$dir" >"$DATA_FILE"
    echo "$port" >"$PORT_FILE"
    server_start "$dir" "$port"
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$URL_FILE"
    echo "run.sh: PostgreSQL up on 127.0.0.1:$port ($dir)" >&2
    cat "$URL_FILE"
}

cmd_pause() {
    local dir
    dir="$(datadir)" || die "not started"
    as_owner "$PG_BIN/pg_ctl" -D "$dir/pgdata" -m fast -w stop >&2
}

cmd_resume() {
    local dir
    dir="$(datadir)" || die "not started"
    running || server_start "$dir" "$(cat "$PORT_FILE")"
}

cmd_stop() {
    local dir
    if ! dir="$(datadir)"; then
        echo "run.sh: not running" >&2
        return 0
    fi
    if running; then
        as_owner "$PG_BIN/pg_ctl" -D "$dir/pgdata" -m fast -w stop >&2 || true
    fi
    rm -rf "$dir"
    rm -f "$URL_FILE" "$DATA_FILE" "$PORT_FILE"
    echo "run.sh: stopped" >&2
}

cmd_url() {
    running && [[ -s "$URL_FILE" ]] || die "not running (start it with: $0 start)"
    cat "$URL_FILE"
}

[[ $# -ge 1 ]] || usage
sub="$1"
shift
case "$sub" in
    start) cmd_start "$@" ;;
    stop) [[ $# -eq 0 ]] || usage; cmd_stop ;;
    url) [[ $# -eq 0 ]] || usage; cmd_url ;;
    pause) [[ $# -eq 0 ]] || usage; cmd_pause ;;
    resume) [[ $# -eq 0 ]] || usage; cmd_resume ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
