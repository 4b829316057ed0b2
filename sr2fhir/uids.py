"""DICOM UIDs as sr2fhir accepts them before using one in a file name or an id."""

from __future__ import annotations

import re

MAX_UID_LENGTH = 64  # PS3.5 9.1
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def is_valid_uid(text: str) -> bool:
    """Digits in dot-separated components, at most 64 characters (PS3.5 9.1). Components
    with a leading zero are tolerated: senders in the field produce them, and they are
    harmless in a file name; anything else ("1.2.3/../x", a newline) is not."""
    return len(text) <= MAX_UID_LENGTH and _UID.fullmatch(text) is not None
