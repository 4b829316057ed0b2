"""The SOP Class and Instance UID a C-STORE's data set carries, read from its encoded bytes.

Only the elements up to SOP Instance UID (0008,0018) are walked -- the first few dozen bytes
of an SR -- with pydicom's element generator and its stop condition; nothing else is decoded,
so the acknowledgement path stays cheap (its cost per C-STORE: benchmarks/README.md).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from pydicom.filereader import data_element_generator
from pydicom.tag import BaseTag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
MAX_ELEMENTS = 64  # before (0008,0018): a handful in an SR; more is not an SR we can read
INFLATED_PREFIX = 65536  # bytes of a deflated data set inflated to find them


class UnreadableIdentity(ValueError):
    """The data set's encoding breaks before its SOP Instance UID could be read."""


@dataclass(frozen=True, slots=True)
class DatasetIdentity:
    """SOP Class UID (0008,0016) and SOP Instance UID (0008,0018) as encoded (None: absent)."""

    sop_class_uid: str | None
    sop_instance_uid: str | None


def read_identity(encoded: bytes, transfer_syntax: str) -> DatasetIdentity:
    """The data set's own SOP Class and Instance UID; UnreadableIdentity if the encoding
    breaks (or holds more than MAX_ELEMENTS elements) before them."""
    syntax = UID(transfer_syntax)
    if syntax == DeflatedExplicitVRLittleEndian:
        try:
            encoded = zlib.decompressobj(-zlib.MAX_WBITS).decompress(encoded, INFLATED_PREFIX)
        except zlib.error as exc:
            raise UnreadableIdentity(f"not deflated data: {exc}") from None
    found: dict[int, str] = {}
    elements = data_element_generator(
        io.BytesIO(encoded), syntax.is_implicit_VR, syntax.is_little_endian, _past_identity
    )
    try:
        for count, element in enumerate(elements, start=1):
            if element.tag in (SOP_CLASS_UID, SOP_INSTANCE_UID):
                found[element.tag] = _text(element.value)
            if count >= MAX_ELEMENTS:
                raise UnreadableIdentity(f"more than {MAX_ELEMENTS} elements before (0008,0018)")
    except UnreadableIdentity:
        raise
    except Exception as exc:  # any decoding failure of untrusted bytes
        raise UnreadableIdentity(f"{type(exc).__name__} before (0008,0018)") from None
    return DatasetIdentity(found.get(SOP_CLASS_UID), found.get(SOP_INSTANCE_UID))


def _past_identity(tag: BaseTag, vr: str | None, length: int) -> bool:
    return int(tag) > SOP_INSTANCE_UID


def _text(value: object) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode("ascii", "replace")
    return raw.rstrip(b"\x00 ").decode("ascii", "replace")
