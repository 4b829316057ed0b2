#!/usr/bin/env bash
# Build, start and stop the sr2fhir test FHIR server: HAPI FHIR JPA on an in-memory H2 database,
# served by embedded Jetty at http://127.0.0.1:<port>/fhir. See docs/fhir-server.md.
#
#   run.sh build                                   build once (no-op while the jar is up to date)
#   run.sh start [--fhir-version R5|R4] [--port N]  start in the background, wait until
#                                                   GET <base>/metadata answers, print <base>
#   run.sh stop                                    SIGTERM, wait, SIGKILL after a deadline
#   run.sh url                                     print <base> of the running server
#
# Environment (all optional):
#   TEST_FHIR_SERVER_STATE          state folder (default: <this folder>/.run)
#   TEST_FHIR_SERVER_JAVA_OPTS      JVM options (default: -Xmx2g -XX:+UseSerialGC ...)
#   TEST_FHIR_SERVER_START_TIMEOUT  seconds to wait for /metadata (default: 300)
#   TEST_FHIR_SERVER_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default: 30)
#   JAVA, MVN                          the java and mvn commands (default: from PATH)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$HERE/target/sr2fhir-test-fhir-server.jar"
STATE="${TEST_FHIR_SERVER_STATE:-$HERE/.run}"
PID_FILE="$STATE/server.pid"
PORT_FILE="$STATE/port"
URL_FILE="$STATE/base-url"
VERSION_FILE="$STATE/fhir-version"
LOG_FILE="$STATE/server.log"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
# -Xmx2g: HAPI keeps the parsed R5 core package in memory (~650 MB live heap after start-up);
#   with 1 GB the server spent most of a benchmark in full GCs.
# SerialGC: the least GC overhead and memory on a 2-core machine.
# TieredStopAtLevel=1 (C1 JIT only): ~40% less CPU to start, same request rate in tests.
JAVA_OPTS="${TEST_FHIR_SERVER_JAVA_OPTS:--Xmx2g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError}"
START_TIMEOUT="${TEST_FHIR_SERVER_START_TIMEOUT:-300}"
STOP_TIMEOUT="${TEST_FHIR_SERVER_STOP_TIMEOUT:-30}"

die() { echo "run.sh: $*" >&2; exit 1; }

# True while the process exists and is not a zombie (a child that exited but was not reaped
# yet still answers kill -0).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# Seconds since the epoch, with fractions, for deadlines and timings.
now() { date +%s.%N; }
before() { awk -v a="$(now)" -v b="$1" 'BEGIN { exit !(a < b) }'; }
plus() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a + b }'; }

# True if the pid file names a live process that is this server (not a recycled pid).
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'sr2fhir-test-fhir-server.jar' || return 1
    echo "$pid"
}

cmd_build() {
    if [[ -f "$JAR" && -d "$HERE/target/lib" ]] \
        && [[ -z "$(find "$HERE/pom.xml" "$HERE/src" -newer "$JAR" -print -quit)" ]]; then
        return 0
    fi
    echo "run.sh: building $JAR (mvn package) ..." >&2
    (cd "$HERE" && "$MVN" -q -B package) >&2
    # maven-jar-plugin keeps an unchanged jar as it is: mark it as built now.
    touch "$JAR"
}

# GET <base>/metadata; true on HTTP 200.
metadata_ok() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
        -H 'Accept: application/fhir+json' "$1/metadata" 2>/dev/null)" || return 1
    [[ "$code" == 200 ]]
}

fail_start() {
    echo "run.sh: the FHIR server did not come up: $1" >&2
    if [[ -f "$LOG_FILE" ]]; then
        echo "---- last lines of $LOG_FILE ----" >&2
        grep -v '^[[:space:]]*at ' "$LOG_FILE" | tail -n 25 >&2 || true
        echo "----" >&2
    fi
    cmd_stop || true
    exit 1
}

