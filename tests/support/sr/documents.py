"""An SR document around a root CONTAINER: patient, study, series and equipment modules,
the SR Document General module (flags, verifier, participants, evidence), file meta;
and a copy of a document as another SR SOP class."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from tests.support.sr.identity import (
    ACCESSION_ISSUER_URI,
    ACCESSION_NUMBER,
    CONTENT_DATE,
    CONTENT_TIME,
    DEVICE_SERIAL_NUMBER,
    DEVICE_UID,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    INSTITUTION,
    ISSUER_OF_PATIENT_ID,
    MANUFACTURER,
    MODEL_NAME,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_ID_ISSUER_URI,
    PATIENT_NAME,
    SOFTWARE_VERSIONS,
    SOP_CLASSES,
    STUDY_DATE,
    STUDY_TIME,
    TIMEZONE,
    VERIFIER_NAME,
    make_uid,
)
from tests.support.sr.part10 import from_bytes, to_bytes
from tests.support.sr.references import RefInstance, references, study_uid
from tests.support.sr.tree import (
    allowed_sop_classes,
    iter_items,
    stamp_observation_uids,
    tree_needs,
)


def dataset(**elements: object) -> Dataset:
    """A Dataset with these keyword elements (sequence items, participants, ...)."""
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _evidence(root: Dataset) -> list[Dataset]:
    """CurrentRequestedProcedureEvidenceSequence for every instance the tree references."""
    known = references()
    by_series: dict[str, dict[str, RefInstance]] = {}
    for _, item in iter_items(root):
        for ref in item.get("ReferencedSOPSequence", []):
            inst = known[ref.ReferencedSOPInstanceUID]
            by_series.setdefault(inst.series_uid, {})[inst.sop_instance_uid] = inst
    series_items = []
    for series_uid, instances in by_series.items():
        sops = [
            dataset(
                ReferencedSOPClassUID=i.sop_class_uid, ReferencedSOPInstanceUID=i.sop_instance_uid
            )
            for i in instances.values()
        ]
        series_items.append(dataset(SeriesInstanceUID=series_uid, ReferencedSOPSequence=sops))
    if not series_items:
        return []
    return [dataset(StudyInstanceUID=study_uid(), ReferencedSeriesSequence=series_items)]


def _patient_study_series_equipment(ds: Dataset, case: str) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = CONTENT_DATE, CONTENT_TIME
    ds.StudyDate, ds.StudyTime = STUDY_DATE, STUDY_TIME
    ds.SeriesDate, ds.SeriesTime = CONTENT_DATE, CONTENT_TIME
    ds.AccessionNumber = ACCESSION_NUMBER
    ds.IssuerOfAccessionNumberSequence = [
        dataset(
            LocalNamespaceEntityID=INSTITUTION,
            UniversalEntityID=ACCESSION_ISSUER_URI,
            UniversalEntityIDType="URI",
        )
    ]
    ds.Modality = "SR"
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = ""
    ds.StationName = "SRFACTORY01"
    ds.SeriesDescription = f"Measurement report ({case})"
    ds.ManufacturerModelName = MODEL_NAME
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = ISSUER_OF_PATIENT_ID
    ds.IssuerOfPatientIDQualifiersSequence = [
        dataset(
            UniversalEntityID=PATIENT_ID_ISSUER_URI,
            UniversalEntityIDType="URI",
            IdentifierTypeCode="MR",
        )
    ]
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientSex = "F"
    ds.DeviceSerialNumber = DEVICE_SERIAL_NUMBER
    ds.DeviceUID = DEVICE_UID
    ds.SoftwareVersions = SOFTWARE_VERSIONS
    ds.StudyInstanceUID = study_uid()
    ds.SeriesInstanceUID = make_uid(case, "series")
    ds.StudyID = "S-4711"
    ds.SeriesNumber = 900
    ds.InstanceNumber = 1


@dataclass(frozen=True, slots=True)
class DocumentFlags:
    """SR Document General Module flags and options."""

    completion: str = "COMPLETE"
    verification: str = "VERIFIED"
    preliminary: str | None = "FINAL"
    timezone: bool = False
    participants: tuple[Dataset, ...] = ()


def _document_general(ds: Dataset, root: Dataset, flags: DocumentFlags) -> None:
    ds.ContentDate, ds.ContentTime = CONTENT_DATE, CONTENT_TIME
    if flags.timezone:
        ds.TimezoneOffsetFromUTC = TIMEZONE
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PerformedProcedureCodeSequence = []
    ds.CompletionFlag = flags.completion
    ds.VerificationFlag = flags.verification
    if flags.preliminary is not None:
        ds.PreliminaryFlag = flags.preliminary
    if flags.verification == "VERIFIED":
        ds.VerifyingObserverSequence = [
            dataset(
                VerifyingObserverName=VERIFIER_NAME,
                VerifyingOrganization=INSTITUTION,
                VerificationDateTime=CONTENT_DATE + "103000",
                VerifyingObserverIdentificationCodeSequence=[],
            )
        ]
    if flags.participants:
        ds.ParticipantSequence = list(flags.participants)
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(root)


def document(
    case: str,
    root: Dataset,
    flags: DocumentFlags | None = None,
    *,
    observation_uids: bool = True,
) -> Dataset:
    """Wrap a root CONTAINER in the SR document modules and file meta; read back."""
    if observation_uids:
        stamp_observation_uids(root, case)
    ds = Dataset()
    sop_class = SOP_CLASSES["comprehensive3d" if tree_needs(root)[0] else "comprehensive"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = make_uid(case, "instance")
    _patient_study_series_equipment(ds, case)
    _document_general(ds, root, flags or DocumentFlags())
    for keyword in (
        "ValueType",
        "ConceptNameCodeSequence",
        "ContinuityOfContent",
        "ContentTemplateSequence",
        "ContentSequence",
    ):
        if keyword in root:
            setattr(ds, keyword, root[keyword].value)
    ds.file_meta = _file_meta(sop_class, ds.SOPInstanceUID)
    return from_bytes(to_bytes(ds))


def _file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def as_sop_class(ds: Dataset, kind: str, *, sop_instance_uid: str | None = None) -> Dataset:
    """A copy of ``ds`` as another SR SOP class (``SOP_CLASSES`` key), content unchanged.

    Raises ValueError when the tree is not allowed there (SCOORD3D needs 3D/Extensible;
    by-reference relationships are not allowed in Enhanced SR). ``sop_instance_uid``
    optionally gives the copy its own identity.
    """
    if kind not in allowed_sop_classes(ds):
        raise ValueError(f"content tree not allowed in {kind} SR")
    out = copy.deepcopy(ds)
    out.SOPClassUID = out.file_meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[kind])
    if sop_instance_uid is not None:
        out.SOPInstanceUID = out.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    return out
