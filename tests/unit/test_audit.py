"""The audit trail: append-only JSON lines per day; the worker records deliveries and failures."""

from __future__ import annotations

import json
from pathlib import Path

from sr2fhir.audit import AuditLog, AuditTrail
from sr2fhir.delivery import OutboxSink
from sr2fhir.events import EventBus, GatewayEvent
from sr2fhir.mapping import MappingOptions
from sr2fhir.spool import InstanceInfo, open_spool
from sr2fhir.worker import Worker, make_converter
from tests.support.sr.bad_inputs import non_tid1500_sr_bytes
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report

DAY = 1795824000.0  # 2026-11-28T00:00:00Z


def lines(folder: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for p in sorted(folder.glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def test_events_are_appended_one_line_each_in_a_file_per_day(tmp_path: Path) -> None:
    now = [DAY + 10.5]
    audit = AuditLog(tmp_path, clock=lambda: now[0])
    audit.record("instance-received", job_id=1, sop_instance_uid="1.2.3", calling_ae="CT1")
    now[0] = DAY + 86400 + 1
    audit.record("delivered", job_id=1, resources=["Observation/x"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit-2026-11-28.jsonl",
        "audit-2026-11-29.jsonl",
    ]
    first, second = lines(tmp_path)
    assert first == {
        "time": "2026-11-28T00:00:10.500Z",
        "event": "instance-received",
        "job_id": 1,
        "sop_instance_uid": "1.2.3",
        "calling_ae": "CT1",
    }
    assert second["event"] == "delivered" and second["resources"] == ["Observation/x"]


def test_the_worker_audits_deliveries_and_failures_without_phi(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "data")
    good = planar_report()
    spool.receive(
        to_bytes(good), InstanceInfo(str(good.SOPClassUID), str(good.SOPInstanceUID), "CT1")
    )
    bad = non_tid1500_sr_bytes()
    spool.receive(bad, InstanceInfo("1.2.840.10008.5.1.4.1.1.88.33", "1.2.3.4", "CT2"))
    audit = AuditLog(tmp_path / "audit")
    events = EventBus([AuditTrail(audit)])
    worker = Worker(
        spool, make_converter(MappingOptions()), OutboxSink(tmp_path / "out"), "w1", events=events
    )
    assert worker.run_once() and worker.run_once()
    spool.close()
    events = lines(tmp_path / "audit")
    delivered = next(e for e in events if e["event"] == "delivered")
    assert delivered["sop_instance_uid"] == str(good.SOPInstanceUID)
    resources = delivered["resources"]
    assert isinstance(resources, list) and any(str(r).startswith("Observation/") for r in resources)
    failed = next(e for e in events if e["event"] == "failed")
    assert failed["calling_ae"] == "CT2" and "not a TID 1500" in str(failed["reason"])
    text = "".join(p.read_text() for p in (tmp_path / "audit").iterdir())
    assert "DOE" not in text and "PHI-PATIENT-4711" not in text


def test_the_trail_records_only_the_fields_it_names(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, clock=lambda: DAY)
    bus = EventBus([AuditTrail(audit)])
    bus.emit(
        GatewayEvent.JOB_DELIVERED,
        job_id=3,
        sop_instance_uid="1.2.3",
        calling_ae="CT1",
        sink="1.2.3.json",
        resources=["Observation/x"],
        received_at=DAY - 1,
    )
    bus.emit(GatewayEvent.FHIR_RESPONSE, method="POST", code="200")  # not audited
    bus.emit(
        GatewayEvent.JOB_REJECTED,
        job_id=4,
        sop_instance_uid="1.2.4",
        calling_ae="CT2",
        reason="not a usable SR",
    )
    delivered, failed = lines(tmp_path)
    assert delivered == {
        "time": "2026-11-28T00:00:00.000Z",
        "event": "delivered",
        "job_id": 3,
        "sop_instance_uid": "1.2.3",
        "calling_ae": "CT1",
        "sink": "1.2.3.json",
        "resources": ["Observation/x"],
    }
    assert (failed["event"], failed["reason"]) == ("failed", "not a usable SR")
