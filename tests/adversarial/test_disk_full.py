"""Attack: the data folder's disk fills up under a real `sr2fhir serve`.

The data folder lives on a small tmpfs (needs root and mount; otherwise the tests skip, and
tests/unit/test_disk_full.py covers the same paths with SQLite's max_page_count and injected
errors). SRs are sent until the disk is full; then the tmpfs is made bigger, as an operator
freeing space would, and the senders send again what was refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest

from sr2fhir.ops.probe import fetch
from tests.support.paths import REPO
from tests.support.processes import wait_until
from tests.support.scu import sr_sender_ae
from tests.support.serve import GatewayProcess, outbox_uids, running_gateway
from tests.support.sr.benchmark import write_reports
from tests.support.sr.part10 import sop_instance_uid

pytestmark = pytest.mark.integration

SUCCESS, OUT_OF_RESOURCES = 0x0000, 0xA700
SENT = 250  # ~11 kB each, and ~100 kB of Bundle once delivered: far more than 8 MB holds
HELD_BACK = 5  # refused instances the sender never sends again: they must never appear
UNIT_TESTS = "tests/unit/test_disk_full.py covers the same paths with SQLite's max_page_count"
NO_LIMIT = {"SR2FHIR_HTTP_PORT": "0", "SR2FHIR_SPOOL_MIN_FREE_BYTES": "0"}


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` for the test's duration."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip(f"mounting a small tmpfs needs root and mount; {UNIT_TESTS}")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); {UNIT_TESTS}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def resize(disk: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def fill(folder: Path) -> Path:
    """Write a filler file until the disk takes not one more byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(bytes(chunk))
            except OSError:
                continue
    return filler


def store(port: int, files: Sequence[Path]) -> dict[str, int | None]:
    """C-STORE every file over one association: {SOP Instance UID: status, None if none}."""
    answers: dict[str, int | None] = {}
    assoc = sr_sender_ae().associate("127.0.0.1", port, ae_title="SR2FHIR")
    assert assoc.is_established
    try:
        for path in files:
            ds = pydicom.dcmread(path)
            answer = assoc.send_c_store(ds) if assoc.is_established else None
            uid = str(ds.SOPInstanceUID)
            answers[uid] = int(answer.Status) if answer and "Status" in answer else None
    finally:
        if assoc.is_established:
            assoc.release()
    return answers


def ops_port(gateway: GatewayProcess) -> int:
    return int(gateway.wait_for_log(r"operations endpoint on http://[^:]+:(\d+)").group(1))


def spool_check(port: int) -> tuple[int | None, dict[str, object]]:
    """(/readyz status, its spool check)."""
    status, text = fetch("127.0.0.1", port, "readyz")
    body = json.loads(text) if status in (200, 503) else {}
    return status, body.get("checks", {}).get("spool", {})


