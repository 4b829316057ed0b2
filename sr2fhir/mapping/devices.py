"""Device (General Equipment, Algorithm Identification, Participant) and Practitioner builders."""

from __future__ import annotations

import re
from typing import Any

from sr2fhir.mapping import codes as c
from sr2fhir.mapping import profiles
from sr2fhir.mapping.coding import DICOM_UID, build_codeable_concept, uid_value
from sr2fhir.mapping.context import Resource
from sr2fhir.mapping.document import Equipment
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.report import AlgorithmIdentification

ALGORITHM_PARAMETERS_TYPE = build_codeable_concept(c.ALGORITHM_PARAMETERS)
GS1_DI_ISSUER = "http://hl7.org/fhir/NamingSystem/gs1-di"
_GS1_DI = re.compile(r"^[({]01[)}](\d{14})")


def equipment_key(equipment: Equipment, sop_instance_uid: str) -> str:
    """Devices are shared across reports: keyed by Device UID, else by what names the unit."""
    if equipment.device_uid:
        return f"uid:{equipment.device_uid}"
    if equipment.is_empty:
        return f"unknown-equipment-of:{sop_instance_uid}"
    parts = (equipment.manufacturer, equipment.model_name, equipment.serial_number)
    return "unit:" + "|".join(p or "" for p in parts) + f"|{equipment.station_name or ''}"


def build_general_equipment_device(equipment: Equipment, key: str) -> Resource:
    """General Equipment Module -> Device (profile dicom-general-equipment)."""
    return _device(resource_id("Device", key), profiles.GENERAL_EQUIPMENT, equipment)


def build_participant_device(equipment: Equipment, key: str) -> Resource:
    """A DEV item of the Participant Sequence -> Device (profile dicom-participant-device)."""
    return _device(resource_id("Device", key), profiles.PARTICIPANT_DEVICE, equipment)


def _device(id_: str, profile: str, equipment: Equipment) -> Resource:
    device: Resource = {"resourceType": "Device", "id": id_, "meta": {"profile": [profile]}}
    if equipment.device_uid:
        device["identifier"] = [{"system": DICOM_UID, "value": uid_value(equipment.device_uid)}]
    if equipment.model_name:
        device["displayName"] = equipment.model_name
    carriers = [_udi_carrier(udi) for udi in equipment.udis]
    if any(carriers):
        device["udiCarrier"] = [c for c in carriers if c]
    if equipment.manufacturer:
        device["manufacturer"] = equipment.manufacturer
    if equipment.serial_number:
        device["serialNumber"] = equipment.serial_number
    if equipment.station_name:
        device["name"] = [{"value": equipment.station_name, "type": "user-friendly-name"}]
    if equipment.software_versions:
        device["version"] = [{"value": v} for v in equipment.software_versions]
    return device


def _udi_carrier(udi: str) -> dict[str, Any] | None:
    """GS1 human readable UDIs only: FHIR needs the device identifier and its issuer."""
    match = _GS1_DI.match(udi)
    if match is None:
        return None
    return {"deviceIdentifier": match.group(1), "issuer": GS1_DI_ISSUER, "carrierHRF": udi}


def build_algorithm_device(
    algorithm: AlgorithmIdentification, equipment_key_: str, parent: dict[str, Any]
) -> Resource:
    """TID 4019 -> Device (profile algorithm-identification), child of the equipment Device."""
    family_key = algorithm.family.value if algorithm.family else ""
    id_ = resource_id(
        "Device",
        equipment_key_,
        "algorithm",
        algorithm.name,
        algorithm.version or "",
        family_key,
        *algorithm.parameters,
    )
    device: Resource = {
        "resourceType": "Device",
        "id": id_,
        "meta": {"profile": [profiles.ALGORITHM_IDENTIFICATION]},
        "displayName": algorithm.name,
    }
    if algorithm.family is not None:
        device["type"] = [build_codeable_concept(algorithm.family)]
    if algorithm.version:
        device["version"] = [{"value": algorithm.version}]
    if algorithm.parameters:
        device["property"] = [
            {"type": ALGORITHM_PARAMETERS_TYPE, "valueString": p} for p in algorithm.parameters
        ]
    device["parent"] = parent
    return device


def build_participant_person(person_name: str, index: int) -> Resource:
    """A person observer -> contained Practitioner (profile dicom-participant-person)."""
    return {
        "resourceType": "Practitioner",
        "id": f"performer-{index}",
        "meta": {"profile": [profiles.PARTICIPANT_PERSON]},
        "name": [human_name(person_name)],
    }


def human_name(person_name: str) -> dict[str, Any]:
    """DICOM PN 'Family^Given^Middle^Prefix^Suffix' (alphabetic group) -> HumanName."""
    alphabetic = person_name.split("=")[0]
    family, given, middle, prefix, suffix = (alphabetic.split("^") + [""] * 5)[:5]
    name: dict[str, Any] = {}
    text = " ".join(p for p in (prefix, given, middle, family, suffix) if p)
    if text:
        name["text"] = text
    if family:
        name["family"] = family
    givens = [g for g in (given, middle) if g]
    if givens:
        name["given"] = givens
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    return name
