"""ImagingSelection builders, one per IG profile (image regions, segments, maps, source SR)."""

from __future__ import annotations

from typing import Any

from pydicom.uid import UID

from sr2fhir.mapping import codes as c
from sr2fhir.mapping import profiles
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.coding import SOP_CLASS_SYSTEM, build_codeable_concept
from sr2fhir.mapping.context import BuildContext, Entry, Reference, Resource
from sr2fhir.mapping.report import ImageReference
from sr2fhir.mapping.report import ImageReferenceKind as Kind
from sr2fhir.mapping.value_types import (
    GraphicType,
    SopReference,
    SpatialCoordinates,
    SpatialCoordinates3D,
)

# Each kind's ImagingSelection profile, and the code the profile fixes (patternCoding).
_PROFILES: dict[Kind, tuple[str, Code]] = {
    Kind.IMAGE_REGION_2D: (profiles.IMAGE_REGION_2D, c.IMAGE_REGION),
    Kind.IMAGE_REGION_3D: (profiles.IMAGE_REGION_3D, c.IMAGE_REGION),
    Kind.REFERENCED_SEGMENT: (profiles.REFERENCED_SEGMENT, c.REFERENCED_SEGMENT),
    Kind.REFERENCED_SEGMENTATION_FRAME: (
        profiles.REFERENCED_SEGMENTATION_FRAME,
        c.REFERENCED_SEGMENTATION_FRAME,
    ),
    Kind.REGION_IN_SPACE: (profiles.REGION_IN_SPACE, c.REGION_IN_SPACE),
    Kind.VOLUME_SURFACE: (profiles.VOLUME_SURFACE, c.VOLUME_SURFACE),
    Kind.REAL_WORLD_VALUE_MAP: (profiles.REAL_WORLD_VALUE_MAP, c.REAL_WORLD_VALUE_MAP),
    Kind.ILLUSTRATION_OF_ROI: (profiles.ILLUSTRATION_OF_ROI, c.ILLUSTRATION_OF_ROI),
    Kind.VISUAL_EXPLANATION: (profiles.VISUAL_EXPLANATION, c.VISUAL_EXPLANATION),
    Kind.SOURCE_IMAGE_FOR_SEGMENTATION: (
        profiles.SOURCE_IMAGE_FOR_SEGMENTATION,
        c.SOURCE_IMAGE_FOR_SEGMENTATION,
    ),
}
XVER_IMAGE_REGION_3D = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ImagingSelection.instance.imageRegion3D"
)
# SCOORD Graphic Type -> imageRegion2D.regionType (MULTIPOINT: one point region per point).
_REGION_2D = {
    GraphicType.POINT: "point",
    GraphicType.POLYLINE: "polyline",
    GraphicType.CIRCLE: "circle",
    GraphicType.ELLIPSE: "ellipse",
}
# Selections that point at the images a segmentation was made from (profile focus slice).
_FOCUS_ON_SOURCE = frozenset(
    {Kind.REFERENCED_SEGMENT, Kind.REFERENCED_SEGMENTATION_FRAME, Kind.VOLUME_SURFACE}
)


def sop_class_coding(uid: str) -> dict[str, Any]:
    """SOP Class as the IG's profiles fix it: PS3.4 Annex B.5 as system, the bare UID as code,
    the PS3.6 name as display (the profiles' slice patterns include it)."""
    coding: dict[str, Any] = {"system": SOP_CLASS_SYSTEM, "code": uid}
    name = UID(uid).name
    if name and name != uid:
        coding["display"] = name
    return coding


def _base(ctx: BuildContext, id_: str, profile: str, code: dict[str, Any]) -> Resource:
    refs = ctx.references
    resource: Resource = {
        "resourceType": "ImagingSelection",
        "id": id_,
        "meta": {"profile": [profile]},
        "status": "available",
        "subject": refs.subject,
    }
    if refs.service_request is not None:
        resource["basedOn"] = [refs.service_request]
    resource["code"] = code
    resource["studyUid"] = ctx.header.study_uid
    resource["derivedFrom"] = [refs.imaging_study]
    return resource


def build_item_selections(
    ctx: BuildContext,
    references: tuple[ImageReference, ...],
    source_series_uid: str | None,
    body_site: dict[str, Any] | None,
) -> list[Reference]:
    """Every image reference of an item -> an ImagingSelection; returns derivedFrom refs.

    source_series_uid is the group's EV (121232, DCM, "Source series for segmentation").
    """
    source = next((r for r in references if r.kind is Kind.SOURCE_IMAGE_FOR_SEGMENTATION), None)
    source_entry = build_selection(ctx, source, source_series_uid, None, None) if source else None
    derived_from = []
    for reference in references:
        if reference is source:
            continue
        focus = (
            source_entry.reference if source_entry and reference.kind in _FOCUS_ON_SOURCE else None
        )
        entry = build_selection(ctx, reference, source_series_uid, body_site, focus)
        derived_from.append(entry.reference)
    return derived_from


