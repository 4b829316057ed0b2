"""Settings that change how a report maps, with the embedded defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How identifiers and times are completed where the DICOM leaves them open.

    default_patient_id_system: Identifier.system for Patient ID when the SR names no issuer
        (no Issuer of Patient ID Qualifiers, no configured issuer system). None leaves it out.
    issuer_systems: Issuer of Patient ID / Local Namespace Entity ID -> Identifier.system.
    default_utc_offset: the offset ("+01:00") for DICOM times that carry none; FHIR instants
        and dateTimes with a time need one.
    provenance: add a Provenance to each Bundle (targets: every resource; entity: the SR).
    """

    default_patient_id_system: str | None = None
    issuer_systems: tuple[tuple[str, str], ...] = ()
    default_utc_offset: str = "+00:00"
    provenance: bool = False
