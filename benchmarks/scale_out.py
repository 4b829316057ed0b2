"""Nodes on one PostgreSQL database against one SQLite node: the C-STORE ack path, several
nodes, and how long a killed node's jobs take to move on.

    python3 benchmarks/scale_out.py [--count 500] [--lease 5]

Needs the cluster of tests/postgres/run.sh (SR2FHIR_TEST_POSTGRES_URL, or it starts one in
a temporary state folder and stops it afterwards). In one run, each case on a fresh database
(or data folder), the nodes' workers up before the first C-STORE:
  0. the ack path alone: Spool.receive in-process (no SCP, no network), p50/p95 per back end;
  1. one association to one sqlite node, then to one postgresql node (the ack path: file
     fsync + rename + folder fsync + SQLite commit, against one PostgreSQL commit);
  2. four associations to one, two and three postgresql nodes (associations spread evenly).
Senders are dcmtk storescu runs (TCP_NODELAY=1), one per association, whose time-stamped
log gives every C-STORE's request-to-response time. Per case: ingest SR/s (association
request to last response), p50/p95 C-STORE latency, end-to-end SR/s (until every job is
DONE) and the CPU seconds the PostgreSQL server used (postmaster + backends, /proc) per
1000 SRs.
  3. failover: two nodes; one node's workers hang delivering to a FHIR server that never
     answers, so it holds two leased jobs; it is killed with SIGKILL; printed: seconds from
     the kill until both jobs are DONE on the other node (spool.lease_timeout --lease, and
     the default 30).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.dcmtk import DCMTK_ENV, STORESCU
from tests.support.postgres import ENV, RUN_SH, database_url, spool_env
from tests.support.processes import stop_process, wait_until
from tests.support.serve import GatewayProcess, start_gateway
from tests.support.sr.benchmark import write_reports

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    label: str
    backend: str
    nodes: int
    associations: int


CASES = (
    Case("1 assoc -> 1 sqlite node", "sqlite", 1, 1),
    Case("1 assoc -> 1 postgresql node", "postgresql", 1, 1),
    Case("4 assoc -> 1 postgresql node", "postgresql", 1, 4),
    Case("4 assoc -> 2 postgresql nodes", "postgresql", 2, 4),
    Case("4 assoc -> 3 postgresql nodes", "postgresql", 3, 4),
)


# ---------------------------------------------------------------- the database


@contextmanager
def cluster(work: Path) -> Iterator[str]:
    """The tests' cluster if SR2FHIR_TEST_POSTGRES_URL names one, else a new one."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    env = {**os.environ, "TEST_POSTGRES_STATE": str(work / "pg-state")}
    started = subprocess.run([str(RUN_SH), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(started.stderr)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(RUN_SH), "stop"], env=env, capture_output=True)