def build_selection(
    ctx: BuildContext,
    reference: ImageReference,
    source_series_uid: str | None,
    body_site: dict[str, Any] | None,
    focus: Reference | None,
) -> Entry:
    """One ImageReference -> the ImagingSelection of its profile (image-region-2d, ...)."""
    kind = reference.kind
    profile, code = _PROFILES[kind]
    resource = _base(
        ctx,
        ctx.id_for("ImagingSelection", reference.path, parent_path(reference.path)),
        profile,
        build_codeable_concept(code),  # the profile fixes code and display
    )
    series = _series_of(ctx, reference.references)
    if series is None and kind in (
        Kind.REFERENCED_SEGMENT,
        Kind.SOURCE_IMAGE_FOR_SEGMENTATION,
        Kind.VOLUME_SURFACE,
    ):
        series = source_series_uid  # the profiles' mapping: EV (121232, Source series ...)
    if series is not None:
        resource["seriesUid"] = series
    if isinstance(reference.region, SpatialCoordinates3D):
        resource["frameOfReferenceUid"] = reference.region.frame_of_reference_uid
        resource = _with_region_3d(resource, reference.region)
    if body_site is not None:
        resource["bodySite"] = body_site
    if focus is not None:
        resource["focus"] = [focus]
    instances = _instances(reference)
    if instances:
        resource["instance"] = instances
    return ctx.add(resource)


def parent_path(path: str) -> str:
    """The item an image reference is a child of ("1.6.1.11" -> "1.6.1")."""
    return path.rsplit(".", 1)[0]


def _with_region_3d(resource: Resource, region: SpatialCoordinates3D) -> Resource:
    """SCOORD3D -> imageRegion3D (regionType = Graphic Type, coordinate = Graphic Data), the
    mapping the profiles keep commented out until FHIR-41429: R5 has imageRegion3D only inside
    instance[], which a SCOORD3D (a frame of reference, no instance) cannot fill, and R6 moves
    it to the resource. Until then it is R5's own element as the standard cross-version
    extension, on the resource where R6 puts it (decision in docs/mapping.md)."""
    extension = {
        "url": XVER_IMAGE_REGION_3D,
        "extension": [
            {"url": "regionType", "valueCode": region.graphic_type.value.lower()},
            *({"url": "coordinate", "valueDecimal": _decimal(v)} for v in region.data),
        ],
    }
    head = {k: resource[k] for k in ("resourceType", "id", "meta")}
    return {
        **head,
        "extension": [extension],
        **{k: v for k, v in resource.items() if k not in head},
    }


def _series_of(ctx: BuildContext, refs: tuple[SopReference, ...]) -> str | None:
    for ref in refs:
        series = ctx.header.series_of_instance.get(ref.sop_instance_uid)
        if series is not None:
            return series
    return None


def _instances(reference: ImageReference) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = []
    for ref in reference.references:
        instance: dict[str, Any] = {"uid": ref.sop_instance_uid}
        instance["sopClass"] = sop_class_coding(ref.sop_class_uid)
        subset = _subset(reference, ref)
        if subset:
            instance["subset"] = subset
        if isinstance(reference.region, SpatialCoordinates):
            instances.extend(
                {**instance, "imageRegion2D": [region]} for region in _regions_2d(reference.region)
            )
        else:
            instances.append(instance)
    return instances


def _subset(reference: ImageReference, ref: SopReference) -> list[str]:
    """Segments for segment references, ROI ids for Region In Space, else frame numbers."""
    if reference.kind is Kind.REGION_IN_SPACE:
        return list(reference.roi_identifiers)
    if (
        reference.kind in (Kind.REFERENCED_SEGMENT, Kind.REFERENCED_SEGMENTATION_FRAME)
        and ref.segment_numbers
    ):
        return [str(n) for n in ref.segment_numbers]
    return [str(n) for n in ref.frame_numbers]


def _regions_2d(region: SpatialCoordinates) -> list[dict[str, Any]]:
    """SCOORD -> imageRegion2D; MULTIPOINT becomes one point region per point."""
    data = [_decimal(v) for v in region.data]
    if region.graphic_type is GraphicType.MULTIPOINT:
        return [
            {"regionType": "point", "coordinate": data[i : i + 2]} for i in range(0, len(data), 2)
        ]
    return [{"regionType": _REGION_2D[region.graphic_type], "coordinate": data}]


def _decimal(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def build_source_sr_content_item(ctx: BuildContext, path: str, observation_uid: str) -> Entry:
    """The SR content item itself (profile source-sr-content-item): subset = Observation UID."""
    header = ctx.header
    resource = _base(
        ctx,
        ctx.id_for("ImagingSelection/source", path),
        profiles.SOURCE_SR_CONTENT_ITEM,
        build_codeable_concept(c.ORIGINAL_SOURCE),
    )
    if header.series_uid:
        resource["seriesUid"] = header.series_uid
    resource["instance"] = [
        {
            "uid": header.sop_instance_uid,
            "sopClass": sop_class_coding(header.sop_class_uid),
            "subset": [observation_uid],
        }
    ]
    return ctx.add(resource)
