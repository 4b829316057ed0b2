"""The outbox sink: one `<SOPInstanceUID>.json` per SR, written atomically.

A reader never sees a half-written Bundle: the JSON goes to a hidden temp file in the same
folder, is fsynced, then renamed over the final name. A new version of an instance replaces
the previous Bundle, so redelivery is idempotent. A full disk is a DiskFullError (the worker
gives the job back and pauses), other write errors are transient.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, Protocol

from sr2fhir.errors import DiskFullError, PermanentDeliveryError, TransientDeliveryError
from sr2fhir.mapping import bundle_to_json
from sr2fhir.spool import InstanceInfo
from sr2fhir.spool.local_files import write_durably
from sr2fhir.spool.space import is_out_of_space

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class Sink(Protocol):
    """Delivers one Bundle; raises TransientDeliveryError or PermanentDeliveryError (or
    DiskFullError: no room to write it locally, which is not the report's fault)."""

    def deliver(self, bundle: dict[str, Any], instance: InstanceInfo) -> str: ...

    def recover(self) -> None:
        """Once at gateway start, before any worker runs: clean up interrupted deliveries."""


class OutboxSink:
    """Writes Bundles into a folder; returns the file name as the delivery receipt."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def recover(self) -> None:
        """Temp files of deliveries a crash interrupted (their jobs are still not DONE)."""
        for stale in self.folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def deliver(self, bundle: dict[str, Any], instance: InstanceInfo) -> str:
        uid = instance.sop_instance_uid
        if not _UID.match(uid) or len(uid) > 64:
            raise PermanentDeliveryError(f"SOP Instance UID is not a valid UID: {uid[:70]!r}")
        name = f"{uid}.json"
        tmp = self.folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            write_durably(tmp, self.folder / name, bundle_to_json(bundle))
        except OSError as exc:
            if is_out_of_space(exc):  # the gateway's own disk, not this report: workers pause
                raise DiskFullError(f"outbox {self.folder} full: {exc.strerror}") from exc
            raise TransientDeliveryError(f"cannot write {name}: {exc.strerror or exc}") from exc
        return name
