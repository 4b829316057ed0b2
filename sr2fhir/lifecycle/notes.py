"""The DICOM side of a report's life: an SR's links to other documents, and whether a Key
Object Selection Document is an IHE IOCM rejection note (and which SRs it rejects)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset

from sr2fhir.errors import SrParseError
from sr2fhir.mapping.dataset import as_text
from sr2fhir.mapping.document import referenced_instances

KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
# IHE IOCM rejection note titles (CID 7011), DCM scheme.
REJECTION_TITLES = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}
RETENTION_EXPIRED = "113039"


@dataclass(frozen=True, slots=True)
class DocumentLinks:
    """Predecessor Documents Sequence (0040,A360) and Identical Documents Sequence (0040,A525)."""

    predecessors: tuple[str, ...] = ()
    identical: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RejectionNote:
    """A KOS titled DCM 113001/113037/113038/113039 and the SR instances it references."""

    sop_instance_uid: str
    code: str
    targets: tuple[str, ...]


def read_links(data: bytes) -> DocumentLinks:
    """The links of a spooled SR the converter accepted; none when there are none, or when
    pydicom cannot read what the converter could (the SR is then delivered on its own)."""
    try:
        ds = _read(data, "PredecessorDocumentsSequence", "IdenticalDocumentsSequence")
    except SrParseError:
        return DocumentLinks()
    return DocumentLinks(
        referenced_instances(ds.get("PredecessorDocumentsSequence")),
        referenced_instances(ds.get("IdenticalDocumentsSequence")),
    )


def read_rejection_note(data: bytes) -> RejectionNote | None:
    """The rejection note a KOS is, or None for any other KOS; SrParseError if unreadable."""
    ds = _read(
        data,
        "SOPInstanceUID",
        "ConceptNameCodeSequence",
        "CurrentRequestedProcedureEvidenceSequence",
    )
    title = ds.get("ConceptNameCodeSequence") or ()
    code = as_text(title[0].get("CodeValue")) if title else ""
    scheme = as_text(title[0].get("CodingSchemeDesignator")) if title else ""
    if scheme != "DCM" or code not in REJECTION_TITLES:
        return None
    return RejectionNote(as_text(ds.get("SOPInstanceUID")), code, _referenced_srs(ds))


def _referenced_srs(ds: Dataset) -> tuple[str, ...]:
    """SR instances among what the note rejects (its evidence; images are not ours)."""
    found: dict[str, None] = {}
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or ():
        for series in study.get("ReferencedSeriesSequence") or ():
            for sop in series.get("ReferencedSOPSequence") or ():
                if as_text(sop.get("ReferencedSOPClassUID")).startswith(SR_CLASS_PREFIX):
                    found[as_text(sop.get("ReferencedSOPInstanceUID"))] = None
    found.pop("", None)
    return tuple(found)


def _read(data: bytes, *keywords: str) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data), specific_tags=list(keywords))
    except Exception as exc:
        raise SrParseError(f"unreadable DICOM: {type(exc).__name__}") from exc
