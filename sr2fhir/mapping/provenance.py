"""An optional Provenance per Bundle: what sr2fhir made, from which SR (issue: audit trail).

Deterministic like everything else in the mapping: `recorded` is the report's own Content
Date/Time (no clock), the id is derived from the SOP Instance UID.
"""

from __future__ import annotations

from typing import Any

from sr2fhir import __version__
from sr2fhir.mapping.coding import DICOM_UID, fixed_concept, uid_value
from sr2fhir.mapping.context import Resource
from sr2fhir.mapping.document import DocumentHeader
from sr2fhir.mapping.ids import resource_id

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ASSEMBLER = fixed_concept(PARTICIPANT_TYPE, "assembler", "Assembler")


def assembler_agent() -> dict[str, Any]:
    """sr2fhir as the Provenance's agent (type assembler)."""
    return {"type": ASSEMBLER, "who": {"display": f"sr2fhir {__version__}"}}


def build_provenance(header: DocumentHeader, targets: list[Resource], recorded: str) -> Resource:
    """Targets every resource of the Bundle; entity = the SR (urn:dicom:uid identifier)."""
    return {
        "resourceType": "Provenance",
        "id": resource_id(header.sop_instance_uid, "Provenance"),
        "target": [{"reference": f"urn:uuid:{r['id']}"} for r in targets],
        "recorded": recorded,
        "agent": [assembler_agent()],
        "entity": [
            {
                "role": "source",
                "what": {
                    "type": "DocumentReference",
                    "identifier": {
                        "system": DICOM_UID,
                        "value": uid_value(header.sop_instance_uid),
                    },
                    "display": "DICOM SR instance",
                },
            }
        ],
    }
