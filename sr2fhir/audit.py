"""The audit trail (IG security considerations: audit logs SHALL be kept).

Append-only JSON lines, one file per UTC day (`audit-YYYY-MM-DD.jsonl`): each event is one
`write()` on a file opened with O_APPEND, so the SCP and every worker process can append to
the same file without interleaving. Events carry UIDs, job ids, AE titles and addresses —
never patient names, IDs or dataset content.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

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
