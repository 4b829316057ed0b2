"""TID 1500 content built with highdicom: the report root (TID 1500), measurement groups
(TID 1410 planar, TID 1411 volumetric, TID 1501 without ROI), their parts (regions,
finding sites, TID 4019 algorithm identification, NUM / CODE / TEXT items) and the
plain-pydicom edits highdicom cannot make (children added or dropped by hand)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset
from pydicom.sr.coding import Code

from tests.support.sr.codes import (
    ALGORITHM_FAMILY_AI,
    COMMENT,
    DCM,
    HU,
    LOBULATED,
    MALIGNANCY,
    MARGINS,
    MM,
    MM2,
    PROCEDURE,
    RECIST_1_1,
    REGION_IN_SPACE,
    ROI_IDENTIFIER,
    SCT,
    SPICULATED,
)
from tests.support.sr.identity import (
    INSTITUTION,
    OBSERVATION_DATETIME,
    OBSERVER_NAME,
    PARTICIPANT_DEVICE_UID,
    make_uid,
)
from tests.support.sr.references import (
    RTSTRUCT,
    RefInstance,
    ct,
    frame_of_reference_uid,
    pixel_to_patient,
)

Group = (
    hsr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hsr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hsr.MeasurementsAndQualitativeEvaluations
)
"""A highdicom measurement group template (TID 1410, 1411 or 1501)."""
G = TypeVar("G", bound=Group)


SQUARE = ((40.0, 40.0), (80.0, 40.0), (80.0, 80.0), (40.0, 80.0), (40.0, 40.0))


def _region_2d(points: Sequence[tuple[float, float]] = SQUARE) -> hsr.ImageRegion:
    """TID 1410 Image Region (SCOORD POLYLINE, closed) on the CT, with its source image."""
    ref = ct()
    return hsr.ImageRegion(
        graphic_type="POLYLINE",
        graphic_data=np.array(points),
        source_image=hsr.SourceImageForRegion(ref.sop_class_uid, ref.sop_instance_uid),
    )


def region_3d() -> hsr.ImageRegion3D:
    """TID 1410 Image Region (SCOORD3D POLYGON) in the CT's frame of reference."""
    return hsr.ImageRegion3D("POLYGON", pixel_to_patient(SQUARE), frame_of_reference_uid())


def source_image() -> hsr.SourceImageForSegmentation:
    ref = ct()
    return hsr.SourceImageForSegmentation(ref.sop_class_uid, ref.sop_instance_uid)


def source_series() -> hsr.SourceSeriesForSegmentation:
    return hsr.SourceSeriesForSegmentation(ct().series_uid)


def _tracking(case: str, n: int) -> hsr.TrackingIdentifier:
    return hsr.TrackingIdentifier(uid=make_uid(case, "tracking", n), identifier=f"Lesion {n}")


def algorithm_identification(
    name: str = "LesionMeasure", version: str = "2.1.0"
) -> hsr.AlgorithmIdentification:
    """TID 4019 with name, version, parameters and family."""
    return hsr.AlgorithmIdentification(
        name=name,
        version=version,
        parameters=["threshold=0.5", "kernel=3"],
        family=ALGORITHM_FAMILY_AI,
    )


def lung_site(laterality: Code | None = SCT.Left) -> hsr.FindingSite:
    return hsr.FindingSite(SCT.Lung, laterality=laterality)


def num(name: Code, value: float, unit: Code, **kwargs: object) -> hsr.Measurement:
    return hsr.Measurement(name=name, value=value, unit=unit, **kwargs)  # type: ignore[arg-type]


def qual(name: Code, value: Code | hsr.CodedConcept) -> hsr.QualitativeEvaluation:
    return hsr.QualitativeEvaluation(name, value)


def text_item(name: Code, value: str, relationship: str = "CONTAINS") -> hsr.TextContentItem:
    return hsr.TextContentItem(name=name, value=value, relationship_type=relationship)


def image_item(name: Code, ref: RefInstance) -> hsr.ImageContentItem:
    return hsr.ImageContentItem(
        name=name,
        referenced_sop_class_uid=ref.sop_class_uid,
        referenced_sop_instance_uid=ref.sop_instance_uid,
        relationship_type="CONTAINS",
    )


