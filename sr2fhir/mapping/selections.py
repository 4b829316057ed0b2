"""ImagingSelection builders, one per IG profile (image regions, segments, maps, source SR)."""

from __future__ import annotations

from typing import Any

from pydicom.uid import UID

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import profiles
from sr2fhir.mapping.coding import DCM, SOP_CLASS_SYSTEM, fixed_concept
from sr2fhir.mapping.content import Graphic, SopReference
from sr2fhir.mapping.context import BuildContext, Entry, Reference, Resource
from sr2fhir.mapping.report import ImageReference, SelectionKind

# The code each profile fixes (patternCoding), with the display the profile gives it.
_PROFILE_CODE: dict[SelectionKind, tuple[str, str]] = {
    SelectionKind.IMAGE_REGION_2D: ("111030", "Image Region"),
    SelectionKind.IMAGE_REGION_3D: ("111030", "Image Region"),
    SelectionKind.REFERENCED_SEGMENT: ("121191", "Referenced Segment"),
    SelectionKind.REFERENCED_SEGMENTATION_FRAME: ("121214", "Referenced Segmentation Frame"),
    SelectionKind.REGION_IN_SPACE: ("130488", "Region In Space"),
    SelectionKind.VOLUME_SURFACE: ("121231", "Volume Surface"),
    SelectionKind.REAL_WORLD_VALUE_MAP: ("126100", "Real World Value Map used for measurement"),
    SelectionKind.ILLUSTRATION_OF_ROI: ("121200", "Illustration of ROI"),
    SelectionKind.VISUAL_EXPLANATION: ("130401", "Visual Explanation"),
    SelectionKind.SOURCE_IMAGE_FOR_SEGMENTATION: ("121233", "Source image for segmentation"),
}
_REGION_2D = {"POINT": "point", "POLYLINE": "polyline", "CIRCLE": "circle", "ELLIPSE": "ellipse"}
_REGION_3D = frozenset({"POINT", "MULTIPOINT", "POLYLINE", "POLYGON", "ELLIPSE", "ELLIPSOID"})
# Selections that point at the images a segmentation was made from (profile focus slice).
_FOCUS_ON_SOURCE = frozenset(
    {
        SelectionKind.REFERENCED_SEGMENT,
        SelectionKind.REFERENCED_SEGMENTATION_FRAME,
        SelectionKind.VOLUME_SURFACE,
    }
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
    source = next(
        (r for r in references if r.kind is SelectionKind.SOURCE_IMAGE_FOR_SEGMENTATION), None
    )
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
    code, display = _PROFILE_CODE[kind]
    resource = _base(
        ctx,
        ctx.id_for("ImagingSelection", reference.path),
        profiles.selection_profile(kind.value),
        fixed_concept(DCM, code, display),  # the profile fixes code and display
    )
    series = _series_of(ctx, reference.references)
    if series is None and kind in (
        SelectionKind.REFERENCED_SEGMENT,
        SelectionKind.SOURCE_IMAGE_FOR_SEGMENTATION,
        SelectionKind.VOLUME_SURFACE,
    ):
        series = source_series_uid  # the profiles' mapping: EV (121232, Source series ...)
    if series is not None:
        resource["seriesUid"] = series
    graphic = reference.graphic
    if kind in (SelectionKind.IMAGE_REGION_3D, SelectionKind.VOLUME_SURFACE) and graphic:
        resource["frameOfReferenceUid"] = graphic.frame_of_reference_uid
    if body_site is not None:
        resource["bodySite"] = body_site
    if focus is not None:
        resource["focus"] = [focus]
    instances = _instances(reference)
    if instances:
        resource["instance"] = instances
    # R5 only has imageRegion3D inside instance[], and a SCOORD3D names no instance: the
    # region is carried by frameOfReferenceUid alone (its coordinates are not mapped).
    if graphic is not None and graphic.frame_of_reference_uid is not None:
        _check_region_3d(graphic, reference.path)
    return ctx.add(resource)


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
        if reference.kind is SelectionKind.IMAGE_REGION_2D and reference.graphic is not None:
            instances.extend(
                {**instance, "imageRegion2D": [region]}
                for region in _regions_2d(reference.graphic, reference.path)
            )
        else:
            instances.append(instance)
    return instances


def _subset(reference: ImageReference, ref: SopReference) -> list[str]:
    """Segments for segment references, ROI ids for Region In Space, else frame numbers."""
    if reference.kind is SelectionKind.REGION_IN_SPACE:
        return list(reference.roi_identifiers)
    if (
        reference.kind
        in (
            SelectionKind.REFERENCED_SEGMENT,
            SelectionKind.REFERENCED_SEGMENTATION_FRAME,
        )
        and ref.segment_numbers
    ):
        return [str(n) for n in ref.segment_numbers]
    return [str(n) for n in ref.frame_numbers]


def _regions_2d(graphic: Graphic, path: str) -> list[dict[str, Any]]:
    """SCOORD -> imageRegion2D; MULTIPOINT becomes one point region per point."""
    data = [_decimal(v) for v in graphic.data]
    if graphic.graphic_type == "MULTIPOINT":
        return [
            {"regionType": "point", "coordinate": data[i : i + 2]} for i in range(0, len(data), 2)
        ]
    region_type = _REGION_2D.get(graphic.graphic_type)
    if region_type is None:
        raise SrParseError(f"SCOORD Graphic Type {graphic.graphic_type!r} is not defined", path)
    return [{"regionType": region_type, "coordinate": data}]


def _check_region_3d(graphic: Graphic, path: str) -> None:
    if graphic.graphic_type not in _REGION_3D:
        raise SrParseError(f"SCOORD3D Graphic Type {graphic.graphic_type!r} is not defined", path)


def _decimal(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def build_source_sr_content_item(ctx: BuildContext, path: str, observation_uid: str) -> Entry:
    """The SR content item itself (profile source-sr-content-item): subset = Observation UID."""
    header = ctx.header
    resource = _base(
        ctx,
        ctx.id_for("ImagingSelection/source", path),
        profiles.SOURCE_SR_CONTENT_ITEM,
        fixed_concept(DCM, "111040", "Original Source"),
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
