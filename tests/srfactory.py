"""Deterministic factory of DICOM SR (TID 1500 Measurement Report) test inputs.

Every builder returns a fresh pydicom ``Dataset`` with ``file_meta`` (ready for
``ds.save_as(path, enforce_file_format=True)``), or ``bytes`` for inputs that are not
(valid) datasets. Same call, same bytes: UIDs derive from a SHA-256 of the case name and
the item's role (``make_uid``), dates and times are fixed, and nothing highdicom would
fill with ``generate_uid()`` or ``now()`` is left to it.

highdicom builds the TID 1500 skeleton, the TID 1410/1411/1501 groups and their parts;
what it lacks is added as plain content items: Observation UID/DateTime, TEXT
evaluations, the Derived Imaging Measurements (DCM 126011) and Qualitative Evaluations
(UMLS C0034375) containers, Region In Space (DCM 130488), Illustration of ROI
(DCM 121200), Visual explanation (DCM 130401), source series next to source images,
NUMs without a value, the Participant Sequence and the document modules themselves.

CLI: ``python -m tests.srfactory --out DIR [--count N]`` writes benchmark reports,
``--out DIR --all`` writes every case, ``--selfcheck`` builds everything twice and
compares bytes, ``--tree NAME`` prints a case's content tree with item paths.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import UID, ExplicitVRLittleEndian

# --------------------------------------------------------------------------- identity

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

# ------------------------------------------------------------------------------ codes

SCT, DCM, UCUM = codes.SCT, codes.DCM, codes.UCUM
TITLE = DCM.ImagingMeasurementReport  # DCM 126000
PROCEDURE = Code("24627-2", "LN", "Chest CT")
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
DERIVED_IMAGING_MEASUREMENTS = Code("126011", "DCM", "Derived Imaging Measurements")
ILLUSTRATION_OF_ROI = Code("121200", "DCM", "Illustration of ROI")
VISUAL_EXPLANATION = Code("130401", "DCM", "Visual explanation")
REGION_IN_SPACE = Code("130488", "DCM", "Region In Space")
ROI_IDENTIFIER = Code("130489", "DCM", "Referenced Region of Interest Identifier")
SOURCE_SERIES_FOR_SEGMENTATION = Code("121232", "DCM", "Source series for segmentation")
MARGINS = Code("111037", "DCM", "Margins")
SPICULATED = Code("112136", "DCM", "Spiculated")
LOBULATED = Code("112135", "DCM", "Lobulated")
MALIGNANCY = Code("RID36042", "RADLEX", "Malignancy")
COMMENT = DCM.Comment  # DCM 121106
MEAN_OF_POPULATION = Code("373098007", "SCT", "Mean Value of population")
SD_OF_POPULATION = Code("121414", "DCM", "Standard deviation of population")
RECIST_1_1 = Code("126081", "DCM", "RECIST 1.1")
ALGORITHM_FAMILY_AI = DCM.ArtificialIntelligence  # DCM 123110
MM, MM2, MM3, HU = UCUM.Millimeter, UCUM.SquareMillimeter, UCUM.CubicMillimeter, UCUM.HounsfieldUnit
OTHER_TITLE = Code("18748-4", "LN", "Diagnostic imaging report")

# Concept names of group children that are not qualitative evaluations (IG architecture).
NOT_EVALUATIONS = frozenset(
    {"112039", "121071", "130400", "C67447", "276214006", "363698007", "370129005"}
)

# ------------------------------------------------------------------ referenced objects


@dataclass(frozen=True, slots=True)
class RefInstance:
    """A DICOM instance the reports reference (and list as evidence)."""

    series_uid: str
    sop_class_uid: str
    sop_instance_uid: str


def _testdata_path(name: str) -> str:
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return path


@lru_cache(maxsize=1)
def _ct_dataset() -> Dataset:
    return dcmread(_testdata_path("CT_small.dcm"), stop_before_pixels=True)


def ct() -> RefInstance:
    """pydicom's ``CT_small.dcm``: the real image the reports measure on."""
    ds = _ct_dataset()
    return RefInstance(ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID)


def study_uid() -> str:
    """Every report lives in the CT's study, so the CT is current-procedure evidence."""
    return str(_ct_dataset().StudyInstanceUID)


def frame_of_reference_uid() -> str:
    return str(_ct_dataset().FrameOfReferenceUID)


def _shared(label: str, sop_class_uid: str) -> RefInstance:
    return RefInstance(
        make_uid("shared", "series", label), sop_class_uid, make_uid("shared", "instance", label)
    )


SEG = _shared("seg", "1.2.840.10008.5.1.4.1.1.66.4")
RTSTRUCT = _shared("rtstruct", "1.2.840.10008.5.1.4.1.1.481.3")
RWVM = _shared("rwvm", "1.2.840.10008.5.1.4.1.1.67")
ILLUSTRATION = _shared("illustration", "1.2.840.10008.5.1.4.1.1.7")
EXPLANATION = _shared("explanation", "1.2.840.10008.5.1.4.1.1.7.4")


def _references() -> dict[str, RefInstance]:
    refs = (ct(), SEG, RTSTRUCT, RWVM, ILLUSTRATION, EXPLANATION)
    return {r.sop_instance_uid: r for r in refs}


# ------------------------------------------------------------------- content helpers

Group = (
    hsr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hsr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hsr.MeasurementsAndQualitativeEvaluations
)
"""A highdicom measurement group template (TID 1410, 1411 or 1501)."""
G = TypeVar("G", bound=Group)


