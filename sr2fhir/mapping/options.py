"""Settings that change how a report maps, with the embedded defaults."""

from __future__ import annotations

from dataclasses import dataclass

# Limits on one report (docs/operations.md "Limits"). Measured here: a report of 40,000
# content items (8.5 MB) maps in ~10 s to 48,000 entries (94 MB of JSON) at ~400 MB RSS,
# and the largest real TID 1500 reports (radiomics: a hundred features for each of a
# hundred segments) have ~20,000 items in a few MB. The defaults are 2x-4x above that.
DEFAULT_MAX_DATASET_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_CONTENT_ITEMS = 50_000
DEFAULT_MAX_BUNDLE_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How identifiers and times are completed where the DICOM leaves them open, and how
    large a report may be.

    default_patient_id_system: Identifier.system for Patient ID when the SR names no issuer
        (no Issuer of Patient ID Qualifiers, no configured issuer system). None leaves it out.
    issuer_systems: Issuer of Patient ID / Local Namespace Entity ID -> Identifier.system.
    default_utc_offset: the offset ("+01:00") for DICOM times that carry none; FHIR instants
        and dateTimes with a time need one.
    provenance: add a Provenance to each Bundle (targets: every resource; entity: the SR).
    create_imaging_study: the Bundle creates a minimal ImagingStudy of the SR's study unless
        the server has one (conditional create on the Study Instance UID), and partOf points
        at it (fhir.imaging_study create-if-missing); else partOf names it by identifier.
    max_dataset_bytes, max_content_items, max_bundle_entries: a larger report is refused
        (SrParseError / MappingError) before the work its size would cost; None: no limit.
    """

    default_patient_id_system: str | None = None
    issuer_systems: tuple[tuple[str, str], ...] = ()
    default_utc_offset: str = "+00:00"
    provenance: bool = False
    create_imaging_study: bool = False
    max_dataset_bytes: int | None = None
    max_content_items: int | None = None
    max_bundle_entries: int | None = None