def job_rows(data_dir: Path) -> Counter[tuple[str, str]]:
    """(SOP Instance UID, status) of every row of the job table."""
    db = sqlite3.connect(f"file:{data_dir / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        return Counter(db.execute("SELECT sop_instance_uid, status FROM jobs").fetchall())
    finally:
        db.close()


@pytest.mark.parametrize(
    ("min_free_bytes", "reason"),
    [
        ("0", "No space left on device"),  # no limit: the disk fills up for real
        ("6000000", "below spool.min_free_bytes (6000000)"),
    ],
)
def test_a_full_disk_refuses_with_a700_stays_up_and_resumes_when_space_returns(
    tmp_path: Path, min_free_bytes: str, reason: str
) -> None:
    files = write_reports(tmp_path / "srs", SENT)
    uid_of = {path: sop_instance_uid(path) for path in files}
    # One worker validating each Bundle (~40 ms) is slower than the sender: a backlog waits
    # when the disk fills, so the worker meets the full outbox too.
    env = {
        **NO_LIMIT,
        "SR2FHIR_SPOOL_MIN_FREE_BYTES": min_free_bytes,
        "SR2FHIR_WORKERS_COUNT": "1",
        "SR2FHIR_DELIVERY_VALIDATE": "true",
    }
    truly_full = min_free_bytes == "0"
    with small_disk(tmp_path / "disk", "8m") as data_dir:  # the gateway's log stays outside
        with running_gateway(data_dir, env=env) as gateway:
            port = ops_port(gateway)
            first = store(gateway.port, files)
            assert set(first.values()) == {SUCCESS, OUT_OF_RESOURCES}, Counter(first.values())
            assert gateway.proc.poll() is None, "the gateway died"

            def says_why() -> str:
                status, check = spool_check(port)
                detail = str(check.get("detail", ""))
                return detail if status == 503 and reason in detail else ""

            detail = wait_until(says_why, 30, f"/readyz to say {reason!r}")
            assert str(data_dir) in detail

            resize(data_dir, "64m")  # an operator makes room; no restart

            wait_until(lambda: spool_check(port)[0] == 200, 30, "/readyz to pass again")
            refused = [path for path in files if first[uid_of[path]] != SUCCESS]
            held_back = {uid_of[path] for path in refused[-HELD_BACK:]}
            again = store(gateway.port, refused[:-HELD_BACK])
            assert set(again.values()) == {SUCCESS}
            acknowledged = {uid for uid, s in first.items() if s == SUCCESS} | set(again)
            outbox = gateway.outbox
            wait_until(lambda: acknowledged <= outbox_uids(outbox), 120, "every Bundle")
            if truly_full:  # the worker met the full outbox, paused, and went on by itself
                gateway.wait_for_log(r"worker \S+ paused: outbox .* full")
                gateway.wait_for_log(r"worker \S+ resumed after \d+ failed tries")
        assert gateway.proc.returncode == 0 and "Traceback" not in gateway.log_text()

        assert outbox_uids(outbox) == acknowledged  # nothing refused turned up
        assert job_rows(data_dir) == Counter({(uid, "DONE"): 1 for uid in acknowledged})
        assert not held_back & {uid for uid, _ in job_rows(data_dir)}
        assert list((data_dir / "files").iterdir()) == []  # no refused file was kept


def serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sr2fhir", "serve", "--data-dir", str(data_dir)]
    command += ["--port", "0"]
    env = {**os.environ, **NO_LIMIT, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False
    )


def test_a_start_on_a_full_disk_is_one_line_and_the_next_start_with_room_works(
    tmp_path: Path,
) -> None:
    files = write_reports(tmp_path / "srs", 3)
    with small_disk(tmp_path / "disk", "4m") as data_dir:
        with running_gateway(data_dir, env=NO_LIMIT) as gateway:  # the folder has been in use
            assert set(store(gateway.port, files).values()) == {SUCCESS}
            wait_until(lambda: len(outbox_uids(gateway.outbox)) == 3, 60, "the Bundles")
        filler = fill(data_dir)

        refused = serve(data_dir)

        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.stderr.splitlines()[-1] == (
            f"sr2fhir serve: cannot start: cannot write to the data folder {data_dir}: "
            "No space left on device"
        )
        filler.unlink()
        with running_gateway(data_dir, env=NO_LIMIT, log_name="restart.log") as restarted:
            assert set(store(restarted.port, files).values()) == {SUCCESS}


def test_a_full_database_disk_refuses_the_commit_and_takes_instances_again_with_room(
    tmp_path: Path,
) -> None:
    """spool.backend postgresql: the instances' bytes on a 2 MB tmpfs (a tablespace); once
    it is full PostgreSQL refuses the commit, the spool answers DiskFullError (0xA700),
    nothing half-stored stays; with room again the same instance is stored."""
    import psycopg

    from sr2fhir.errors import DiskFullError
    from sr2fhir.spool import InstanceInfo, SpoolRole, open_configured_spool
    from tests.support.postgres import cluster_url, fresh_database, spool_config

    base = cluster_url()
    reachable = Path(tempfile.mkdtemp(prefix="sr2fhir-pgdisk-"))  # the server's user enters it
    reachable.chmod(0o755)
    with small_disk(reachable / "disk", "2m") as disk, fresh_database() as url:
        shutil.chown(disk, "postgres", "postgres")
        name = f"small_{os.getpid()}"
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"CREATE TABLESPACE {name} LOCATION '{disk}'")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"ALTER TABLE sr2fhir_job_data SET TABLESPACE {name}")
            spool = open_configured_spool(
                spool_config(tmp_path / "data", "postgresql", url), SpoolRole.GATEWAY
            )
            reports = write_reports(tmp_path / "srs", 400)
            try:
                stored, refused = 0, None
                for path in reports:
                    uid = sop_instance_uid(path)
                    try:
                        spool.receive(path.read_bytes(), InstanceInfo("1.2", uid, "FULL"))
                    except DiskFullError as exc:
                        refused = (path, uid, exc)
                        break
                    stored += 1
                assert refused is not None, "400 reports fitted in 2 MB"
                path, uid, exc = refused
                assert "No space left on device" in str(exc)
                assert spool.sizes()["files"].files == stored == sum(spool.counts().values())
                resize(disk, "64m")
                assert spool.receive(path.read_bytes(), InstanceInfo("1.2", uid, "FULL")) > 0
                assert sum(spool.counts().values()) == stored + 1
            finally:
                spool.close()
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP TABLE sr2fhir_job_data")
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f"DROP TABLESPACE {name}")
    shutil.rmtree(reachable, ignore_errors=True)
