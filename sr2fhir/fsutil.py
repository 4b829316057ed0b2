"""Files and folders the gateway writes: folder probes, and the classification of full disks."""

from __future__ import annotations

import errno
import os
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
    return None
