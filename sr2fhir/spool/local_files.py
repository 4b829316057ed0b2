"""FileStore on a local folder: temp file, fsync, rename, fsync the folder.

Keys are `files/<received-ns>-<random>.dcm` or `quarantine/<same name>`; the receive time in the
name lets start-up recovery tell an orphan older version from a newer one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from sr2fhir.fsutil import fsync_dir, remove_quietly, write_atomically
from sr2fhir.spool.model import FolderSize

SPOOL_DIR = "files"
QUARANTINE_DIR = "quarantine"
TMP_DIR = "tmp"
SUFFIX = ".dcm"
PROBE_BYTES = 64 * 1024  # about one SR: a folder that cannot take this much is full


class LocalFileStore:
    """Part-10 files under one folder (the gateway's data folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in (SPOOL_DIR, QUARANTINE_DIR, TMP_DIR):
            (root / name).mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes, received_at: float) -> str:
        name = f"{int(received_at * 1e9):020d}-{secrets.token_hex(6)}{SUFFIX}"
        tmp = self.root / TMP_DIR / name
        final = self.root / SPOOL_DIR / name
        try:
            write_atomically(final, data, tmp=tmp)
        except OSError:  # e.g. the folder's fsync failed after the rename: not stored, not kept
            remove_quietly(final)
            raise
        return f"{SPOOL_DIR}/{name}"

    def probe(self) -> None:
        """Write, fsync and remove a file of PROBE_BYTES in the temp folder (OSError if that
        fails): a disk with a few kB left takes no instance, whatever statvfs says."""
        path = self.root / TMP_DIR / f".probe-{os.getpid()}-{threading.get_ident()}"
        try:
            write_atomically(path, bytes(PROBE_BYTES), tmp=path)
        finally:
            remove_quietly(path)

    def read(self, key: str) -> bytes:
        return self._locate(key).read_bytes()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._locate(key).unlink()

    def quarantine(self, key: str) -> str:
        return self._move(key, QUARANTINE_DIR)

    def restore(self, key: str) -> str:
        return self._move(key, SPOOL_DIR)

    def is_quarantined(self, key: str) -> bool:
        return key.startswith(QUARANTINE_DIR + "/")

    def received_at(self, key: str) -> float:
        stem = key.rsplit("/", 1)[-1].split("-", 1)[0]
        return int(stem) / 1e9

    def spooled_keys(self) -> Iterator[str]:
        for entry in os.scandir(self.root / SPOOL_DIR):
            if entry.name.endswith(SUFFIX):
                yield f"{SPOOL_DIR}/{entry.name}"

    def _move(self, key: str, folder: str) -> str:
        """Idempotent: a move already done (before a crash) is not an error."""
        name = key.rsplit("/", 1)[-1]
        new_key = f"{folder}/{name}"
        source, target = self._locate(key), self._path(new_key)
        if source != target:
            os.replace(source, target)
            fsync_dir(self.root / folder)
        return new_key

    def _locate(self, key: str) -> Path:
        """Where the file is: names are unique, and a crash may have left the row's key one
        folder behind a move (quarantine/restore) that happened."""
        path = self._path(key)
        if path.exists():
            return path
        for folder in (SPOOL_DIR, QUARANTINE_DIR):
            moved = self.root / folder / path.name
            if moved.exists():
                return moved
        return path

    def _path(self, key: str) -> Path:
        folder, _, name = key.partition("/")
        if folder not in (SPOOL_DIR, QUARANTINE_DIR) or "/" in name or not name:
            raise ValueError(f"not a spool file key: {key!r}")
        return self.root / folder / name

    def sizes(self) -> dict[str, FolderSize]:
        """Files waiting (files/) and quarantined (quarantine/), with their bytes."""
        return {name: _folder_size(self.root / name) for name in (SPOOL_DIR, QUARANTINE_DIR)}

    def discard_temp(self) -> int:
        """At start-up only: temp files were never acknowledged (no rename happened)."""
        count = 0
        for entry in os.scandir(self.root / TMP_DIR):
            os.unlink(entry.path)
            count += 1
        return count


def _folder_size(folder: Path) -> FolderSize:
    files = size = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return FolderSize(0, 0)
    for entry in entries:
        try:
            if entry.is_file():
                files += 1
                size += entry.stat().st_size
        except OSError:  # deleted since the listing (delivered meanwhile)
            continue
    return FolderSize(files, size)
