"""The Part-10 header (preamble, "DICM", File Meta Information) put in front of a received dataset.

Encoded by hand: building a pydicom FileMetaDataset and encoding it costs ~1-2 ms per
C-STORE here, a third of what pynetdicom itself spends; this is the same bytes in ~10 us
(tests compare it with pydicom's own encoding).
"""

from __future__ import annotations

import struct

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

PREAMBLE = b"\x00" * 128 + b"DICM"
_VERSION = b"\x02\x00\x01\x00OB\x00\x00" + struct.pack("<I", 2) + b"\x00\x01"


def _short(element: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian group 0002 element with a 2-byte length."""
    return struct.pack("<HH", 0x0002, element) + vr + struct.pack("<H", len(value)) + value


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _text(value: str) -> bytes:
    raw = value.encode("ascii", errors="replace")
    return raw + b" " if len(raw) % 2 else raw


_IMPLEMENTATION = _short(0x0012, b"UI", _uid(PYNETDICOM_IMPLEMENTATION_UID)) + _short(
    0x0013, b"SH", _text(PYNETDICOM_IMPLEMENTATION_VERSION)
)


def part10_header(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, calling_ae: str
) -> bytes:
    """Preamble + File Meta Information; Source AE Title (0002,0016) records the sender."""
    body = b"".join(
        (
            _VERSION,
            _short(0x0002, b"UI", _uid(sop_class_uid)),
            _short(0x0003, b"UI", _uid(sop_instance_uid)),
            _short(0x0010, b"UI", _uid(transfer_syntax_uid)),
            _IMPLEMENTATION,
            _short(0x0016, b"AE", _text(calling_ae)),
        )
    )
    group_length = struct.pack("<HH", 0x0002, 0x0000) + b"UL" + struct.pack("<HI", 4, len(body))
    return PREAMBLE + group_length + body
