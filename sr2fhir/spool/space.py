"""Room on the disk: the free-space limit for new instances and the classification of write
errors, so that a full disk is a DiskFullError everywhere and never an unhandled OSError."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sr2fhir.errors import DiskFullError, SpoolError
from sr2fhir.fsutil import is_out_of_space

FreeSpaceProbe = Callable[[Path], int]
"""Bytes the gateway may still write on the filesystem of a folder."""


def free_bytes(folder: Path) -> int:
    """Free bytes for an unprivileged user (statvfs f_bavail): root's reserve does not count."""
    return shutil.disk_usage(folder).free


def storage_error(what: str, exc: OSError) -> SpoolError:
    """`what` failed with `exc`: a DiskFullError when the filesystem is full, else SpoolError."""
    kind = DiskFullError if is_out_of_space(exc) else SpoolError
    return kind(f"{what}: {exc.strerror or exc}")


@dataclass(frozen=True, slots=True)
class SpaceGuard:
    """Keeps `min_free` bytes free on the data folder's filesystem: below it new instances are
    refused (C-STORE 0xA700) while the workers go on delivering, which empties the spool."""

    folder: Path
    min_free: int = 0
    probe: FreeSpaceProbe = free_bytes

    def free(self) -> int | None:
        """Free bytes now, or None when the folder cannot be asked (gone, not mounted)."""
        try:
            return self.probe(self.folder)
        except OSError:
            return None

    def shortage(self) -> str | None:
        """Why new instances are refused now; None while there is room (or the limit is 0)."""
        if self.min_free <= 0:
            return None
        free = self.free()
        if free is None or free >= self.min_free:
            return None
        return (
            f"data folder {self.folder} has {free} bytes free, "
            f"below spool.min_free_bytes ({self.min_free})"
        )

    def check(self) -> None:
        """Raise DiskFullError below the limit."""
        shortage = self.shortage()
        if shortage is not None:
            raise DiskFullError(shortage)
