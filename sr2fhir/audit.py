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
from typing import Any

from sr2fhir.spool import InstanceInfo

log = logging.getLogger(__name__)

AuditValue = str | int | float | list[str] | None


class AuditLog:
    """Records one event per line: time (UTC), event, and its fields."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.clock = clock
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, when: float) -> Path:
        return self.folder / f"audit-{time.strftime('%Y-%m-%d', time.gmtime(when))}.jsonl"

    def record(self, event: str, **fields: AuditValue) -> None:
        now = self.clock()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        line = json.dumps({"time": stamp, "event": event, **fields}, separators=(",", ":"))
        fd = os.open(self.path_for(now), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)


def audit_association(audit: AuditLog) -> Callable[[str, Any], None]:
    """A listener for association results: calling/called AE titles and the peer address."""

    def record(result: str, info: Any) -> None:
        try:
            audit.record(
                f"association-{result}",
                calling_ae=info.calling_ae,
                called_ae=info.called_ae,
                peer=info.peer,
            )
        except OSError as exc:
            log.error("audit trail not written: %s", exc.strerror or exc)

    return record


def auditing_receive(
    receive: Callable[[bytes, InstanceInfo], int], audit: AuditLog
) -> Callable[[bytes, InstanceInfo], int]:
    """The spool's receive, recording each stored instance once it is durable."""

    def audited(data: bytes, info: InstanceInfo) -> int:
        job_id = receive(data, info)
        try:
            audit.record(
                "instance-received",
                job_id=job_id,
                sop_instance_uid=info.sop_instance_uid,
                sop_class_uid=info.sop_class_uid,
                calling_ae=info.calling_ae,
            )
        except OSError as exc:  # stored already: the C-STORE still succeeds
            log.error("job %d: audit trail not written: %s", job_id, exc.strerror or exc)
        return job_id

    return audited
