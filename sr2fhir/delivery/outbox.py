"""The outbox sink: one `<SOPInstanceUID>.json` per SR, written atomically, and beside it
`<SOPInstanceUID>.warnings.json` when the mapping left something out (issue 15): written
first, so a reader that sees a Bundle sees its warnings; a new version without warnings
removes the old version's file.

A reader never sees a half-written Bundle: the JSON goes to a hidden temp file in the same
folder (`.<name>.<pid>.<random>.tmp`: readers take `*.json` only), is fsynced, then renamed
over the final name. A new version of an instance replaces the previous Bundle, so redelivery
is idempotent. A full disk is a DiskFullError (the worker gives the job back and pauses),
other write errors are transient.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from sr2fhir.delivery.sink import Receipt, SinkCheck
from sr2fhir.errors import DiskFullError, PermanentDeliveryError, TransientDeliveryError
from sr2fhir.fsutil import is_out_of_space, temp_beside, write_atomically
from sr2fhir.mapping import MappingWarning, bundle_to_json, warnings_document
from sr2fhir.spool import InstanceInfo
from sr2fhir.uids import is_valid_uid

WARNINGS_SUFFIX = ".warnings.json"  # readers of Bundles skip `*.warnings.json`

# `.<name>.<pid of the writer>.<8 hex>.tmp`: a dead worker's own temp files can be found.
_TEMP_WRITER = re.compile(r"\.(\d+)\.[0-9a-f]{8}\.tmp$")


class OutboxSink:
    """Writes Bundles into a folder; returns the file name as the delivery receipt."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def recover(self, pid: int | None = None) -> None:
        """Temp files of deliveries a crash interrupted (their jobs are still not DONE): all
        of them, or those the worker process `pid` was writing when it died."""
        for stale in self.folder.glob(".*.tmp"):
            writer = _TEMP_WRITER.search(stale.name)
            if pid is None or (writer is not None and int(writer.group(1)) == pid):
                stale.unlink(missing_ok=True)

    def deliver(
        self,
        bundle: dict[str, Any],
        instance: InstanceInfo,
        warnings: tuple[MappingWarning, ...] = (),
    ) -> Receipt:
        uid = instance.sop_instance_uid
        if not is_valid_uid(uid):
            raise PermanentDeliveryError(f"SOP Instance UID is not a valid UID: {uid[:70]!r}")
        name = f"{uid}.json"
        try:
            data = bundle_to_json(bundle)
        except ValueError as exc:  # a NaN or an infinity: not JSON
            raise PermanentDeliveryError(f"Bundle is not valid JSON: {exc}") from exc
        notes = self.folder / f"{uid}{WARNINGS_SUFFIX}"
        if warnings:
            document = json.dumps(warnings_document(uid, warnings), indent=1).encode("utf-8")
            self._write(notes, document)
        else:
            try:
                notes.unlink(missing_ok=True)
            except OSError as exc:
                raise TransientDeliveryError(f"cannot remove {notes.name}: {exc}") from exc
        self._write(self.folder / name, data)
        return Receipt(name)

    def _write(self, target: Path, data: bytes) -> None:
        try:  # the temp file names its writer's pid: see recover
            write_atomically(target, data, tmp=temp_beside(target))
        except OSError as exc:
            if is_out_of_space(exc):  # the gateway's own disk, not this report: workers pause
                raise DiskFullError(f"outbox {self.folder} full: {exc.strerror}") from exc
            why = exc.strerror or exc
            raise TransientDeliveryError(f"cannot write {target.name}: {why}") from exc

    def probe(self, timeout: float) -> SinkCheck:
        """The folder is there and writable (`timeout`: a local check takes none)."""
        if self.folder.is_dir() and os.access(self.folder, os.W_OK | os.X_OK):
            return SinkCheck(True, "outbox folder writable")
        return SinkCheck(False, f"outbox folder {self.folder} is missing or not writable")