def _pixel_to_patient(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """(column, row) pixel positions on the CT slice -> patient coordinates (mm)."""
    ds = _ct_dataset()
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    return np.array([[x0 + c * col_spacing, y0 + r * row_spacing, z0] for c, r in points])


SQUARE = ((40.0, 40.0), (80.0, 40.0), (80.0, 80.0), (40.0, 80.0), (40.0, 40.0))


def _region_2d(points: Sequence[tuple[float, float]] = SQUARE) -> hsr.ImageRegion:
    """TID 1410 Image Region (SCOORD POLYLINE, closed) on the CT, with its source image."""
    ref = ct()
    return hsr.ImageRegion(
        graphic_type="POLYLINE",
        graphic_data=np.array(points),
        source_image=hsr.SourceImageForRegion(ref.sop_class_uid, ref.sop_instance_uid),
    )


def _region_3d() -> hsr.ImageRegion3D:
    """TID 1410 Image Region (SCOORD3D POLYGON) in the CT's frame of reference."""
    return hsr.ImageRegion3D("POLYGON", _pixel_to_patient(SQUARE), frame_of_reference_uid())


def _source_image() -> hsr.SourceImageForSegmentation:
    ref = ct()
    return hsr.SourceImageForSegmentation(ref.sop_class_uid, ref.sop_instance_uid)


def _source_series() -> hsr.SourceSeriesForSegmentation:
    return hsr.SourceSeriesForSegmentation(ct().series_uid)


def _tracking(case: str, n: int) -> hsr.TrackingIdentifier:
    return hsr.TrackingIdentifier(uid=make_uid(case, "tracking", n), identifier=f"Lesion {n}")


def _algorithm(name: str = "LesionMeasure", version: str = "2.1.0") -> hsr.AlgorithmIdentification:
    """TID 4019 with name, version, parameters and family."""
    return hsr.AlgorithmIdentification(
        name=name,
        version=version,
        parameters=["threshold=0.5", "kernel=3"],
        family=ALGORITHM_FAMILY_AI,
    )


def _lung_site(laterality: Code | None = SCT.Left) -> hsr.FindingSite:
    return hsr.FindingSite(SCT.Lung, laterality=laterality)


def _num(name: Code, value: float, unit: Code, **kwargs: object) -> hsr.Measurement:
    return hsr.Measurement(name=name, value=value, unit=unit, **kwargs)  # type: ignore[arg-type]


def _qual(name: Code, value: Code | hsr.CodedConcept) -> hsr.QualitativeEvaluation:
    return hsr.QualitativeEvaluation(name, value)


def _text(name: Code, value: str, relationship: str = "CONTAINS") -> hsr.TextContentItem:
    return hsr.TextContentItem(name=name, value=value, relationship_type=relationship)


def _image(name: Code, ref: RefInstance) -> hsr.ImageContentItem:
    return hsr.ImageContentItem(
        name=name,
        referenced_sop_class_uid=ref.sop_class_uid,
        referenced_sop_instance_uid=ref.sop_instance_uid,
        relationship_type="CONTAINS",
    )


def _region_in_space(roi_number: str = "1") -> Dataset:
    """DCM 130488 Region In Space: an RT Structure Set ROI (highdicom cannot build it)."""
    item = hsr.CompositeContentItem(
        name=REGION_IN_SPACE,
        referenced_sop_class_uid=RTSTRUCT.sop_class_uid,
        referenced_sop_instance_uid=RTSTRUCT.sop_instance_uid,
        relationship_type="CONTAINS",
    )
    return _with_children(item, [_text(ROI_IDENTIFIER, roi_number, "HAS CONCEPT MOD")])


def _container(name: Code) -> hsr.ContainerContentItem:
    return hsr.ContainerContentItem(name=name, relationship_type="CONTAINS")


def _with_children(item: Dataset, children: Sequence[Dataset]) -> Dataset:
    """Append ``children`` to ``item``'s ContentSequence (creating it) and return ``item``.

    Plain pydicom sequence on purpose: highdicom's own rejects by-reference items.
    """
    current = list(item.get("ContentSequence", []))
    Dataset.__setattr__(item, "ContentSequence", current + list(children))
    return item


def _head(template: Group | hsr.Measurement) -> Dataset:
    """The first content item of a highdicom template: the group CONTAINER, the NUM."""
    item: Dataset = template[0]
    return item


def _extend_group(group: G, *children: Dataset) -> G:
    _with_children(_head(group), children)
    return group


def _drop_children(item: Dataset, concept_values: set[str]) -> None:
    """Remove the children of ``item`` whose concept name code value is in the set."""
    item.ContentSequence = [
        child
        for child in item.ContentSequence
        if child.ConceptNameCodeSequence[0].CodeValue not in concept_values
    ]


def _planar_group(
    case: str,
    n: int,
    measurements: Sequence[hsr.Measurement],
    *,
    region: hsr.ImageRegion | hsr.ImageRegion3D | None = None,
    segment_frame: hsr.ReferencedSegmentationFrame | None = None,
    evaluations: Sequence[hsr.QualitativeEvaluation] = (),
    site: hsr.FindingSite | None = None,
    algorithm: hsr.AlgorithmIdentification | None = None,
) -> hsr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 with finding category, finding and method; a 2D region by default."""
    if region is None and segment_frame is None:
        region = _region_2d()
    return hsr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(case, n),
        referenced_region=region,
        referenced_segment=segment_frame,
        finding_category=SCT.MorphologicallyAbnormalStructure,
        finding_type=SCT.Nodule,
        method=RECIST_1_1,
        finding_sites=[site] if site is not None else None,
        algorithm_id=algorithm,
        measurements=list(measurements),
        qualitative_evaluations=list(evaluations) or None,
    )


def _volumetric_group(
    case: str, n: int, measurements: Sequence[hsr.Measurement], **kwargs: object
) -> hsr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """TID 1411 (finding Mass); ``kwargs`` carry the one ROI reference and extras."""
    return hsr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(case, n),
        finding_category=SCT.MorphologicallyAbnormalStructure,
        finding_type=SCT.Mass,
        measurements=list(measurements),
        **kwargs,  # type: ignore[arg-type]
    )


def _plain_group(
    case: str, n: int, measurements: Sequence[hsr.Measurement], template_id: str = "1501"
) -> hsr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group (no ROI); ``template_id`` relabels it for hand-built ROI kinds."""
    group = hsr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(case, n),
        finding_category=SCT.MorphologicallyAbnormalStructure,
        finding_type=SCT.Mass,
        measurements=list(measurements),
    )
    _head(group).ContentTemplateSequence[0].TemplateIdentifier = template_id
    return group