cmd_start() {
    local version=R5 port=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --fhir-version) [[ $# -ge 2 ]] || usage; version="${2^^}"; shift 2 ;;
            --fhir-version=*) version="${1#*=}"; version="${version^^}"; shift ;;
            --port) [[ $# -ge 2 ]] || usage; port="$2"; shift 2 ;;
            --port=*) port="${1#*=}"; shift ;;
            *) usage ;;
        esac
    done
    [[ "$version" == R5 || "$version" == R4 ]] || die "--fhir-version must be R5 or R4, not $version"
    [[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number (0 = any free port), not $port"

    local pid
    if pid="$(running_pid)"; then
        local running_version
        running_version="$(cat "$VERSION_FILE" 2>/dev/null || echo '?')"
        if [[ "$running_version" != "$version" ]]; then
            die "a FHIR $running_version server is already running (pid $pid); run.sh stop first"
        fi
        if [[ -f "$URL_FILE" ]] && metadata_ok "$(cat "$URL_FILE")"; then
            echo "run.sh: already running (pid $pid)" >&2
            cat "$URL_FILE"
            return 0
        fi
        die "a server is running (pid $pid) but does not answer; run.sh stop first"
    fi

    command -v "$JAVA" >/dev/null || die "java not found (Java 17+ is needed)"
    command -v curl >/dev/null || die "curl not found"
    cmd_build

    mkdir -p "$STATE"
    rm -f "$PID_FILE" "$PORT_FILE" "$URL_FILE" "$VERSION_FILE"
    echo "$version" >"$VERSION_FILE"
    local t0 deadline
    t0="$(now)"
    deadline="$(plus "$START_TIMEOUT")"
    # setsid: the server gets its own session, so it outlives this script and a Ctrl-C in the
    # terminal that ran it. The process is java itself (setsid execs it), so $! is its pid.
    # shellcheck disable=SC2086  # JAVA_OPTS is a list of words
    setsid "$JAVA" $JAVA_OPTS -jar "$JAR" \
        --fhir-version "$version" --host 127.0.0.1 --port "$port" --port-file "$PORT_FILE" \
        </dev/null >"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"

    # The server writes the port file once Jetty listens (after the Spring context is up).
    local base=""
    while before "$deadline"; do
        alive "$pid" || fail_start "the process exited"
        if [[ -z "$base" && -s "$PORT_FILE" ]]; then
            base="http://127.0.0.1:$(tr -d '[:space:]' <"$PORT_FILE")/fhir"
        fi
        if [[ -n "$base" ]] && metadata_ok "$base"; then
            echo "$base" >"$URL_FILE"
            awk -v a="$(now)" -v b="$t0" -v v="$version" -v p="$pid" \
                'BEGIN { printf "run.sh: FHIR %s server up in %.1f s (pid %s)\n", v, a - b, p }' >&2
            echo "$base"
            return 0
        fi
        sleep 0.5
    done
    fail_start "no answer from GET ${base:-<base>}/metadata within ${START_TIMEOUT}s"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE" "$PORT_FILE" "$URL_FILE" "$VERSION_FILE"
        echo "run.sh: not running" >&2
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline
    deadline="$(plus "$STOP_TIMEOUT")"
    while alive "$pid" && before "$deadline"; do
        sleep 0.2
    done
    if alive "$pid"; then
        echo "run.sh: pid $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$PID_FILE" "$PORT_FILE" "$URL_FILE" "$VERSION_FILE"
    echo "run.sh: stopped (pid $pid)" >&2
}

cmd_url() {
    running_pid >/dev/null && [[ -s "$URL_FILE" ]] || die "not running (start it with: $0 start)"
    cat "$URL_FILE"
}

[[ $# -ge 1 ]] || usage
sub="$1"
shift
case "$sub" in
    build) [[ $# -eq 0 ]] || usage; cmd_build ;;
    start) cmd_start "$@" ;;
    stop) [[ $# -eq 0 ]] || usage; cmd_stop ;;
    url) [[ $# -eq 0 ]] || usage; cmd_url ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
