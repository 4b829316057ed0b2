"""SR content item vocabulary (PS3.3 C.17.3, C.18): the closed sets as Enums, and one small
frozen value class per value type the mapping reads (a ContentItem holds one of them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, TypeAlias, TypeVar

from sr2fhir.mapping.codes import Code

_Defined = TypeVar("_Defined", bound=Enum)


class ValueType(Enum):
    """Value Type (0040,A040), PS3.3 C.17.3.2.1."""

    TEXT = "TEXT"
    NUM = "NUM"
    CODE = "CODE"
    DATETIME = "DATETIME"
    DATE = "DATE"
    TIME = "TIME"
    UIDREF = "UIDREF"
    PNAME = "PNAME"
    COMPOSITE = "COMPOSITE"
    IMAGE = "IMAGE"
    WAVEFORM = "WAVEFORM"
    SCOORD = "SCOORD"
    SCOORD3D = "SCOORD3D"
    TCOORD = "TCOORD"
    CONTAINER = "CONTAINER"
    TABLE = "TABLE"


class RelationshipType(Enum):
    """Relationship Type (0040,A010), PS3.3 C.17.3.2.4."""

    CONTAINS = "CONTAINS"
    HAS_PROPERTIES = "HAS PROPERTIES"
    HAS_OBS_CONTEXT = "HAS OBS CONTEXT"
    HAS_ACQ_CONTEXT = "HAS ACQ CONTEXT"
    INFERRED_FROM = "INFERRED FROM"
    SELECTED_FROM = "SELECTED FROM"
    HAS_CONCEPT_MOD = "HAS CONCEPT MOD"


class GraphicType(Enum):
    """Graphic Type (0070,0023) of SCOORD (PS3.3 C.18.6.1.2) and SCOORD3D (C.18.9.1.2)."""

    POINT = "POINT"
    MULTIPOINT = "MULTIPOINT"
    POLYLINE = "POLYLINE"
    POLYGON = "POLYGON"
    CIRCLE = "CIRCLE"
    ELLIPSE = "ELLIPSE"
    ELLIPSOID = "ELLIPSOID"


def defined_term(kind: type[_Defined], text: str) -> _Defined | None:
    """The member of a DICOM enumeration for an encoded string; None when absent or undefined.

    The standard adds terms over time (TABLE is recent): an item the mapping does not read must
    not reject a report, so callers decide what an undefined term means where they read it.
    """
    try:
        return kind(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TextValue:
    """TEXT: Text Value (0040,A160)."""

    text: str


@dataclass(frozen=True, slots=True)
class CodeValue:
    """CODE: the Concept Code Sequence (0040,A168) item."""

    code: Code


@dataclass(frozen=True, slots=True)
class NumericValue:
    """NUM: a number with units, or a qualifier (CID 42) saying why there is none.

    `non_finite` keeps a NaN or +/-infinity the item encoded: never a FHIR decimal (nor
    valid JSON), so `value` is None then and the Observation says why (data-absent-reason).
    """

    value: float | None
    unit: Code | None
    qualifier: Code | None
    non_finite: float | None = None


@dataclass(frozen=True, slots=True)
class UidRefValue:
    """UIDREF: UID (0040,A124)."""

    uid: str


@dataclass(frozen=True, slots=True)
class PersonNameValue:
    """PNAME: Person Name (0040,A123), as encoded ("Family^Given^...")."""

    name: str


@dataclass(frozen=True, slots=True)
class ContainerValue:
    """CONTAINER: the Template Identifier of its Content Template Sequence, if any."""

    template_id: str | None


@dataclass(frozen=True, slots=True)
class SopReference:
    """One item of a Referenced SOP Sequence (IMAGE / COMPOSITE / WAVEFORM value types)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame_numbers: tuple[int, ...] = ()
    segment_numbers: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CompositeReference:
    """COMPOSITE, IMAGE and WAVEFORM (PS3.3 C.18.3-C.18.5): the Referenced SOP Sequence.

    The Image and Waveform Reference Macros extend the Composite Object Reference Macro; the
    frames and segments an IMAGE reference may add are kept per SopReference.
    """

    references: tuple[SopReference, ...]


@dataclass(frozen=True, slots=True)
class SpatialCoordinates:
    """SCOORD (PS3.3 C.18.6): Graphic Type and Graphic Data (column/row pairs, in pixels)."""

    GRAPHIC_TYPES: ClassVar[frozenset[GraphicType]] = frozenset(
        {
            GraphicType.POINT,
            GraphicType.MULTIPOINT,
            GraphicType.POLYLINE,
            GraphicType.CIRCLE,
            GraphicType.ELLIPSE,
        }
    )

    graphic_type: GraphicType
    data: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SpatialCoordinates3D:
    """SCOORD3D (PS3.3 C.18.9): Graphic Type, (x, y, z) data and their Frame of Reference."""

    GRAPHIC_TYPES: ClassVar[frozenset[GraphicType]] = frozenset(
        {
            GraphicType.POINT,
            GraphicType.MULTIPOINT,
            GraphicType.POLYLINE,
            GraphicType.POLYGON,
            GraphicType.ELLIPSE,
            GraphicType.ELLIPSOID,
        }
    )

    graphic_type: GraphicType
    data: tuple[float, ...]
    frame_of_reference_uid: str


@dataclass(frozen=True, slots=True)
class ContentReference:
    """A by-reference item: the Referenced Content Item Identifier as a dotted path ("1.4.2")."""

    path: str


ContentValue: TypeAlias = (
    TextValue
    | CodeValue
    | NumericValue
    | UidRefValue
    | PersonNameValue
    | ContainerValue
    | CompositeReference
    | SpatialCoordinates
    | SpatialCoordinates3D
    | ContentReference
)