# -------------------------------------------------------------- report and document


def _observation_context(with_device: bool) -> hsr.ObservationContext:
    person = hsr.ObserverContext(
        observer_type=DCM.Person,
        observer_identifying_attributes=hsr.PersonObserverIdentifyingAttributes(
            name=OBSERVER_NAME, organization_name=INSTITUTION
        ),
    )
    device = None
    if with_device:
        device = hsr.ObserverContext(
            observer_type=DCM.Device,
            observer_identifying_attributes=hsr.DeviceObserverIdentifyingAttributes(
                uid=PARTICIPANT_DEVICE_UID,
                name="LesionMeasure AI",
                manufacturer_name="AI Vendor Ltd",
                model_name="LM-2",
                serial_number="AI-0007",
            ),
        )
    return hsr.ObservationContext(observer_person_context=person, observer_device_context=device)


def _measurement_report(groups: Sequence[Group], *, with_device: bool = False) -> Dataset:
    """The TID 1500 root CONTAINER (title DCM 126000, template 1500) built by highdicom."""
    report = hsr.MeasurementReport(
        observation_context=_observation_context(with_device),
        procedure_reported=PROCEDURE,
        imaging_measurements=list(groups),
    )
    root: Dataset = report[0]
    return root


def _imaging_measurements(root: Dataset) -> Dataset:
    """The Imaging Measurements (DCM 126010) container of a TID 1500 root."""
    return _find(root, "126010")


def _find(parent: Dataset, code_value: str) -> Dataset:
    child: Dataset
    for child in parent.ContentSequence:
        if child.ConceptNameCodeSequence[0].CodeValue == code_value:
            return child
    raise KeyError(code_value)


def iter_items(item: Dataset, path: str = "1") -> Iterator[tuple[str, Dataset]]:
    """Depth-first (path, content item) pairs; paths as in the DESIGN ("1.6.1.2")."""
    yield path, item
    for i, child in enumerate(item.get("ContentSequence", []), 1):
        yield from iter_items(child, f"{path}.{i}")


def _is_observation(item: Dataset) -> bool:
    """Items the IG maps to Observations: groups, NUMs, CONTAINS CODE/TEXT evaluations."""
    code = item.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in item else ""
    value_type = item.get("ValueType")  # by-reference items have none
    if value_type == "CONTAINER":
        return code == "125007"
    if value_type == "NUM":
        return True
    return (
        value_type in ("CODE", "TEXT")
        and item.get("RelationshipType") == "CONTAINS"
        and code not in NOT_EVALUATIONS
    )


def _stamp_observation_uids(root: Dataset, case: str) -> None:
    """Give every Observation-bearing item an Observation UID derived from its path."""
    for path, item in iter_items(root):
        if path != "1" and _is_observation(item):
            item.ObservationUID = make_uid(case, "observation", path)


def _evidence(root: Dataset) -> list[Dataset]:
    """CurrentRequestedProcedureEvidenceSequence for every instance the tree references."""
    known = _references()
    by_series: dict[str, dict[str, RefInstance]] = {}
    for _, item in iter_items(root):
        for ref in item.get("ReferencedSOPSequence", []):
            inst = known[ref.ReferencedSOPInstanceUID]
            by_series.setdefault(inst.series_uid, {})[inst.sop_instance_uid] = inst
    series_items = []
    for series_uid, instances in by_series.items():
        sops = [
            _ds(ReferencedSOPClassUID=i.sop_class_uid, ReferencedSOPInstanceUID=i.sop_instance_uid)
            for i in instances.values()
        ]
        series_items.append(_ds(SeriesInstanceUID=series_uid, ReferencedSOPSequence=sops))
    if not series_items:
        return []
    return [_ds(StudyInstanceUID=study_uid(), ReferencedSeriesSequence=series_items)]


def _ds(**elements: object) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _tree_needs(root: Dataset) -> tuple[bool, bool]:
    """(has SCOORD3D, has by-reference relationships) for SOP class checks."""
    has_3d = has_by_ref = False
    for _, item in iter_items(root):
        has_3d |= item.get("ValueType") == "SCOORD3D"
        has_by_ref |= "ReferencedContentItemIdentifier" in item
    return has_3d, has_by_ref


def allowed_sop_classes(ds: Dataset) -> list[str]:
    """SOP class kinds (keys of SOP_CLASSES) that may carry this content tree."""
    has_3d, has_by_ref = _tree_needs(ds)
    kinds = ["comprehensive3d", "extensible"]
    if not has_3d:
        kinds.insert(0, "comprehensive")
        if not has_by_ref:
            kinds.insert(0, "enhanced")
    return kinds


