"""A report's later documents: revisions (Predecessor Documents Sequence (0040,A360)) that
keep the Observation UIDs of what they carry forward, and Key Object Selection Documents
(IHE IOCM rejection notes, or any other title)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

from pydicom import Dataset
from pydicom.uid import UID

from tests.support.sr.documents import _file_meta, dataset
from tests.support.sr.part10 import from_bytes, to_bytes
from tests.support.sr.tree import iter_items

KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
REJECTED_FOR_QUALITY = ("113001", "Rejected for Quality Reasons")
REJECTED_FOR_PATIENT_SAFETY = ("113037", "Rejected for Patient Safety Reasons")
RETENTION_EXPIRED = ("113039", "Data Retention Policy Expired")
OF_INTEREST = ("113000", "Of Interest")  # a KOS that is not a rejection note


def _uid(*parts: str) -> str:
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, '|'.join(parts)).int}"


def _hierarchical(documents: Sequence[Dataset]) -> list[Dataset]:
    """Hierarchical SOP Instance Reference Macro items (study -> series -> SOP)."""
    studies: dict[str, dict[str, list[Dataset]]] = {}
    for doc in documents:
        series = studies.setdefault(str(doc.StudyInstanceUID), {})
        series.setdefault(str(doc.SeriesInstanceUID), []).append(
            dataset(
                ReferencedSOPClassUID=doc.SOPClassUID,
                ReferencedSOPInstanceUID=doc.SOPInstanceUID,
            )
        )
    return [
        dataset(
            StudyInstanceUID=study,
            ReferencedSeriesSequence=[
                dataset(SeriesInstanceUID=uid, ReferencedSOPSequence=sops)
                for uid, sops in series.items()
            ],
        )
        for study, series in studies.items()
    ]


def with_fresh_observation_uids(ds: Dataset, salt: str) -> Dataset:
    """A copy whose Observation UIDs are new but the same for every copy made with `salt`
    (one run's chain of revisions, unseen by earlier runs against the same server)."""
    out = copy.deepcopy(ds)
    for _, item in iter_items(out):
        if "ObservationUID" in item:
            item.ObservationUID = _uid(salt, str(item.ObservationUID))
    return out


def revision(
    base: Dataset,
    label: str,
    predecessors: Sequence[Dataset],
    *,
    preliminary: str = "FINAL",
    keep_groups: int | None = None,
) -> Dataset:
    """`base` as a new document (own SOP Instance UID from `label`) that lists `predecessors`
    in its Predecessor Documents Sequence; Observation UIDs unchanged (carried forward).
    `keep_groups`: keep only the first N measurement groups (the rest is not carried)."""
    ds = copy.deepcopy(base)
    ds.SOPInstanceUID = _uid(str(base.SOPInstanceUID), label)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    ds.PreliminaryFlag = preliminary
    if predecessors:
        ds.PredecessorDocumentsSequence = _hierarchical(predecessors)
    if keep_groups is not None:
        for item in ds.ContentSequence:
            if item.ConceptNameCodeSequence[0].CodeValue == "126010":  # Imaging Measurements
                item.ContentSequence = item.ContentSequence[:keep_groups]
    return from_bytes(to_bytes(ds))


def key_object_selection(
    label: str, title: tuple[str, str], references: Sequence[Dataset]
) -> Dataset:
    """A KOS (TID 2010) titled `title` (DCM) that references `references` (evidence and
    COMPOSITE items), in the study of the first of them."""
    first = references[0]
    ds = Dataset()
    ds.SOPClassUID = KEY_OBJECT_SELECTION
    ds.SOPInstanceUID = _uid(str(first.SOPInstanceUID), "kos", label)
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "AccessionNumber"):
        setattr(ds, keyword, first.get(keyword, ""))
    ds.SeriesInstanceUID = _uid(ds.SOPInstanceUID, "series")
    ds.Modality = "KO"
    ds.SeriesNumber, ds.InstanceNumber = 999, 1
    ds.ContentDate, ds.ContentTime = "20240101", "120000"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = [
        dataset(CodeValue=title[0], CodingSchemeDesignator="DCM", CodeMeaning=title[1])
    ]
    ds.ContentTemplateSequence = [dataset(MappingResource="DCMR", TemplateIdentifier="2010")]
    ds.CurrentRequestedProcedureEvidenceSequence = _hierarchical(references)
    ds.ContentSequence = [
        dataset(
            RelationshipType="CONTAINS",
            ValueType="COMPOSITE",
            ReferencedSOPSequence=[
                dataset(
                    ReferencedSOPClassUID=ref.SOPClassUID,
                    ReferencedSOPInstanceUID=ref.SOPInstanceUID,
                )
            ],
        )
        for ref in references
    ]
    ds.file_meta = _file_meta(KEY_OBJECT_SELECTION, ds.SOPInstanceUID)
    return from_bytes(to_bytes(ds))
