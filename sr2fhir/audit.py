"""The audit trail (IG security considerations: audit logs SHALL be kept).

Append-only JSON lines, one file per UTC day (`audit-YYYY-MM-DD.jsonl`): each event is one
`write()` on a file opened with O_APPEND, so the SCP and every worker process can append to
the same file without interleaving. Events carry UIDs, job ids, AE titles and addresses —
never patient names, IDs or dataset content.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from sr2fhir.events import Event, EventValue, GatewayEvent
from sr2fhir.log import utc_timestamp

log = logging.getLogger(__name__)


class AuditLog:
    """Records one event per line: time (UTC), event, and its fields."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.clock = clock
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, when: float) -> Path:
        return self.folder / f"audit-{time.strftime('%Y-%m-%d', time.gmtime(when))}.jsonl"

    def record(self, event: str, **fields: EventValue) -> None:
        now = self.clock()
        line = json.dumps(
            {"time": utc_timestamp(now), "event": event, **fields}, separators=(",", ":")
        )
        fd = os.open(self.path_for(now), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)


_WHO = ("calling_ae", "called_ae", "peer")
_JOB = ("job_id", "sop_instance_uid", "calling_ae")
AUDITED: dict[GatewayEvent, tuple[str, tuple[str, ...]]] = {
    # event kind -> (the audit event's name, the fields it records, in this order)
    GatewayEvent.ASSOCIATION_ACCEPTED: ("association-accepted", _WHO),
    GatewayEvent.ASSOCIATION_REJECTED: ("association-rejected", _WHO),
    GatewayEvent.INSTANCE_STORED: (
        "instance-received",
        ("job_id", "sop_instance_uid", "sop_class_uid", "calling_ae"),
    ),
    GatewayEvent.JOB_DELIVERED: ("delivered", (*_JOB, "sink", "resources")),
    GatewayEvent.JOB_HELD: ("held", (*_JOB, "reason")),
    GatewayEvent.JOB_FAILED: ("failed", (*_JOB, "reason")),
    GatewayEvent.JOB_REJECTED: ("failed", (*_JOB, "reason")),
}


class AuditTrail:
    """The event listener that keeps the audit trail: associations, stored instances,
    deliveries and failures, with the fields AUDITED names (nothing else an event carries)."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def __call__(self, event: Event) -> None:
        entry = AUDITED.get(event.kind)
        if entry is None:
            return
        name, fields = entry
        try:
            self.audit.record(name, **{f: event.fields.get(f) for f in fields})
        except OSError as exc:  # what happened is recorded elsewhere already; say so loudly
            job = event.fields.get("job_id")
            where = f"job {job}: " if job is not None else ""
            log.error("%saudit trail not written: %s", where, exc.strerror or exc)
