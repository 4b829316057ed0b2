"""Who and when the factory's reports are: deterministic UIDs (``make_uid``), the SR SOP
classes, and the fixed, fake-but-realistic patient, study, equipment and dates.

PHI-leak tests search logs and errors for ``PATIENT_NAME`` and ``PATIENT_ID``."""

from __future__ import annotations

import hashlib

UID_ROOT = "2.25"
"""All generated UIDs are ``2.25.<39 digits>``: 44 characters, fixed length."""


def make_uid(*parts: object) -> str:
    """A deterministic UID from ``parts``; always 44 characters long (see ``UID_ROOT``)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    number = int.from_bytes(digest[:16], "big") % 10**38 + 10**38
    return f"{UID_ROOT}.{number}"


SOP_CLASSES: dict[str, str] = {
    "enhanced": "1.2.840.10008.5.1.4.1.1.88.22",
    "comprehensive": "1.2.840.10008.5.1.4.1.1.88.33",
    "comprehensive3d": "1.2.840.10008.5.1.4.1.1.88.34",
    "extensible": "1.2.840.10008.5.1.4.1.1.88.35",
}
COMPREHENSIVE_SR = SOP_CLASSES["comprehensive"]

IMPLEMENTATION_CLASS_UID = make_uid("srfactory", "implementation")
IMPLEMENTATION_VERSION_NAME = "SRFACTORY_1"

# Fake but realistic PHI: PHI-leak tests search logs and errors for these strings.
PATIENT_NAME = "DOE^JANE^Q"
PATIENT_ID = "PHI-PATIENT-4711"
ISSUER_OF_PATIENT_ID = "Test Hospital"
PATIENT_ID_ISSUER_URI = "http://test-hospital.example/mrn"
PATIENT_BIRTH_DATE = "19700101"
ACCESSION_NUMBER = "ACC-0815"
ACCESSION_ISSUER_URI = "http://test-hospital.example/acsn"
OBSERVER_NAME = "OBSERVER^OLIVIA^DR"
VERIFIER_NAME = "VERIFIER^VICTOR^DR"
PARTICIPANT_PERSON_NAME = "ROE^RICHARD^DR"

MANUFACTURER = "SR Factory Medical"
MODEL_NAME = "MeasureStation 3000"
DEVICE_SERIAL_NUMBER = "SN-0042-TEST"
SOFTWARE_VERSIONS = "4.2.1"
DEVICE_UID = make_uid("shared", "equipment-device")
PARTICIPANT_DEVICE_UID = make_uid("shared", "participant-device")
INSTITUTION = "Test Hospital"

STUDY_DATE, STUDY_TIME = "20240315", "091500"
CONTENT_DATE, CONTENT_TIME = "20240315", "101530"
OBSERVATION_DATETIME = "20240315101000"
TIMEZONE = "+0100"
