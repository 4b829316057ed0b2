"""The SR header: Patient, Study, Equipment and Document IE attributes the mapping reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sr2fhir.errors import MappingError
from sr2fhir.mapping.dataset import ElementSource, as_text


@dataclass(frozen=True, slots=True)
class Issuer:
    """Issuer of an identifier: free text namespace and/or a universal entity id."""

    local_id: str | None = None
    universal_id: str | None = None
    universal_id_type: str | None = None


@dataclass(frozen=True, slots=True)
class Equipment:
    """General Equipment Module (PS3.3 C.7.5.1), or one device of the Participant Sequence."""

    manufacturer: str | None = None
    model_name: str | None = None
    serial_number: str | None = None
    device_uid: str | None = None
    station_name: str | None = None
    software_versions: tuple[str, ...] = ()
    udis: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.manufacturer or self.model_name or self.serial_number or self.device_uid)


@dataclass(frozen=True, slots=True)
class DocumentHeader:
    """SOP, Patient, Study and Document IE attributes of one SR instance."""

    sop_class_uid: str
    sop_instance_uid: str
    series_uid: str | None
    study_uid: str
    patient_id: str
    patient_issuer: Issuer
    accession_number: str | None
    accession_issuer: Issuer
    content_date: str | None
    content_time: str | None
    timezone_offset: str | None
    preliminary_flag: str | None
    completion_flag: str | None
    equipment: Equipment
    participant_persons: tuple[str, ...]
    participant_devices: tuple[Equipment, ...]
    series_of_instance: dict[str, str]
    study_date: str | None = None  # the ImagingStudy fhir.imaging_study create-if-missing makes
    study_time: str | None = None
    predecessor_uids: tuple[str, ...] = ()  # Predecessor Documents Sequence (0040,A360)
    identical_uids: tuple[str, ...] = ()  # Identical Documents Sequence (0040,A525)


def parse_document_header(ds: ElementSource) -> DocumentHeader:
    """Read the header; a missing Patient ID or Study Instance UID is a MappingError."""
    study_uid = as_text(ds.get("StudyInstanceUID"))
    if not study_uid:
        raise MappingError("no Study Instance UID (0020,000D): cannot reference the ImagingStudy")
    patient_id = as_text(ds.get("PatientID"))
    if not patient_id:
        raise MappingError("no Patient ID (0010,0020): cannot reference the subject")
    persons, devices = _participants(ds)
    return DocumentHeader(
        sop_class_uid=as_text(ds.get("SOPClassUID")),
        sop_instance_uid=as_text(ds.get("SOPInstanceUID")),
        series_uid=as_text(ds.get("SeriesInstanceUID")) or None,
        study_uid=study_uid,
        patient_id=patient_id,
        patient_issuer=Issuer(
            as_text(ds.get("IssuerOfPatientID")) or None,
            *_universal_entity(ds.get("IssuerOfPatientIDQualifiersSequence")),
        ),
        accession_number=as_text(ds.get("AccessionNumber")) or None,
        accession_issuer=_issuer_sequence(ds.get("IssuerOfAccessionNumberSequence")),
        content_date=as_text(ds.get("ContentDate")) or None,
        content_time=as_text(ds.get("ContentTime")) or None,
        timezone_offset=as_text(ds.get("TimezoneOffsetFromUTC")) or None,
        preliminary_flag=as_text(ds.get("PreliminaryFlag")).upper() or None,
        completion_flag=as_text(ds.get("CompletionFlag")).upper() or None,
        equipment=_equipment(ds),
        participant_persons=persons,
        participant_devices=devices,
        series_of_instance=_evidence(ds),
        study_date=as_text(ds.get("StudyDate")) or None,
        study_time=as_text(ds.get("StudyTime")) or None,
        predecessor_uids=referenced_instances(ds.get("PredecessorDocumentsSequence")),
        identical_uids=referenced_instances(ds.get("IdenticalDocumentsSequence")),
    )


def _equipment(item: ElementSource) -> Equipment:
    return Equipment(
        manufacturer=as_text(item.get("Manufacturer")) or None,
        model_name=as_text(item.get("ManufacturerModelName")) or None,
        serial_number=as_text(item.get("DeviceSerialNumber")) or None,
        device_uid=as_text(item.get("DeviceUID")) or None,
        station_name=as_text(item.get("StationName")) or None,
        software_versions=_strings(item.get("SoftwareVersions")),
        udis=tuple(
            as_text(u.get("UniqueDeviceIdentifier"))
            for u in item.get("UDISequence") or ()
            if as_text(u.get("UniqueDeviceIdentifier"))
        ),
    )


def _participants(ds: ElementSource) -> tuple[tuple[str, ...], tuple[Equipment, ...]]:
    persons: list[str] = []
    devices: list[Equipment] = []
    for item in ds.get("ParticipantSequence") or ():
        observer_type = as_text(item.get("ObserverType")).upper()
        if observer_type == "PSN" and as_text(item.get("PersonName")):
            persons.append(as_text(item.get("PersonName")))
        elif observer_type == "DEV":
            device = _equipment(item)
            if not device.is_empty:
                devices.append(device)
    return tuple(persons), tuple(devices)


def _issuer_sequence(seq: Any) -> Issuer:
    if not seq:
        return Issuer()
    item = seq[0]
    return Issuer(as_text(item.get("LocalNamespaceEntityID")) or None, *_universal_entity(seq))


def _universal_entity(seq: Any) -> tuple[str | None, str | None]:
    if not seq:
        return None, None
    item = seq[0]
    return (
        as_text(item.get("UniversalEntityID")) or None,
        as_text(item.get("UniversalEntityIDType")).upper() or None,
    )


def _evidence(ds: ElementSource) -> dict[str, str]:
    """SOP Instance UID -> Series Instance UID from the evidence sequences of the header."""
    found: dict[str, str] = {}
    for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(keyword) or ():
            for series in study.get("ReferencedSeriesSequence") or ():
                series_uid = as_text(series.get("SeriesInstanceUID"))
                for sop in series.get("ReferencedSOPSequence") or ():
                    instance = as_text(sop.get("ReferencedSOPInstanceUID"))
                    if instance and series_uid:
                        found.setdefault(instance, series_uid)
    return found


def referenced_instances(studies: Any) -> tuple[str, ...]:
    """SOP Instance UIDs of a Hierarchical SOP Instance Reference Macro sequence (study ->
    series -> SOP), in order, each once."""
    found: dict[str, None] = {}
    for study in studies or ():
        for series in study.get("ReferencedSeriesSequence") or ():
            for sop in series.get("ReferencedSOPSequence") or ():
                instance = as_text(sop.get("ReferencedSOPInstanceUID"))
                if instance:
                    found[instance] = None
    return tuple(found)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    return tuple(str(v).strip() for v in value if str(v).strip())
