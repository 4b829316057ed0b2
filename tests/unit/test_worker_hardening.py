"""Workers against hostile input and odd servers: a foreign data set, a delivery bug, an
older version run again, a dead worker's temp files (hardening issue, points 4, 6, 7, 9)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.cli import main
from sr2fhir.config import Config
from sr2fhir.delivery import OutboxSink, Receipt
from sr2fhir.errors import PermanentDeliveryError
from sr2fhir.spool import InstanceInfo, JobStatus, Spool
from tests.support.fake_sinks import Delivery, FakeSink
from tests.support.in_process import worker
from tests.support.postgres import write_config
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.hostile import first_num
from tests.support.sr.identity import COMPREHENSIVE_SR as SR
from tests.support.sr.part10 import from_bytes, to_bytes


@pytest.fixture
def spool(any_spool: Spool) -> Spool:
    """The spool of each back end (tests/conftest.py)."""
    return any_spool


def config_flag(config: Config) -> list[str]:
    """`--config FILE` selecting the spool of `config` for a CLI command."""
    return ["--config", str(write_config(config.spool.path.parent / "sr2fhir.yaml", config))]


def version(index: int, value: float) -> bytes:
    """Benchmark report `index` whose first NUM is `value` (two versions, one instance)."""
    ds = benchmark_report(index)
    measured = first_num(ds).MeasuredValueSequence[0]
    measured.NumericValue = str(value)
    measured.FloatingPointValue = value
    return to_bytes(ds)


def uid_of(data: bytes) -> str:
    return str(from_bytes(data).SOPInstanceUID)


def receive(spool: Spool, data: bytes, uid: str | None = None) -> int:
    return spool.receive(data, InstanceInfo(SR, uid or uid_of(data), "MODALITY"))


class Broken(FakeSink):
    """A sink whose code has a bug: it raises what no delivery error handler expects."""

    def answer(self, delivery: Delivery) -> Receipt:
        return delivery.bundle["no such key"]  # type: ignore[no-any-return]


class Refusing(FakeSink):
    """A FHIR-ish sink that refuses, keeping the server's strange answer."""

    def answer(self, delivery: Delivery) -> Receipt:
        raise PermanentDeliveryError(
            "transaction: the answer is a JSON string, not a resource", answer='"OK"'
        )


# ---------------------------------------------------------------- point 4


def test_a_data_set_of_another_instance_never_replaces_that_instances_output(
    spool: Spool, tmp_path: Path
) -> None:
    """A job named A whose data set is B (spooled before the C-STORE check existed, or by
    any other path) fails; neither A's nor B's Bundle is touched."""
    outbox = tmp_path / "outbox"
    a, b = benchmark_report_bytes(21), benchmark_report_bytes(22)
    receive(spool, a)
    run = worker(spool, OutboxSink(outbox))
    assert run.run_once()
    delivered = (outbox / f"{uid_of(a)}.json").read_bytes()
    job_id = receive(spool, b, uid=uid_of(a))
    assert run.run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.last_error == f"the data set's SOP Instance UID ({uid_of(b)}) is not the job's"
    assert spool.is_quarantined(job)
    assert (outbox / f"{uid_of(a)}.json").read_bytes() == delivered
    assert sorted(p.name for p in outbox.iterdir()) == [f"{uid_of(a)}.json"]


# ---------------------------------------------------------------- point 6


def test_a_bug_in_the_delivery_code_retries_the_job_instead_of_killing_the_worker(
    spool: Spool,
) -> None:
    job_id = receive(spool, benchmark_report_bytes(23))
    assert worker(spool, Broken()).run_once()  # returned: the worker lives on
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.READY and job.attempts == 1
    assert job.last_error == "internal delivery error: KeyError"


