"""FHIR R4 (4.0.1) from the R5 Bundle, per the IG's "FHIR Version 4 compatibility" section.

- ImagingSelection does not exist in R4: those entries and every reference to them go.
- Observation.bodyStructure -> the R5 cross-version extension on Observation.
- Device: displayName/name -> deviceName, type (list) -> type, property valueString -> valueCode.
- BodyStructure: includedStructure -> location + locationQualifier (laterality, modifier).
- ImagingStudy (fhir.imaging_study create-if-missing): series.modality CodeableConcept ->
  Coding.
- meta.profile is dropped: the IG's profiles are R5 StructureDefinitions.
"""

from __future__ import annotations

import copy
from typing import Any

XVER_BODY_STRUCTURE = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.bodyStructure"
)


def to_r4(bundle: dict[str, Any]) -> dict[str, Any]:
    """A new R4 transaction Bundle; the R5 input is not changed."""
    dropped = {
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingSelection"
    }
    entries = []
    for entry in bundle["entry"]:
        if entry["fullUrl"] in dropped:
            continue
        resource = copy.deepcopy(entry["resource"])
        resource.pop("meta", None)
        for contained in resource.get("contained", []):
            contained.pop("meta", None)
        _CONVERTERS.get(resource["resourceType"], _unchanged)(resource, dropped)
        entries.append({**entry, "resource": resource})
    return {**bundle, "entry": entries}


def _unchanged(resource: dict[str, Any], dropped: set[str]) -> None:
    """Nothing in this resource differs between R5 and R4."""


def _observation(resource: dict[str, Any], dropped: set[str]) -> None:
    derived = [r for r in resource.get("derivedFrom", []) if r.get("reference") not in dropped]
    if derived:
        resource["derivedFrom"] = derived
    else:
        resource.pop("derivedFrom", None)
    body_structure = resource.pop("bodyStructure", None)
    if body_structure is not None:
        extension = {"url": XVER_BODY_STRUCTURE, "valueReference": body_structure}
        resource["extension"] = [*resource.get("extension", []), extension]
        _move_first(resource, "extension", after=("id", "meta", "text", "contained"))


def _device(resource: dict[str, Any], dropped: set[str]) -> None:
    names = []
    display = resource.pop("displayName", None)
    if display:
        names.append({"name": display, "type": "model-name"})
    for name in resource.pop("name", []):
        names.append({"name": name["value"], "type": name.get("type", "other")})
    if names:
        resource["deviceName"] = names
    types = resource.pop("type", None)
    if types:
        resource["type"] = types[0]
    for prop in resource.get("property", []):
        text = prop.pop("valueString", None)
        if text is not None:
            prop["valueCode"] = [{"text": text}]


def _body_structure(resource: dict[str, Any], dropped: set[str]) -> None:
    included = resource.pop("includedStructure", [])
    patient = resource.pop("patient", None)
    if included:
        first = included[0]
        resource["location"] = first["structure"]
        qualifiers = ([first["laterality"]] if "laterality" in first else []) + first.get(
            "qualifier", []
        )
        if qualifiers:
            resource["locationQualifier"] = qualifiers
    if patient is not None:
        resource["patient"] = patient


def _move_first(resource: dict[str, Any], key: str, after: tuple[str, ...]) -> None:
    """Keep JSON in R4 element order: `key` right after the elements named in `after`."""
    value = resource.pop(key)
    head = {k: resource[k] for k in resource if k in after or k == "resourceType"}
    tail = {k: resource[k] for k in resource if k not in head}
    resource.clear()
    resource.update(head)
    resource[key] = value
    resource.update(tail)


def _provenance(resource: dict[str, Any], dropped: set[str]) -> None:
    resource["target"] = [t for t in resource["target"] if t.get("reference") not in dropped]


def _imaging_study(resource: dict[str, Any], dropped: set[str]) -> None:
    for series in resource.get("series", []):
        series["modality"] = series["modality"]["coding"][0]


_CONVERTERS = {
    "ImagingStudy": _imaging_study,
    "Provenance": _provenance,
    "Observation": _observation,
    "Device": _device,
    "BodyStructure": _body_structure,
}
