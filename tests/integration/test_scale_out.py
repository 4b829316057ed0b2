"""Several `sr2fhir serve` nodes on one PostgreSQL database (spool.backend: postgresql), with
real peers: dcmtk storescu, HAProxy in TCP mode, a PostgreSQL that stops and comes back.

Nothing acknowledged is lost, nothing is delivered twice: each node delivers to its own
outbox, so a report in two outboxes would be a double delivery, and `attempts` counts how
often a job was claimed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import load_config
from sr2fhir.spool import InstanceInfo, SpoolRole, open_configured_spool
from tests.support.dcmtk import DCMTK_ENV, STORESCU, storescu
from tests.support.postgres import RUN_SH, cluster_url, database_url, fresh_database, spool_env
from tests.support.processes import free_port, require_executable, stop_process, wait_until
from tests.support.serve import GatewayProcess, outbox_uids, start_gateway
from tests.support.sr.benchmark import write_reports
from tests.support.sr.part10 import sop_instance_uid

pytestmark = pytest.mark.integration

HAPROXY = "/usr/sbin/haproxy"
LEASE = 3.0  # spool.lease_timeout of the nodes: a dead node's jobs move on this long after
SR = "1.2.840.10008.5.1.4.1.1.88.33"


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def start_node(work: Path, name: str, url: str, **env: str) -> GatewayProcess:
    """`sr2fhir serve` on the shared database, its own data folder, outbox and log."""
    settings = {
        **spool_env("postgresql", url),
        "SR2FHIR_SPOOL_LEASE_TIMEOUT": str(LEASE),
        "SR2FHIR_SPOOL_DB_TIMEOUT": "2",
        "SR2FHIR_HTTP_ENABLED": "false",
        "SR2FHIR_AUDIT_ENABLED": "false",
        **env,
    }
    node = start_gateway(work / name / "data", env=settings, log_name="gateway.log")
    wait_until(lambda: node.log_text().count(" started (pid ") >= 2, 60, f"{name}'s workers")
    return node


@contextmanager
def nodes(work: Path, url: str, count: int, **env: str) -> Iterator[list[GatewayProcess]]:
    with ExitStack() as stack:
        started = []
        for index in range(count):
            node = start_node(work, f"node{index}", url, **env)
            stack.callback(stop_process, node.proc)
            started.append(node)
        yield started


def node_id(node: GatewayProcess) -> str:
    """How the node names itself in `locked_by` (host:pid)."""
    return f"{socket.gethostname()}:{node.proc.pid}"


def storescu_verbose(port: int, files: Sequence[Path], calling: str, log: Path) -> Any:
    """storescu -v in the background; its log tells which files were acknowledged."""
    command = [require_executable(STORESCU), "-v", "-R", "-aet", calling, "-aec", "SR2FHIR"]
    command += ["127.0.0.1", str(port), *map(str, files)]
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=DCMTK_ENV, stdout=out, stderr=subprocess.STDOUT)


def acknowledged(log: Path) -> set[str]:
    """UIDs of the files storescu saw answered Success ("Sending file: X" ... "Received
    Store Response (Success)")."""
    done, current = set(), None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("I: Sending file: "):
            current = Path(line.removeprefix("I: Sending file: ").strip())
        elif "Received Store Response (Success)" in line and current is not None:
            done.add(sop_instance_uid(current))
            current = None
    return done


def delivered_twice(outboxes: Sequence[Path]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for outbox in outboxes:
        uids = outbox_uids(outbox)
        twice |= seen & uids
        seen |= uids
    return twice


def all_delivered(outboxes: Sequence[Path]) -> set[str]:
    return set().union(*(outbox_uids(outbox) for outbox in outboxes))


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a FHIR server that hangs, so
    the workers delivering to it hold their jobs (and leases) until they are killed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


# ---------------------------------------------------------------- kill -9 of one node of three


def test_three_nodes_a_killed_node_loses_nothing_and_its_jobs_finish_elsewhere(
    tmp_path: Path, database: str
) -> None:
    """300 SRs over three nodes (one storescu each); node1's workers hang delivering to a
    FHIR server that never answers, so they hold leased jobs when node1 is killed with
    SIGKILL mid-stream. Every SR storescu saw acknowledged is delivered exactly once by the
    other two, the jobs node1 held are taken over once their lease runs out, and nodes 0
    and 2 take all their own reports."""
    files = write_reports(tmp_path / "srs", 300)
    parts = [files[i::3] for i in range(3)]
    with black_hole() as hole, ExitStack() as stack:
        live = [start_node(tmp_path, f"node{i}", database) for i in (0, 2)]
        doomed = start_node(
            tmp_path,
            "node1",
            database,
            SR2FHIR_DELIVERY_SINK="fhir",
            SR2FHIR_FHIR_BASE_URL=f"http://127.0.0.1:{hole}/fhir",
            SR2FHIR_FHIR_READ_TIMEOUT="600",
        )
        for node in (*live, doomed):
            stack.callback(stop_process, node.proc)
        targets = [live[0], doomed, live[1]]
        logs = [tmp_path / f"storescu{i}.log" for i in range(3)]
        senders = [
            storescu_verbose(node.port, part, f"SENDER{i}", log)
            for i, (node, part, log) in enumerate(zip(targets, parts, logs, strict=True))
        ]
        for sender in senders:
            stack.callback(_reap, sender)

        def doomed_is_busy() -> bool:
            held = query(
                database,
                "SELECT count(*) FROM sr2fhir_jobs WHERE status = 'LOCKED' AND locked_by LIKE %s",
                (node_id(doomed) + "/%",),
            )[0][0]
            stored = query(
                database, "SELECT count(*) FROM sr2fhir_jobs WHERE calling_ae = 'SENDER1'"
            )[0][0]
            return held == 2 and stored >= 20  # both its workers hang, it keeps receiving

        wait_until(doomed_is_busy, 60, "node1 to hold two jobs mid-stream")
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.proc.wait(10)
        held = {
            row[0]
            for row in query(
                database,
                "SELECT id FROM sr2fhir_jobs WHERE status = 'LOCKED' AND locked_by LIKE %s",
                (node_id(doomed) + "/%",),
            )
        }
        assert len(held) == 2

        for index in (0, 2):
            assert senders[index].wait(120) == 0, logs[index].read_text()[-2000:]
        senders[1].wait(60)
        acked = set().union(*(acknowledged(log) for log in logs))
        assert len(acked) > 200

        def taken_over() -> bool:
            rows = query(
                database, "SELECT status FROM sr2fhir_jobs WHERE id = ANY(%s)", (list(held),)
            )
            return all(status == "DONE" for (status,) in rows)

        wait_until(taken_over, LEASE + 60, "the dead node's leased jobs to be done elsewhere")
        failover = time.monotonic() - killed_at
        outboxes = [node.outbox for node in live]
        wait_until(lambda: acked <= all_delivered(outboxes), 120, "every acknowledged SR")
        assert delivered_twice(outboxes) == set()
        attempts = dict(query(database, "SELECT id, attempts FROM sr2fhir_jobs"))
        assert {attempts[job] for job in held} == {2}  # node1's try, then the taker's
        assert {n for job, n in attempts.items() if job not in held} == {1}
        print(f"failover: node1's leased jobs done {failover:.1f} s after SIGKILL")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


# ---------------------------------------------------------------- two nodes, one queue


def test_two_nodes_draining_one_queue_never_work_a_job_twice(tmp_path: Path, database: str) -> None:
    """400 reports queued before two nodes (two worker processes each) start: every job is
    claimed once (attempts 1), delivered once, by one node or the other."""
    config = load_config(env={**spool_env("postgresql", database)})
    spool = open_configured_spool(config, SpoolRole.READER)
    files = write_reports(tmp_path / "srs", 400)
    try:
        for path in files:
            uid = sop_instance_uid(path)
            spool.receive(path.read_bytes(), InstanceInfo(SR, uid, "QUEUED"))
    finally:
        spool.close()
    expected = {sop_instance_uid(path) for path in files}
    with nodes(tmp_path, database, 2) as started:
        outboxes = [node.outbox for node in started]
        wait_until(lambda: all_delivered(outboxes) == expected, 180, "400 Bundles")
        counted = "SELECT status, attempts, count(*) FROM sr2fhir_jobs GROUP BY 1, 2"
        # The Bundle is written before its job's DONE commits: wait for the last commits.
        wait_until(
            lambda: all(row[0] != "LOCKED" for row in query(database, counted)), 60, "no LOCKED"
        )
        rows = query(database, counted)
    assert rows == [("DONE", 1, 400)]
    assert delivered_twice(outboxes) == set()
    assert all(outbox_uids(outbox) for outbox in outboxes), "both nodes worked"


# ---------------------------------------------------------------- PostgreSQL goes away


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A cluster of its own (tests/postgres/run.sh with its own state), to stop and start."""
    cluster_url()  # skip (or fail in CI) like every PostgreSQL test when there is none
    state = {"TEST_POSTGRES_STATE": str(tmp_path / "pg-state")}
    env = {**os.environ, **state}
    started = subprocess.run(
        [str(RUN_SH), "start"], env=env, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr
    base = started.stdout.strip()
    try:
        execute(base, "CREATE DATABASE gateway")
        url = database_url(base, "gateway")
        from sr2fhir.spool.pg_open import upgrade_database

        upgrade_database(load_config(env=spool_env("postgresql", url)).spool)
        yield url, env
    finally:
        subprocess.run([str(RUN_SH), "stop"], env=env, capture_output=True, timeout=120)


def store_all(port: int, files: Sequence[Path]) -> dict[str, int]:
    """C-STORE each file over one association; UID -> status (-1: no answer)."""
    import pydicom

    from tests.support.scu import sr_sender_ae

    statuses: dict[str, int] = {}
    assoc = sr_sender_ae("OUTAGE").associate("127.0.0.1", port, ae_title="SR2FHIR")
    assert assoc.is_established
    try:
        for path in files:
            ds = pydicom.dcmread(path)
            answer = assoc.send_c_store(ds)
            statuses[str(ds.SOPInstanceUID)] = int(answer.Status) if "Status" in answer else -1
    finally:
        assoc.release()
    return statuses


def test_while_postgresql_is_down_the_scp_refuses_and_then_resumes_by_itself(
    tmp_path: Path, own_cluster: tuple[str, dict[str, str]]
) -> None:
    url, env = own_cluster
    files = write_reports(tmp_path / "srs", 30)
    before, during, after = files[:10], files[10:20], files[20:]
    with nodes(tmp_path, url, 1, SR2FHIR_SPOOL_DB_TIMEOUT="1") as (node,):
        first = store_all(node.port, before)
        assert set(first.values()) == {0x0000}

        subprocess.run([str(RUN_SH), "pause"], env=env, check=True, timeout=60)
        refused = store_all(node.port, during)
        assert set(refused.values()) == {0xA700}  # out of resources: the sender keeps them
        assert node.proc.poll() is None

        subprocess.run([str(RUN_SH), "resume"], env=env, check=True, timeout=60)
        wait_until(
            lambda: store_all(node.port, during[:1]) == {sop_instance_uid(during[0]): 0},
            60,
            "the SCP to store again",
            every=0.5,
        )
        resent = store_all(node.port, during + after)  # what a PACS does with 0xA700
        assert set(resent.values()) == {0x0000}

        acked = set(first) | set(resent)
        wait_until(lambda: acked <= outbox_uids(node.outbox), 120, "every acknowledged SR")
        assert node.proc.poll() is None
    log = node.log_text()
    assert "C-STORE refused (0xA700), spool cannot store" in log
    assert "resumed after" in log  # the workers paused while the database was away
    assert "supervision updates the job database again" in log
    assert "psycopg.pool" not in log  # its reconnection warnings stay out (said once by us)


# ---------------------------------------------------------------- HAProxy in front of two nodes


def haproxy_config(path: Path, port: int, backends: Sequence[int]) -> Path:
    """TCP mode, least connections, a TCP check every 200 ms (down after one failure)."""
    servers = "\n".join(
        f"    server node{i} 127.0.0.1:{p} check inter 200ms fall 1 rise 2"
        for i, p in enumerate(backends)
    )
    path.write_text(
        f"""global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    retries 2
    option redispatch
frontend dicom
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance leastconn
{servers}
"""
    )
    return path


@contextmanager
def running_haproxy(config: Path, port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        [require_executable(HAPROXY), "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        from tests.support.processes import accepts_tcp

        wait_until(lambda: accepts_tcp(port) or proc.poll() is not None, 30, "HAProxy")
        assert proc.poll() is None, "haproxy exited"
        yield
    finally:
        stop_process(proc)


def test_two_nodes_behind_haproxy_share_the_associations_and_survive_one_dying(
    tmp_path: Path, database: str
) -> None:
    """One AE address (HAProxy, TCP mode) for two nodes: associations are spread over both;
    after one node is killed the check takes it out and every new association lands on
    the other; every acknowledged SR is delivered once."""
    files = write_reports(tmp_path / "srs", 40)
    with nodes(tmp_path, database, 2) as started:
        port = free_port()
        config = haproxy_config(tmp_path / "haproxy.cfg", port, [n.port for n in started])
        with running_haproxy(config, port):
            acked: set[str] = set()
            for batch in range(4):  # one association per storescu run
                chunk = files[batch * 5 : batch * 5 + 5]
                assert storescu(port, chunk, calling=f"LB{batch}").returncode == 0
                acked |= {sop_instance_uid(p) for p in chunk}
            callers = {row[0] for row in query(database, "SELECT calling_ae FROM sr2fhir_jobs")}
            assert callers == {"LB0", "LB1", "LB2", "LB3"}
            assert all("received:" in node.log_text() for node in started), "both took some"
            outboxes = [node.outbox for node in started]
            wait_until(lambda: acked <= all_delivered(outboxes), 120, "the first 20 SRs")

            os.killpg(started[0].proc.pid, signal.SIGKILL)
            started[0].proc.wait(10)
            rest = files[20:]
            for batch in range(4):
                chunk = rest[batch * 5 : batch * 5 + 5]
                done = wait_until(
                    lambda chunk=chunk: storescu(port, chunk, calling="AFTER").returncode == 0,
                    30,
                    "an association through HAProxy to the live node",
                    every=0.3,
                )
                assert done
                acked |= {sop_instance_uid(p) for p in chunk}
            wait_until(lambda: acked <= all_delivered(outboxes), 120, "every acknowledged SR")
            assert len(acked) == 40
            assert delivered_twice(outboxes) == set()