def sql(url: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def new_database(base: str, name: str) -> str:
    from sr2fhir.config import load_config
    from sr2fhir.spool.pg_open import upgrade_database

    sql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    sql(base, f"CREATE DATABASE {name}")
    url = database_url(base, name)
    upgrade_database(load_config(env=spool_env("postgresql", url)).spool)
    return url


def server_cpu_s(base: str) -> float:
    """CPU seconds of the PostgreSQL server: postmaster (with its reaped backends) and the
    backends alive now."""
    data_directory = sql(base, "SHOW data_directory")[0][0]
    pm = int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    total = sum(_stat(pm)[14:18])  # utime, stime, cutime, cstime
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != pm:
            try:
                stat = _stat(int(entry.name))
            except OSError:
                continue
            if stat[4] == pm:
                total += stat[14] + stat[15]
    return total / CLK_TCK


def _stat(pid: int) -> list[int]:
    """/proc/PID/stat as numbers, indexed as proc(5) numbers them (4: ppid, 14: utime)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    return [0, 0, 0, *(int(f) if f.lstrip("-").isdigit() else 0 for f in fields)]


# ---------------------------------------------------------------- nodes and senders


def start_nodes(work: Path, backend: str, url: str | None, count: int) -> list[GatewayProcess]:
    nodes = []
    for index in range(count):
        env = {
            **spool_env(backend, url),
            "SR2FHIR_HTTP_ENABLED": "false",
            "SR2FHIR_AUDIT_ENABLED": "false",
        }
        node = start_gateway(work / f"node{index}" / "data", env=env)
        wait_until(lambda node=node: node.log_text().count(" started (pid ") >= 2, 120, "workers")
        nodes.append(node)
    return nodes


LOG_CONFIG = """log4cplus.rootLogger = INFO, console
log4cplus.appender.console = log4cplus::ConsoleAppender
log4cplus.appender.console.layout = log4cplus::PatternLayout
log4cplus.appender.console.layout.ConversionPattern = %D{%s.%Q} %m%n
"""


def send_timed(
    port: int, files: Sequence[Path], log_config: Path
) -> tuple[float, float, list[float]]:
    """One association: dcmtk storescu with time-stamped log lines (microseconds); (time of
    the association request, time of the last response, each request-to-response time)."""
    command = [STORESCU, "-lc", str(log_config), "-R", "-aet", "BENCH", "-aec", "SR2FHIR"]
    done = subprocess.run(
        [*command, "127.0.0.1", str(port), *map(str, files)],
        env=DCMTK_ENV,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"storescu failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    first = last = sent = 0.0
    latencies = []
    for line in done.stdout.splitlines():
        stamp, _, text = line.partition(" ")
        if stamp.count(".") != 2:
            continue
        seconds, millis, micros = stamp.split(".")
        at = int(seconds) + int(millis) / 1e3 + int(micros) / 1e6
        if text.startswith("Requesting Association"):
            first = at
        elif text.startswith("Sending Store Request"):
            sent = at
        elif text.startswith("Received Store Response (Success)"):
            latencies.append(at - sent)
            last = at
    if len(latencies) != len(files):
        raise SystemExit(f"{len(latencies)} of {len(files)} answered Success")
    return first, last, latencies


def run_case(case: Case, files: Sequence[Path], work: Path, base: str) -> dict[str, float]:
    url = new_database(base, f"bench_{case.nodes}_{case.associations}_{case.backend}")
    if case.backend == "sqlite":
        url = None
    log_config = work / "dcmtk-log.cfg"
    log_config.write_text(LOG_CONFIG)
    with ExitStack() as stack:
        nodes = start_nodes(work / case.label.replace(" ", "_"), case.backend, url, case.nodes)
        for node in nodes:
            stack.callback(stop_process, node.proc)
        chunks = [files[i :: case.associations] for i in range(case.associations)]
        ports = [nodes[i % len(nodes)].port for i in range(case.associations)]
        cpu = server_cpu_s(base)
        with ThreadPoolExecutor(case.associations) as pool:
            results = list(pool.map(send_timed, ports, chunks, [log_config] * len(chunks)))
        cpu = server_cpu_s(base) - cpu
        first = min(r[0] for r in results)
        last = max(r[1] for r in results)
        wait_until(lambda: _all_done(nodes, url, len(files)), 3600, "every job DONE", 0.05)
        done = time.time()
    latencies = sorted(x for r in results for x in r[2])
    return {
        "ingest_sr_s": len(files) / (last - first),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "end_to_end_sr_s": len(files) / (done - first),
        "db_cpu_s_per_1000": 1000 * cpu / len(files) if url else float("nan"),
    }


def _all_done(nodes: Sequence[GatewayProcess], url: str | None, count: int) -> bool:
    if url is None:
        import sqlite3

        with sqlite3.connect(nodes[0].data_dir / "jobs.sqlite3") as db:
            done = db.execute("SELECT count(*) FROM jobs WHERE status = 'DONE'").fetchone()[0]
        return int(done) >= count
    return int(sql(url, "SELECT count(*) FROM sr2fhir_jobs WHERE status = 'DONE'")[0][0]) >= count


# ---------------------------------------------------------------- the ack path alone


def ack_path(files: Sequence[Path], work: Path, base: str) -> dict[str, tuple[float, float]]:
    """Spool.receive in-process, no SCP, no network, no workers: what a C-STORE waits for
    before Success on each back end; {backend: (p50 ms, p95 ms)}."""
    from sr2fhir.config import load_config
    from sr2fhir.spool import InstanceInfo, SpoolRole, open_configured_spool

    data = [path.read_bytes() for path in files]
    found = {}
    for backend in ("sqlite", "postgresql"):
        url = new_database(base, "bench_ack") if backend == "postgresql" else None
        env = {**spool_env(backend, url), "SR2FHIR_SPOOL_DATA_DIR": str(work / f"ack-{backend}")}
        spool = open_configured_spool(load_config(env=env), SpoolRole.GATEWAY)
        spool.receive(data[0], InstanceInfo("1.2", "warm-up", "BENCH"))
        took = []
        for index, raw in enumerate(data):
            began = time.perf_counter()
            spool.receive(raw, InstanceInfo("1.2", f"2.25.{index}", "BENCH"))
            took.append(time.perf_counter() - began)
        spool.close()
        took.sort()
        found[backend] = (1000 * statistics.median(took), 1000 * took[int(0.95 * (len(took) - 1))])
    return found


# ---------------------------------------------------------------- failover


def failover(work: Path, base: str, lease: float) -> float:
    """Seconds from SIGKILL of a node holding two leases until both jobs are DONE elsewhere."""
    url = new_database(base, f"bench_failover_{int(lease)}")
    files = write_reports(work / f"failover-{lease}", 40, start=50_000)
    with socket.socket() as hole, ExitStack() as stack:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        common = {**spool_env("postgresql", url), "SR2FHIR_SPOOL_LEASE_TIMEOUT": str(lease)}
        common |= {"SR2FHIR_HTTP_ENABLED": "false", "SR2FHIR_AUDIT_ENABLED": "false"}
        stuck = {
            "SR2FHIR_DELIVERY_SINK": "fhir",
            "SR2FHIR_FHIR_BASE_URL": f"http://127.0.0.1:{hole.getsockname()[1]}/fhir",
            "SR2FHIR_FHIR_READ_TIMEOUT": "3600",
        }
        doomed = start_gateway(work / f"f{lease}-doomed" / "data", env={**common, **stuck})
        stack.callback(stop_process, doomed.proc)
        wait_until(lambda: doomed.log_text().count(" started (pid ") >= 2, 120, "workers")
        from tests.support.dcmtk import storescu

        storescu(doomed.port, files[:10])
        held_by = f"{socket.gethostname()}:{doomed.proc.pid}/%"
        count = "SELECT count(*) FROM sr2fhir_jobs WHERE status = 'LOCKED' AND locked_by LIKE %s"
        wait_until(lambda: sql(url, count, (held_by,))[0][0] == 2, 60, "two held jobs")
        survivor = start_gateway(work / f"f{lease}-survivor" / "data", env=common)
        stack.callback(stop_process, survivor.proc)
        wait_until(lambda: survivor.log_text().count(" started (pid ") >= 2, 120, "workers")
        wait_until(lambda: _all_done([survivor], url, 8), 120, "the other eight")
        ids = [
            r[0]
            for r in sql(url, "SELECT id FROM sr2fhir_jobs WHERE locked_by LIKE %s", (held_by,))
        ]
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        done = "SELECT count(*) FROM sr2fhir_jobs WHERE status = 'DONE' AND id = ANY(%s)"
        wait_until(
            lambda: sql(url, done, (ids,))[0][0] == 2, lease + 120, "the taken-over jobs", 0.02
        )
        return time.monotonic() - killed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--cases", type=int, default=len(CASES), help="only the first N")
    parser.add_argument("--no-failover", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sr2fhir-scale-") as folder:
        work = Path(folder)
        files = write_reports(work / "srs", args.count)
        with cluster(work) as base:
            print(
                f"{args.count} SRs per case, {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}"
            )
            for backend, (p50, p95) in ack_path(files, work, base).items():
                print(f"ack path in-process, {backend:<10}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
            columns = ("ingest", "p50", "p95", "end-to-end", "db CPU")
            print(f"{'case':<32} " + " ".join(f"{c:>10}" for c in columns))
            for case in CASES[: args.cases]:
                r = run_case(case, files, work, base)
                print(
                    f"{case.label:<32} {r['ingest_sr_s']:>8.1f}/s {r['p50_ms']:>7.1f} ms "
                    f"{r['p95_ms']:>7.1f} ms {r['end_to_end_sr_s']:>8.1f}/s "
                    f"{r['db_cpu_s_per_1000']:>5.2f} s/1k"
                )
            for lease in () if args.no_failover else (args.lease, 30.0):
                took = failover(work, base, lease)
                print(f"failover, spool.lease_timeout {lease:g} s: done {took:.1f} s after SIGKILL")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