def region_in_space(roi_number: str = "1") -> Dataset:
    """DCM 130488 Region In Space: an RT Structure Set ROI (highdicom cannot build it)."""
    item = hsr.CompositeContentItem(
        name=REGION_IN_SPACE,
        referenced_sop_class_uid=RTSTRUCT.sop_class_uid,
        referenced_sop_instance_uid=RTSTRUCT.sop_instance_uid,
        relationship_type="CONTAINS",
    )
    return with_children(item, [text_item(ROI_IDENTIFIER, roi_number, "HAS CONCEPT MOD")])


def container_item(name: Code) -> hsr.ContainerContentItem:
    return hsr.ContainerContentItem(name=name, relationship_type="CONTAINS")


def with_children(item: Dataset, children: Sequence[Dataset]) -> Dataset:
    """Append ``children`` to ``item``'s ContentSequence (creating it) and return ``item``.

    Plain pydicom sequence on purpose: highdicom's own rejects by-reference items.
    """
    current = list(item.get("ContentSequence", []))
    Dataset.__setattr__(item, "ContentSequence", current + list(children))
    return item


def head(template: Group | hsr.Measurement) -> Dataset:
    """The first content item of a highdicom template: the group CONTAINER, the NUM."""
    item: Dataset = template[0]
    return item


def extend_group(group: G, *children: Dataset) -> G:
    with_children(head(group), children)
    return group


def drop_children(item: Dataset, concept_values: set[str]) -> None:
    """Remove the children of ``item`` whose concept name code value is in the set."""
    item.ContentSequence = [
        child
        for child in item.ContentSequence
        if child.ConceptNameCodeSequence[0].CodeValue not in concept_values
    ]


def planar_group(
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


def volumetric_group(
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


def plain_group(
    case: str, n: int, measurements: Sequence[hsr.Measurement], template_id: str = "1501"
) -> hsr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group (no ROI); ``template_id`` relabels it for hand-built ROI kinds."""
    group = hsr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(case, n),
        finding_category=SCT.MorphologicallyAbnormalStructure,
        finding_type=SCT.Mass,
        measurements=list(measurements),
    )
    head(group).ContentTemplateSequence[0].TemplateIdentifier = template_id
    return group


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


def measurement_report(groups: Sequence[Group], *, with_device: bool = False) -> Dataset:
    """The TID 1500 root CONTAINER (title DCM 126000, template 1500) built by highdicom."""
    report = hsr.MeasurementReport(
        observation_context=_observation_context(with_device),
        procedure_reported=PROCEDURE,
        imaging_measurements=list(groups),
    )
    root: Dataset = report[0]
    return root


def planar_groups(case: str) -> list[Group]:
    """Group 1: the full TID 1410; group 2: a small one in the right lung."""
    length = num(SCT.Length, 21.4, MM, derivation=SCT.Maximum)
    head(length).ObservationDateTime = OBSERVATION_DATETIME
    area = num(SCT.Area, 310.2, MM2, algorithm_id=algorithm_identification())
    first = planar_group(
        case,
        1,
        [length, area],
        evaluations=[qual(MARGINS, SPICULATED), qual(MALIGNANCY, SCT.Malignant)],
        site=lung_site(SCT.Left),
    )
    extend_group(first, text_item(COMMENT, "Solid nodule, larger than on prior study"))
    second = planar_group(
        case,
        2,
        [num(SCT.Length, 8.0, MM)],
        site=lung_site(SCT.Right),
        region=_region_2d(((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 20.0))),
    )
    return [first, second]


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


def small_group(case: str, n: int, nums: int, evaluations: int) -> Group:
    """A planar group: up to 6 NUMs and 3 CODE evaluations (distinct names), one TEXT."""
    measurements = [
        num(name, round(5.0 + n * 0.5 + i * 1.25, 2), unit)
        for i, (name, unit) in enumerate(SMALL_GROUP_NUMS[:nums])
    ]
    quals = [qual(name, values[n % 2]) for name, values in SMALL_GROUP_EVALUATIONS[:evaluations]]
    group = planar_group(case, n, measurements, evaluations=quals, site=lung_site())
    return extend_group(group, text_item(COMMENT, f"Lesion {n} comment"))
