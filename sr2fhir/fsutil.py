"""Files and folders the gateway writes: the one atomic-write helper (spool files, outbox
Bundles, `convert --out`, counters), folder probes, and what a full disk looks like."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from pathlib import Path

OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_out_of_space(exc: OSError) -> bool:
    return exc.errno in OUT_OF_SPACE


def folder_problem(path: Path) -> str | None:
    """Why this folder cannot be created or written to, or None if it can."""
    probe = path.absolute()
    while not probe.exists():
        if probe.parent == probe:
            return "has no existing parent"
        probe = probe.parent
    if not probe.is_dir():
        return f"is not a folder ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"is not writable ({probe})"
    if probe != path.absolute():  # to be created: try it (root passes access() everywhere)
        return _creation_problem(probe)
    return None


def _creation_problem(parent: Path) -> str | None:
    """Why no folder can be made in `parent` (`/proc`, a read-only mount), found by making
    one and removing it again; None when that worked."""
    try:
        made = tempfile.mkdtemp(prefix=".sr2fhir-probe-", dir=parent)
    except OSError as exc:
        return f"cannot be created in {parent}: {exc.strerror or exc}"
    os.rmdir(made)
    return None


def temp_beside(target: Path) -> Path:
    """`.<name>.<pid>.<8 hex>.tmp` in target's folder: readers of `*.json` skip it, and the
    temp files of a process that died can be told by its pid."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_atomically(
    target: Path, data: bytes, *, durable: bool = True, tmp: Path | None = None
) -> None:
    """`target` ends up holding all of `data`, or what it held before, never a part: the
    bytes go to `tmp` (default: temp_beside(target)), are fsynced, renamed over `target`,
    and the folder is fsynced. durable=False skips both fsyncs: for files whose last
    update may be lost to a power cut (counters)."""
    tmp = tmp or temp_beside(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        remove_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, target)
    except BaseException:
        remove_quietly(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
