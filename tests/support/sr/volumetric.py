"""Reports with 3D content: every ROI kind the IG maps to an ImagingSelection
(``volumetric_report``) and every SCOORD3D Graphic Type (``scoord3d_report``)."""

from __future__ import annotations

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset

from tests.support.sr.codes import DCM, HU, ILLUSTRATION_OF_ROI, MM2, MM3, SCT, VISUAL_EXPLANATION
from tests.support.sr.documents import DocumentFlags, document
from tests.support.sr.references import (
    EXPLANATION,
    ILLUSTRATION,
    RWVM,
    SEG,
    frame_of_reference_uid,
    pixel_to_patient,
)
from tests.support.sr.templates import (
    SQUARE,
    Group,
    algorithm_identification,
    drop_children,
    extend_group,
    head,
    image_item,
    lung_site,
    measurement_report,
    num,
    plain_group,
    planar_group,
    region_3d,
    region_in_space,
    source_image,
    source_series,
    volumetric_group,
)


def _ellipsoid() -> np.ndarray:
    """ELLIPSOID end points of three orthogonal axes around CT pixel (60, 60)."""
    center = pixel_to_patient([(60.0, 60.0)])[0]
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
        source_images=[source_image()],
    )
    measurements = [
        num(SCT.Volume, 4180.0, MM3),
        num(DCM.AttenuationCoefficient, 42.0, HU, derivation=SCT.Mean),
    ]
    group = volumetric_group(
        case,
        n,
        measurements,
        referenced_segment=segment,
        referenced_real_world_value_map=hsr.RealWorldValueMap(RWVM.sop_instance_uid),
        finding_sites=[hsr.FindingSite(SCT.Liver, topographical_modifier=SCT.Anterior)],
    )
    return extend_group(group, source_series())


def _surface_group(case: str, n: int) -> Group:
    """TID 1411: Volume Surface (SCOORD3D ELLIPSOID) with its source series."""
    surface = hsr.VolumeSurface(
        graphic_type="ELLIPSOID",
        graphic_data=_ellipsoid(),
        frame_of_reference_uid=frame_of_reference_uid(),
        source_series=source_series(),
    )
    measurements = [num(SCT.Volume, 3900.0, MM3)]
    return volumetric_group(case, n, measurements, referenced_volume_surface=surface)


def _segment_frame_group(case: str, n: int) -> Group:
    """TID 1410: Referenced Segmentation Frame (SEG frame 1, segment 1) + source image."""
    frame = hsr.ReferencedSegmentationFrame(
        sop_class_uid=SEG.sop_class_uid,
        sop_instance_uid=SEG.sop_instance_uid,
        frame_number=1,
        segment_number=1,
        source_image=source_image(),
    )
    return planar_group(case, n, [num(SCT.Area, 265.0, MM2)], segment_frame=frame)


def _volumetric_groups(case: str) -> list[Group]:
    """Six groups: every ImagingSelection kind of the IG appears at least once."""
    illustrated = planar_group(case, 1, [num(SCT.Area, 280.0, MM2)], site=lung_site())
    explained = planar_group(
        case,
        2,
        [num(SCT.Area, 275.5, MM2)],
        region=region_3d(),
        algorithm=algorithm_identification(),
    )
    in_space = plain_group(case, 6, [num(SCT.Volume, 4020.0, MM3)], template_id="1411")
    return [
        extend_group(illustrated, image_item(ILLUSTRATION_OF_ROI, ILLUSTRATION)),
        extend_group(explained, image_item(VISUAL_EXPLANATION, EXPLANATION)),
        _segment_group(case, 3),
        _surface_group(case, 4),
        _segment_frame_group(case, 5),
        extend_group(in_space, region_in_space()),
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
    return document(
        case, measurement_report(_volumetric_groups(case)), DocumentFlags(timezone=True)
    )


def _scoord3d_shapes() -> dict[str, np.ndarray]:
    """Graphic Data of every SCOORD3D Graphic Type, in the CT's patient coordinates (mm)."""
    square = pixel_to_patient(SQUARE)
    center = pixel_to_patient([(60.0, 60.0)])[0]
    ellipse = center + np.array([(-10.0, 0, 0), (10.0, 0, 0), (0, -6.5, 0), (0, 6.5, 0)])
    return {
        "POINT": center[np.newaxis, :],
        "MULTIPOINT": square[:3],
        "POLYLINE": square[:4],
        "POLYGON": square,  # closed: the last point is the first
        "ELLIPSE": ellipse,
        "ELLIPSOID": _ellipsoid(),
    }


def _stand_in_segment_frame(n: int) -> hsr.ReferencedSegmentationFrame:
    """A stand-in ROI for building a TID 1410 group that gets its region by hand."""
    return hsr.ReferencedSegmentationFrame(
        sop_class_uid=SEG.sop_class_uid,
        sop_instance_uid=SEG.sop_instance_uid,
        frame_number=n,
        segment_number=1,
        source_image=source_image(),
    )


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
        area = num(SCT.Area, 100.0 + n, MM2)
        if graphic_type in ("MULTIPOINT", "ELLIPSOID"):
            group = planar_group(case, n, [area], segment_frame=_stand_in_segment_frame(n))
            drop_children(head(group), {"121214", "121233"})
            item = hsr.Scoord3DContentItem(
                name=DCM.ImageRegion,
                graphic_type=graphic_type,
                graphic_data=data,
                frame_of_reference_uid=frame_of_reference_uid(),
                relationship_type="CONTAINS",
            )
            groups.append(extend_group(group, item))
        else:
            region = hsr.ImageRegion3D(graphic_type, data, frame_of_reference_uid())
            groups.append(planar_group(case, n, [area], region=region))
    return document(case, measurement_report(groups))