def test_a_strange_answer_fails_the_job_once_and_queue_show_prints_it(
    spool: Spool, spool_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = receive(spool, benchmark_report_bytes(24))
    assert worker(spool, Refusing()).run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.attempts == 1
    assert job.outcome == '"OK"'
    assert main(["queue", *config_flag(spool_config), "show", str(job_id)]) == 0
    out = capsys.readouterr().out
    assert "last_error:       delivery refused: transaction: the answer is a JSON string" in out
    assert 'answer (what the FHIR server sent, as received):\n"OK"' in out


# ---------------------------------------------------------------- point 7


def test_queue_retry_of_an_older_version_never_overwrites_the_newer_one(
    spool: Spool, spool_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fails during an outage, the corrected B is delivered, then `queue retry --failed`:
    A is superseded at delivery time, the outbox keeps B."""
    outbox = tmp_path / "outbox"
    old, new = version(25, 11.5), version(25, 22.5)
    old_id = receive(spool, old)
    assert worker(spool, Refusing()).run_once()  # the outage
    new_id = receive(spool, new)
    assert new_id != old_id
    run = worker(spool, OutboxSink(outbox))
    assert run.run_once()
    bundle = outbox / f"{uid_of(new)}.json"
    assert "22.5" in bundle.read_text()

    assert main(["queue", *config_flag(spool_config), "retry", "--failed"]) == 0
    assert "1 job(s) queued again" in capsys.readouterr().out
    assert run.run_once()
    retried = spool.get(old_id)
    assert retried is not None and retried.status is JobStatus.DONE
    assert retried.last_error == f"superseded by job {new_id}"
    assert "22.5" in bundle.read_text() and "11.5" not in bundle.read_text()
    assert spool.sizes()["files"].files == 0


def test_a_version_that_arrives_while_one_is_mapped_wins(spool: Spool, tmp_path: Path) -> None:
    """The check runs right before delivery: B received while A is being mapped."""
    outbox = tmp_path / "outbox"
    old, new = version(26, 11.5), version(26, 22.5)
    old_id = receive(spool, old)
    convert_then_receive_b = _converting_then(lambda: receive(spool, new))
    run = worker(spool, OutboxSink(outbox), convert=convert_then_receive_b)
    assert run.run_once()
    superseded = spool.get(old_id)
    assert superseded is not None and superseded.status is JobStatus.DONE
    assert not (outbox / f"{uid_of(old)}.json").exists()  # A was never written
    assert run.run_once()
    assert "22.5" in (outbox / f"{uid_of(new)}.json").read_text()


def _converting_then(side_effect: Any) -> Any:
    from sr2fhir.mapping import MappingOptions
    from sr2fhir.worker import make_converter

    convert = make_converter(MappingOptions())
    done: list[bool] = []

    def run(data: bytes) -> dict[str, Any]:
        bundle = convert(data)
        if not done:
            done.append(True)
            side_effect()
        return bundle

    return run


# ---------------------------------------------------------------- point 9


def test_the_outbox_removes_the_temp_files_of_one_dead_writer(tmp_path: Path) -> None:
    sink = OutboxSink(tmp_path)
    dead, alive = 4242, os.getpid()
    names = {
        "dead": f".1.2.{dead}.json.{dead}.0a1b2c3d.tmp",
        "alive": f".1.2.{dead}.json.{alive}.0a1b2c3d.tmp",  # the UID holds the dead pid too
        "bundle": "1.2.3.json",
    }
    for name in names.values():
        (tmp_path / name).write_text("{}")
    sink.recover(dead)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["alive"], names["bundle"]])
    sink.recover()  # at start: every temp file
    assert [p.name for p in tmp_path.iterdir()] == [names["bundle"]]


def test_temp_files_name_their_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []

    def record(target: Path, data: bytes, *, tmp: Path) -> None:
        written.append(tmp.name)

    monkeypatch.setattr("sr2fhir.delivery.outbox.write_atomically", record)
    bundle = json.loads(json.dumps({"resourceType": "Bundle", "entry": []}))
    OutboxSink(tmp_path).deliver(bundle, InstanceInfo(SR, "1.2.3", "X"))
    [name] = written
    assert name.startswith(".1.2.3.json.") and f".{os.getpid()}." in name