def _patient_study_series_equipment(ds: Dataset, case: str) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = CONTENT_DATE, CONTENT_TIME
    ds.StudyDate, ds.StudyTime = STUDY_DATE, STUDY_TIME
    ds.SeriesDate, ds.SeriesTime = CONTENT_DATE, CONTENT_TIME
    ds.AccessionNumber = ACCESSION_NUMBER
    ds.IssuerOfAccessionNumberSequence = [
        _ds(
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
        _ds(
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
            _ds(
                VerifyingObserverName=VERIFIER_NAME,
                VerifyingOrganization=INSTITUTION,
                VerificationDateTime=CONTENT_DATE + "103000",
                VerifyingObserverIdentificationCodeSequence=[],
            )
        ]
    if flags.participants:
        ds.ParticipantSequence = list(flags.participants)
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(root)


def _document(
    case: str,
    root: Dataset,
    flags: DocumentFlags | None = None,
    *,
    observation_uids: bool = True,
) -> Dataset:
    """Wrap a root CONTAINER in the SR document modules and file meta; read back."""
    if observation_uids:
        _stamp_observation_uids(root, case)
    ds = Dataset()
    sop_class = SOP_CLASSES["comprehensive3d" if _tree_needs(root)[0] else "comprehensive"]
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


def to_bytes(ds: Dataset) -> bytes:
    """Part-10 bytes of ``ds`` (preamble, file meta, explicit VR little endian)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def from_bytes(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


# --------------------------------------------------------------------- good reports


def _planar_groups(case: str) -> list[Group]:
    """Group 1: the full TID 1410; group 2: a small one in the right lung."""
    length = _num(SCT.Length, 21.4, MM, derivation=SCT.Maximum)
    _head(length).ObservationDateTime = OBSERVATION_DATETIME
    area = _num(SCT.Area, 310.2, MM2, algorithm_id=_algorithm())
    first = _planar_group(
        case,
        1,
        [length, area],
        evaluations=[_qual(MARGINS, SPICULATED), _qual(MALIGNANCY, SCT.Malignant)],
        site=_lung_site(SCT.Left),
    )
    _extend_group(first, _text(COMMENT, "Solid nodule, larger than on prior study"))
    second = _planar_group(
        case,
        2,
        [_num(SCT.Length, 8.0, MM)],
        site=_lung_site(SCT.Right),
        region=_region_2d(((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 20.0))),
    )
    return [first, second]


def planar_report(case: str = "planar") -> Dataset:
    """Comprehensive SR, two TID 1410 groups measured on CT_small (+0100 timezone).

    Group 1.6.1: .1/.2 tracking id/UID, .3 finding category, .4 finding, .5 method
    RECIST 1.1, .6 finding site Lung with .6.1 laterality Left, .7 NUM Length 21.4 mm
    (derivation Maximum, Observation DateTime), .8 NUM Area 310.2 mm2 with its own
    TID 4019, .9/.10 CODE evaluations Margins and Malignancy, .11 SCOORD POLYLINE with
    .11.1 its CT source, .12 TEXT evaluation Comment. Group 1.6.2: right lung, one
    NUM. Observation UIDs on both groups, their NUMs and evaluations.
    """
    root = _measurement_report(_planar_groups(case))
    return _document(case, root, DocumentFlags(timezone=True))


def no_observation_uid_report() -> Dataset:
    """The planar report with no Observation UID (0040,A171) anywhere."""
    case = "no-observation-uid"
    return _document(case, _measurement_report(_planar_groups(case)), observation_uids=False)


def _ellipsoid() -> np.ndarray:
    """ELLIPSOID end points of three orthogonal axes around CT pixel (60, 60)."""
    center = _pixel_to_patient([(60.0, 60.0)])[0]
    offsets = [(-13.2, 0, 0), (13.2, 0, 0), (0, -13.2, 0), (0, 13.2, 0), (0, 0, -6.0), (0, 0, 6.0)]
    points: np.ndarray = center + np.array(offsets)
    return points


def _segment_group(case: str, n: int) -> Group:
    """TID 1411: Referenced Segment (SEG segment 1) with source image AND source series,
    a Real World Value Map and a Liver finding site with a topographical modifier."""
    segment = hsr.ReferencedSegment(
        sop_class_uid=SEG.sop_class_uid,
        sop_instance_uid=SEG.sop_instance_uid,
        segment_number=1,
        source_images=[_source_image()],
    )
    measurements = [
        _num(SCT.Volume, 4180.0, MM3),
        _num(DCM.AttenuationCoefficient, 42.0, HU, derivation=SCT.Mean),
    ]
    group = _volumetric_group(
        case,
        n,
        measurements,
        referenced_segment=segment,
        referenced_real_world_value_map=hsr.RealWorldValueMap(RWVM.sop_instance_uid),
        finding_sites=[hsr.FindingSite(SCT.Liver, topographical_modifier=SCT.Anterior)],
    )
    return _extend_group(group, _source_series())


def _surface_group(case: str, n: int) -> Group:
    """TID 1411: Volume Surface (SCOORD3D ELLIPSOID) with its source series."""
    surface = hsr.VolumeSurface(
        graphic_type="ELLIPSOID",
        graphic_data=_ellipsoid(),
        frame_of_reference_uid=frame_of_reference_uid(),
        source_series=_source_series(),
    )
    measurements = [_num(SCT.Volume, 3900.0, MM3)]
    return _volumetric_group(case, n, measurements, referenced_volume_surface=surface)


def _segment_frame_group(case: str, n: int) -> Group:
    """TID 1410: Referenced Segmentation Frame (SEG frame 1, segment 1) + source image."""
    frame = hsr.ReferencedSegmentationFrame(
        sop_class_uid=SEG.sop_class_uid,
        sop_instance_uid=SEG.sop_instance_uid,
        frame_number=1,
        segment_number=1,
        source_image=_source_image(),
    )
    return _planar_group(case, n, [_num(SCT.Area, 265.0, MM2)], segment_frame=frame)


def _volumetric_groups(case: str) -> list[Group]:
    """Six groups: every ImagingSelection kind of the IG appears at least once."""
    illustrated = _planar_group(case, 1, [_num(SCT.Area, 280.0, MM2)], site=_lung_site())
    explained = _planar_group(
        case, 2, [_num(SCT.Area, 275.5, MM2)], region=_region_3d(), algorithm=_algorithm()
    )
    in_space = _plain_group(case, 6, [_num(SCT.Volume, 4020.0, MM3)], template_id="1411")
    return [
        _extend_group(illustrated, _image(ILLUSTRATION_OF_ROI, ILLUSTRATION)),
        _extend_group(explained, _image(VISUAL_EXPLANATION, EXPLANATION)),
        _segment_group(case, 3),
        _surface_group(case, 4),
        _segment_frame_group(case, 5),
        _extend_group(in_space, _region_in_space()),
    ]


def volumetric_report(case: str = "volumetric") -> Dataset:
    """Comprehensive 3D SR with six groups (paths 1.6.1 ... 1.6.6).

    1.6.1 TID 1410: 2D region + Illustration of ROI (121200). 1.6.2 TID 1410: SCOORD3D
    image region + Visual explanation (130401) + group TID 4019. 1.6.3 TID 1411:
    Referenced Segment (121191, SEG segment 1) + source image (121233) + source series
    (121232) + Real World Value Map (126100) + Liver/Anterior finding site. 1.6.4 TID
    1411: Volume Surface (121231 ELLIPSOID) + source series. 1.6.5 TID 1410: Referenced
    Segmentation Frame (121214) + source image. 1.6.6 TID 1411: Region In Space (130488,
    RTSTRUCT, ROI identifier 130489 "1").
    """
    return _document(
        case, _measurement_report(_volumetric_groups(case)), DocumentFlags(timezone=True)
    )


def _qualitative_container() -> Dataset:
    """UMLS C0034375 with a CODE (own TID 4019) and a TEXT child."""
    coded = hsr.CodeContentItem(name=MARGINS, value=LOBULATED, relationship_type="CONTAINS")
    _with_children(coded, list(_algorithm("MarginClassifier", "0.9.3")))
    text = _text(COMMENT, "No pleural effusion")
    return _with_children(_container(QUALITATIVE_EVALUATIONS), [coded, text])


def _place(root: Dataset, container: Dataset, placement: str) -> None:
    """Put a container at the report root (TID 1500) or inside Imaging Measurements."""
    if placement == "root":
        root.ContentSequence.append(container)
    elif placement == "inside":
        _imaging_measurements(root).ContentSequence.append(container)
    else:
        raise ValueError(f"placement must be 'root' or 'inside', not {placement!r}")


def qualitative_container_report(placement: str = "root") -> Dataset:
    """A Qualitative Evaluations container after the planar groups.

    ``root``: path 1.7 (TID 1500 row); ``inside``: path 1.6.3 (IG mapping page).
    Children: .1 CODE Margins=Lobulated with TID 4019 children, .2 TEXT Comment.
    """
    case = f"qualitative-{placement}"
    root = _measurement_report(_planar_groups(case))
    _place(root, _qualitative_container(), placement)
    return _document(case, root)


def _by_reference(target_path: str) -> Dataset:
    """INFERRED FROM by-reference to the item at ``target_path`` ("1.6.1")."""
    return _ds(
        RelationshipType="INFERRED FROM",
        ReferencedContentItemIdentifier=[int(p) for p in target_path.split(".")],
    )


def _path_of(root: Dataset, target: Dataset) -> str:
    return next(path for path, item in iter_items(root) if item is target)


def _derived_container(case: str, root: Dataset) -> Dataset:
    """DCM 126011: a mean NUM citing groups 1 and 2 by-reference, a nested TID 1501 group,
    and an SD NUM with its own TID 4019."""
    groups = [g for g in _imaging_measurements(root).ContentSequence if g.ValueType == "CONTAINER"]
    mean = hsr.NumContentItem(MEAN_OF_POPULATION, 14.7, MM, relationship_type="CONTAINS")
    _with_children(mean, [_by_reference(_path_of(root, g)) for g in groups[:2]])
    nested = _head(_plain_group(case, 9, [_num(SCT.Length, 29.4, MM)]))
    sd = hsr.NumContentItem(SD_OF_POPULATION, 6.7, MM, relationship_type="CONTAINS")
    _with_children(sd, list(_algorithm("LesionStats", "1.0.0")))
    return _with_children(_container(DERIVED_IMAGING_MEASUREMENTS), [mean, nested, sd])


def derived_report(placement: str = "root") -> Dataset:
    """Derived Imaging Measurements (TID 1420) next to the two planar groups.

    ``root``: container at 1.7; ``inside``: at 1.6.3. Children: .1 NUM Mean Value of
    population, INFERRED FROM 1.6.1 and 1.6.2 by-reference; .2 nested Measurement Group
    (TID 1501, tracking "Lesion 9"); .3 NUM Standard deviation with TID 4019.
    """
    case = f"derived-{placement}"
    root = _measurement_report(_planar_groups(case))
    _place(root, _derived_container(case, root), placement)
    return _document(case, root, DocumentFlags(timezone=True))


def qualifier_report() -> Dataset:
    """One planar group: 1.6.1.7 NUM Diameter with qualifier DCM 114000 "Not a number"
    and an empty Measured Value Sequence; 1.6.1.8 NUM Length 12.0 mm."""
    case = "qualifier"
    nan = _num(SCT.Diameter, 0.0, MM, qualifier=DCM.NotANumber)
    _head(nan).MeasuredValueSequence = []
    group = _planar_group(case, 1, [nan, _num(SCT.Length, 12.0, MM)], site=_lung_site())
    return _document(case, _measurement_report([group]))


SRT_LUNG = Code("T-28000", "SRT", "Lung")
SRT_LEFT = Code("G-A101", "SRT", "Left")
PRIVATE_SCORE = Code("XYZ-0001", "99XYZ", "Private opacity score")
PRIVATE_VALUE = Code("XYZ-VAL-3", "99XYZ", "Opacity grade 3")
LONG_CODE = hsr.CodedConcept("XYZ-LONG-CODE-VALUE-000000042", "99XYZ", "Long-coded finding")
URN_CODE = hsr.CodedConcept("urn:example:xyz:pattern:ground-glass", "99XYZ", "Ground glass")


def srt_codes_report() -> Dataset:
    """Legacy and unusual codes in one planar group (1.6.1).

    1.6.1.6 finding site SRT T-28000 with .6.1 laterality SRT G-A101; CODE evaluations
    .8 private 99XYZ name and value, .9 a Long Code Value (0008,0119) value, .10 a URN
    Code Value (0008,0120) value.
    """
    case = "srt-codes"
    site = hsr.FindingSite(SRT_LUNG, laterality=SRT_LEFT)
    evaluations = [
        _qual(PRIVATE_SCORE, PRIVATE_VALUE),
        _qual(Code("XYZ-0002", "99XYZ", "Private finding class"), LONG_CODE),
        _qual(Code("XYZ-0003", "99XYZ", "Private pattern"), URN_CODE),
    ]
    group = _planar_group(case, 1, [_num(SCT.Length, 17.0, MM)], evaluations=evaluations, site=site)
    return _document(case, _measurement_report([group]))


def finding_site_without_modifiers_report() -> Dataset:
    """Finding site Lung without laterality/modifier and no tracking id/UID (1.6.1)."""
    case = "site-without-modifiers"
    group = _planar_group(case, 1, [_num(SCT.Length, 11.0, MM)], site=_lung_site(None))
    _drop_children(_head(group), {"112039", "112040"})
    return _document(case, _measurement_report([group]))


def tracking_without_finding_site_report() -> Dataset:
    """Tracking identifier + UID, no finding site (1.6.1)."""
    case = "tracking-without-site"
    group = _planar_group(case, 1, [_num(SCT.Length, 13.0, MM)])
    return _document(case, _measurement_report([group]))


def preliminary_report() -> Dataset:
    """Planar content with PreliminaryFlag PRELIMINARY."""
    case = "preliminary"
    flags = DocumentFlags(preliminary="PRELIMINARY")
    return _document(case, _measurement_report(_planar_groups(case)), flags)


def partial_report() -> Dataset:
    """Planar content with CompletionFlag PARTIAL, VerificationFlag UNVERIFIED, no
    PreliminaryFlag."""
    case = "partial"
    flags = DocumentFlags(completion="PARTIAL", verification="UNVERIFIED", preliminary=None)
    return _document(case, _measurement_report(_planar_groups(case)), flags)


SMALL_GROUP_NUMS = (
    (SCT.LongAxis, MM),
    (SCT.ShortAxis, MM),
    (SCT.Diameter, MM),
    (SCT.Area, MM2),
    (SCT.Perimeter, MM),
    (DCM.AttenuationCoefficient, HU),
)
SMALL_GROUP_EVALUATIONS = (
    (MARGINS, (SPICULATED, LOBULATED)),
    (MALIGNANCY, (SCT.Malignant, SCT.Benign)),
    (SCT.Necrosis, (SCT.Present, SCT.Absent)),
)


def _small_group(case: str, n: int, nums: int, evaluations: int) -> Group:
    """A planar group: up to 6 NUMs and 3 CODE evaluations (distinct names), one TEXT."""
    measurements = [
        _num(name, round(5.0 + n * 0.5 + i * 1.25, 2), unit)
        for i, (name, unit) in enumerate(SMALL_GROUP_NUMS[:nums])
    ]
    quals = [_qual(name, values[n % 2]) for name, values in SMALL_GROUP_EVALUATIONS[:evaluations]]
    group = _planar_group(case, n, measurements, evaluations=quals, site=_lung_site())
    return _extend_group(group, _text(COMMENT, f"Lesion {n} comment"))


def large_report(groups: int = 50) -> Dataset:
    """``groups`` planar groups (1.6.1 ... 1.6.N), each 2 NUMs, 1 CODE and 1 TEXT."""
    case = f"large-{groups}"
    content = [_small_group(case, n, 2, 1) for n in range(1, groups + 1)]
    return _document(case, _measurement_report(content))


def _participants() -> tuple[Dataset, ...]:
    person = _ds(
        ParticipationType="ATTEST",
        ParticipationDateTime=CONTENT_DATE + "102000",
        ObserverType="PSN",
        PersonName=PARTICIPANT_PERSON_NAME,
        PersonIdentificationCodeSequence=[
            _ds(CodeValue="RAD-0042", CodingSchemeDesignator="99TESTHOSP", CodeMeaning="Roe")
        ],
        InstitutionName=INSTITUTION,
    )
    device = _ds(
        ParticipationType="SOURCE",
        ParticipationDateTime=CONTENT_DATE + "101000",
        ObserverType="DEV",
        DeviceUID=PARTICIPANT_DEVICE_UID,
        Manufacturer="AI Vendor Ltd",
        ManufacturerModelName="LM-2",
        DeviceSerialNumber="AI-0007",
        StationName="AIBOX01",
    )
    return (person, device)


def participant_report() -> Dataset:
    """Participant Sequence with a PSN (ATTEST) and a DEV (SOURCE, own Device UID).

    The tree holds person (1.2-1.4) and device (1.5-1.10) observer context; Imaging
    Measurements moves to 1.12.
    """
    case = "participant"
    root = _measurement_report(_planar_groups(case), with_device=True)
    return _document(case, root, DocumentFlags(participants=_participants()))


def _scoord3d_shapes() -> dict[str, np.ndarray]:
    """Graphic Data of every SCOORD3D Graphic Type, in the CT's patient coordinates (mm)."""
    square = _pixel_to_patient(SQUARE)
    center = _pixel_to_patient([(60.0, 60.0)])[0]
    ellipse = center + np.array([(-10.0, 0, 0), (10.0, 0, 0), (0, -6.5, 0), (0, 6.5, 0)])
    return {
        "POINT": center[np.newaxis, :],
        "MULTIPOINT": square[:3],
        "POLYLINE": square[:4],
        "POLYGON": square,  # closed: the last point is the first
        "ELLIPSE": ellipse,
        "ELLIPSOID": _ellipsoid(),
    }


def scoord3d_report() -> Dataset:
    """Comprehensive 3D SR: six groups (1.6.1 ... 1.6.6), one per SCOORD3D Graphic Type
    (POINT, MULTIPOINT, POLYLINE, POLYGON, ELLIPSE, ELLIPSOID), each with one Area NUM and
    an Image Region (111030) SCOORD3D in the CT's frame of reference as its last child
    (1.6.n.7). TID 1410 (as highdicom builds it) where its constraint allows the type; TID
    1410 leaves MULTIPOINT and ELLIPSOID out, so those two are a plain SCOORD3D item, as
    producers send them."""
    case = "scoord3d"
    groups: list[Group] = []
    for n, (graphic_type, data) in enumerate(_scoord3d_shapes().items(), start=1):
        area = _num(SCT.Area, 100.0 + n, MM2)
        if graphic_type in ("MULTIPOINT", "ELLIPSOID"):
            group = _planar_group(case, n, [area], segment_frame=_segment_frame(n))
            _drop_children(_head(group), {"121214", "121233"})
            item = hsr.Scoord3DContentItem(
                name=DCM.ImageRegion,
                graphic_type=graphic_type,
                graphic_data=data,
                frame_of_reference_uid=frame_of_reference_uid(),
                relationship_type="CONTAINS",
            )
            groups.append(_extend_group(group, item))
        else:
            region = hsr.ImageRegion3D(graphic_type, data, frame_of_reference_uid())
            groups.append(_planar_group(case, n, [area], region=region))
    return _document(case, _measurement_report(groups))


def _segment_frame(n: int) -> hsr.ReferencedSegmentationFrame:
    """A stand-in ROI for building a TID 1410 group that gets its region by hand."""
    return hsr.ReferencedSegmentationFrame(
        sop_class_uid=SEG.sop_class_uid,
        sop_instance_uid=SEG.sop_instance_uid,
        frame_number=n,
        segment_number=1,
        source_image=_source_image(),
    )


def units_report() -> Dataset:
    """One planar group (1.6.1) whose NUMs carry the units producers really send:
    .7 Length 10.04 in dcmjs' "[arb'U]{cm}" (read as cm), .8 Attenuation 42 in "HU" (not
    UCUM), .9 a ratio in "1" (no units), .10 a velocity in "cm/s", .11 an area in "mm2"
    whose Code Meaning is the code itself."""
    case = "units"
    nums = [
        _num(SCT.Length, 10.04, Code("[arb'U]{cm}", "UCUM", "arbitrary cm")),
        _num(DCM.AttenuationCoefficient, 42.0, Code("HU", "UCUM", "HU")),
        _num(DCM.DiastolicSystolicVelocityRatio, 0.35, UCUM.NoUnits),
        _num(SCT.ArterialVelocity, 12.5, UCUM.CentimeterPerSecond),
        _num(SCT.Area, 310.2, Code("mm2", "UCUM", "mm2")),
    ]
    group = _planar_group(case, 1, nums, site=_lung_site())
    return _document(case, _measurement_report([group]))


def no_template_id_report() -> Dataset:
    """TID 1500 recognisable by title DCM 126000 only: no root ContentTemplateSequence.
    A good case: readers must accept it."""
    case = "no-template-id"
    root = _measurement_report(_planar_groups(case))
    del root.ContentTemplateSequence
    return _document(case, root)


def titled_report(title: Code, case: str, *, declared: bool = False) -> Dataset:
    """The planar groups under another document title; ``declared`` keeps the root's
    Content Template Sequence (TID 1500), else there is none."""
    root = _measurement_report(_planar_groups(case))
    if not declared:
        del root.ContentTemplateSequence
    root.ConceptNameCodeSequence = [hsr.CodedConcept.from_code(title)]
    return _document(case, root)


def other_title_report(declared: bool = False) -> Dataset:
    """TID 1500 content titled LN 18748-4, outside CID 7021: recognised by its template
    (``declared``) or by its Imaging Measurements container; converts with a warning."""
    case = "other-title-declared" if declared else "other-title"
    return titled_report(OTHER_TITLE, case, declared=declared)


def no_tid1500_structure_sr() -> Dataset:
    """Comprehensive SR titled LN 18748-4, no template id and no TID 1500 container (one TEXT
    finding at the root). A bad case: nothing says it is a Measurement Report."""
    case = "no-tid1500-structure"
    root = _ds(
        ValueType="CONTAINER",
        ConceptNameCodeSequence=[hsr.CodedConcept.from_code(OTHER_TITLE)],
        ContinuityOfContent="SEPARATE",
        ContentSequence=[_text(DCM.Finding, "No abnormality")],
    )
    return _document(case, root)


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


# ----------------------------------------------------------------------- benchmark


def _benchmark_root(case: str) -> Dataset:
    return _measurement_report([_small_group(case, n, 6, 3) for n in (1, 2)])


@lru_cache(maxsize=1)
def _benchmark_template() -> tuple[bytes, tuple[str, ...]]:
    """Template bytes and the per-report UIDs in it (all 44 characters long)."""
    case = "benchmark"
    ds = _document(case, _benchmark_root(case))
    per_report = [ds.SOPInstanceUID, ds.SeriesInstanceUID]
    for _, item in iter_items(ds):
        per_report.extend(v for k in ("ObservationUID", "UID") if (v := item.get(k)))
    return to_bytes(ds), tuple(dict.fromkeys(str(u) for u in per_report))


def benchmark_report_bytes(index: int) -> bytes:
    """Part-10 bytes of benchmark report ``index``: the template with fresh UIDs.

    2 groups x (6 NUMs + 3 CODE + 1 TEXT evaluations); the SOP Instance, Series,
    Observation and Tracking UIDs are unique per index; UIDs keep their length, so a
    byte substitution keeps every length field valid.
    """
    data, uids = _benchmark_template()
    for old in uids:
        data = data.replace(old.encode(), make_uid("benchmark", index, old).encode())
    return data


def benchmark_report(index: int) -> Dataset:
    """Benchmark report ``index`` as a Dataset (see ``benchmark_report_bytes``)."""
    return from_bytes(benchmark_report_bytes(index))


# ---------------------------------------------------------------------- bad inputs


def _testdata_bytes(name: str) -> bytes:
    return Path(_testdata_path(name)).read_bytes()


def not_dicom_bytes() -> bytes:
    return b"This is not a DICOM file.\nPatientName=DOE^JANE^Q\n"


def empty_bytes() -> bytes:
    return b""


def truncated_sr_bytes() -> bytes:
    """The planar report's bytes cut halfway through the top-level ContentSequence."""
    data = to_bytes(planar_report("truncated"))
    start = data.index(b"\x40\x00\x30\xa7SQ")  # (0040,A730), explicit VR LE
    return data[: start + (len(data) - start) // 2]


def ct_image_bytes() -> bytes:
    return _testdata_bytes("CT_small.dcm")


def non_tid1500_sr_bytes() -> bytes:
    """pydicom's ``test-SR.dcm``: a Comprehensive SR that is not TID 1500."""
    return _testdata_bytes("test-SR.dcm")


def basic_text_sr_bytes() -> bytes:
    """pydicom's ``reportsi.dcm``: a Basic Text SR."""
    return _testdata_bytes("reportsi.dcm")


def malformed_tree_bytes() -> bytes:
    """A planar report whose Finding CODE item (1.6.1.4) has no ConceptCodeSequence."""
    ds = planar_report("malformed")
    del _find(_imaging_measurements(ds).ContentSequence[0], "121071").ConceptCodeSequence
    return to_bytes(ds)


# ------------------------------------------------------------------------ catalogue

GOOD_CASES: dict[str, Callable[[], Dataset]] = {
    "planar": planar_report,
    "volumetric": volumetric_report,
    "qualitative_root": lambda: qualitative_container_report("root"),
    "qualitative_inside": lambda: qualitative_container_report("inside"),
    "derived_root": lambda: derived_report("root"),
    "derived_inside": lambda: derived_report("inside"),
    "no_observation_uid": no_observation_uid_report,
    "qualifier": qualifier_report,
    "srt_codes": srt_codes_report,
    "finding_site_without_modifiers": finding_site_without_modifiers_report,
    "tracking_without_finding_site": tracking_without_finding_site_report,
    "preliminary": preliminary_report,
    "partial": partial_report,
    "large": large_report,
    "participant": participant_report,
    "no_template_id": no_template_id_report,
    "benchmark_00001": lambda: benchmark_report(1),
    "planar_enhanced": lambda: _variant(planar_report(), "enhanced", "planar_enhanced"),
    "planar_comprehensive3d": lambda: _variant(
        planar_report(), "comprehensive3d", "planar_comprehensive3d"
    ),
    "planar_extensible": lambda: _variant(planar_report(), "extensible", "planar_extensible"),
    "volumetric_extensible": lambda: _variant(
        volumetric_report(), "extensible", "volumetric_extensible"
    ),
}

BAD_CASES: dict[str, Callable[[], bytes]] = {
    "not_dicom": not_dicom_bytes,
    "empty": empty_bytes,
    "truncated_sr": truncated_sr_bytes,
    "ct_image": ct_image_bytes,
    "non_tid1500_sr": non_tid1500_sr_bytes,
    "basic_text_sr": basic_text_sr_bytes,
    "malformed_tree": malformed_tree_bytes,
    "no_tid1500_structure": lambda: to_bytes(no_tid1500_structure_sr()),
}


def _variant(ds: Dataset, kind: str, name: str) -> Dataset:
    return as_sop_class(ds, kind, sop_instance_uid=make_uid(name, "instance"))


def write_all(folder: str | Path) -> dict[str, Path]:
    """Write every good case as ``<name>.dcm`` and every bad one as ``<name>.bad``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, build in GOOD_CASES.items():
        written[name] = out / f"{name}.dcm"
        build().save_as(written[name], enforce_file_format=True)
    for name, build_bytes in BAD_CASES.items():
        written[name] = out / f"{name}.bad"
        written[name].write_bytes(build_bytes())
    return written


def tree_lines(ds: Dataset) -> list[str]:
    """One line per content item: path, relationship, value type, concept, template."""
    lines = []
    for path, item in iter_items(ds):
        name = item.get("ConceptNameCodeSequence")
        concept = f"({name[0].CodeValue}, {name[0].CodingSchemeDesignator}, " if name else "("
        concept += f'"{name[0].CodeMeaning}")' if name else ")"
        template = item.get("ContentTemplateSequence")
        tid = f" TID {template[0].TemplateIdentifier}" if template else ""
        ref = item.get("ReferencedContentItemIdentifier")
        by_ref = f" -> {'.'.join(str(int(v)) for v in ref)}" if ref is not None else ""
        uid = " [ObsUID]" if "ObservationUID" in item else ""
        rel = item.get("RelationshipType", "")
        lines.append(f"{path} {rel} {item.get('ValueType', '')} {concept}{tid}{by_ref}{uid}")
    return lines


def selfcheck() -> list[str]:
    """Build every case twice; return the names whose bytes differ."""
    differ = []
    for name, build in GOOD_CASES.items():
        if to_bytes(build()) != to_bytes(build()):
            differ.append(name)
    for name, build_bytes in BAD_CASES.items():
        if build_bytes() != build_bytes():
            differ.append(name)
    return differ


def _write_benchmark(out: Path, count: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        (out / f"sr-{i:05d}.dcm").write_bytes(benchmark_report_bytes(i))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.srfactory", description=__doc__)
    parser.add_argument("--out", type=Path, help="folder to write into")
    parser.add_argument("--count", type=int, default=100, help="benchmark reports (default 100)")
    parser.add_argument("--all", action="store_true", help="write every case, not benchmarks")
    parser.add_argument("--selfcheck", action="store_true", help="build twice, compare bytes")
    parser.add_argument("--tree", metavar="NAME", help="print the content tree of a good case")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.selfcheck:
        differ = selfcheck()
        print("selfcheck:", "FAILED " + ", ".join(differ) if differ else "ok")
        if differ:
            return 1
    elif args.tree:
        print("\n".join(tree_lines(GOOD_CASES[args.tree]())))
    elif args.out and args.all:
        print(f"wrote {len(write_all(args.out))} files to {args.out}")
    elif args.out:
        _write_benchmark(args.out, args.count)
        print(f"wrote {args.count} benchmark reports to {args.out}")
    else:
        parser.print_usage()
        return 2
    print(f"took {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
