"""DICOM DA/TM/DT -> FHIR instant and dateTime, with the timezone offset honoured."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sr2fhir.errors import MappingError

_DT = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,6}))?(?P<tz>[+-]\d{4})?$"
)
_OFFSET = re.compile(r"^[+-]\d{4}$")


@dataclass(frozen=True, slots=True)
class FhirTime:
    """The same moment as FHIR `instant` (issued) and `dateTime` (effective[x])."""

    instant: str
    date_time: str


def fhir_offset(dicom_offset: str) -> str:
    """'+0100' -> '+01:00'."""
    return f"{dicom_offset[:3]}:{dicom_offset[3:]}"


def from_dicom(
    dt: str | None,
    date: str | None,
    time: str | None,
    offset: str | None,
    default_offset: str,
    what: str,
) -> FhirTime:
    """Prefer the DT value; else date + time. DT's own offset wins over (0008,0201)."""
    raw = dt or ((date or "") + (time or ""))
    raw = raw.strip()
    match = _DT.match(raw)
    if not raw or match is None or match["d"] is None:
        raise MappingError(f"{what}: no usable date ({raw!r})")
    tz = match["tz"] or (offset if offset and _OFFSET.match(offset) else None)
    zone = fhir_offset(tz) if tz else default_offset
    day = f"{match['y']}-{match['mo']}-{match['d']}"
    if match["h"] is None:
        return FhirTime(f"{day}T00:00:00{zone}", day)
    clock = f"{match['h']}:{match['mi'] or '00'}:{match['s'] or '00'}"
    if match["f"]:
        clock += f".{match['f']}"
    stamp = f"{day}T{clock}{zone}"
    return FhirTime(stamp, stamp)
