"""What a worker's mapping gives besides the Bundle: the warnings (issue 15) and the report's
header facts, kept with the job for `queue show` and the queue API.

The header facts are a few top-level attributes read from the data set the mapping already
decoded. Patient name, Patient ID and accession number are PHI: they are kept in the job row
(like the received bytes, they are the job database's) and shown only to an authenticated
caller of the queue API (`PHI_KEYS`); they never go to a log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sr2fhir.mapping import MappingOptions, MappingWarning, map_report, read_sr_bytes
from sr2fhir.mapping.dataset import ElementSource, as_text
from sr2fhir.runtime import configure_pydicom_reading

# JSON key -> DICOM keyword, in the order they are shown.
HEADER_KEYWORDS = {
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "modality": "Modality",
    "study_date": "StudyDate",
    "content_date": "ContentDate",
    "content_time": "ContentTime",
    "series_description": "SeriesDescription",
    "manufacturer": "Manufacturer",
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "accession_number": "AccessionNumber",
}
PHI_KEYS = frozenset({"patient_name", "patient_id", "accession_number"})
HEADER_TEXT_MAX = 200  # characters of one value kept


@dataclass(frozen=True, slots=True)
class MappedReport:
    """One report mapped by a worker: the Bundle, what it was converted without, and its
    header facts (JSON key -> text; absent attributes are left out)."""

    bundle: dict[str, Any]
    warnings: tuple[MappingWarning, ...] = ()
    header: dict[str, str] = field(default_factory=dict)

    def warnings_json(self) -> str:
        """The warnings as the job keeps them: a JSON list (`[]` when none)."""
        return json.dumps([w.to_dict() for w in self.warnings], ensure_ascii=False)

    def header_json(self) -> str:
        return json.dumps(self.header, ensure_ascii=False, sort_keys=True)


Converter = Callable[[bytes], MappedReport]
"""Part-10 bytes -> MappedReport; raises SrParseError or MappingError."""


def header_facts(ds: ElementSource) -> dict[str, str]:
    """The HEADER_KEYWORDS attributes the data set has, as bounded one-line text."""
    facts = {}
    for key, keyword in HEADER_KEYWORDS.items():
        text = " ".join(as_text(ds.get(keyword)).split())
        if text:
            facts[key] = text[:HEADER_TEXT_MAX]
    return facts


def without_phi(header: dict[str, str]) -> dict[str, str]:
    """The header facts an unauthenticated reader may see."""
    return {key: value for key, value in header.items() if key not in PHI_KEYS}


def make_converter(options: MappingOptions) -> Converter:
    """The real mapping: read the Part-10 bytes, convert to one transaction Bundle with its
    warnings and header facts.

    Built in the process (or thread) that runs it, so that process reads as the gateway does.
    """
    configure_pydicom_reading()

    def convert(data: bytes) -> MappedReport:
        ds = read_sr_bytes(data, options.max_dataset_bytes)
        result = map_report(ds, options)
        return MappedReport(result.bundle, result.warnings, header_facts(ds))

    return convert
