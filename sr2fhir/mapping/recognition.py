"""Is an SR a TID 1500 Measurement Report? By template id, by title, or by its structure.

TID 1500's title comes from CID 7021 (Measurement Report Document Titles), taken from the
standard as pydicom ships it. The Content Template Sequence is optional in DICOM, so a root
without it is recognised by a CID 7021 title, or else by the TID 1500 containers at its root.
"""

from __future__ import annotations

import functools

from pydicom.sr.codedict import codes

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import codes as c
from sr2fhir.mapping.codes import Code, describe_code
from sr2fhir.mapping.content import ContentItem
from sr2fhir.mapping.value_types import ValueType
from sr2fhir.mapping.warnings import MappingWarning, WarningCode

TID_1500_CONTAINERS = frozenset(
    {c.IMAGING_MEASUREMENTS, c.DERIVED_IMAGING_MEASUREMENTS, c.QUALITATIVE_EVALUATIONS}
)


@functools.cache
def measurement_report_titles() -> frozenset[Code]:
    """CID 7021 Measurement Report Document Titles, from pydicom's copy of PS3.16."""
    collection = codes.CID7021
    members = (getattr(collection, name) for name in collection.dir())
    return frozenset(Code(m.value, m.scheme_designator, m.meaning) for m in members)


def recognise_measurement_report(root: ContentItem) -> tuple[MappingWarning, ...]:
    """Accept a TID 1500 root (its warnings: a title outside CID 7021), or raise SrParseError
    naming what was missing."""
    template = root.template_id
    if template is not None and template != c.TID_1500:
        raise SrParseError(
            f"an SR but not a TID 1500 Measurement Report: template {template[:16]!r}, "
            f"document title {describe_code(root.concept)}"
        )
    titled = root.concept in measurement_report_titles()
    if titled:
        return ()
    if template == c.TID_1500:
        because = "it declares template TID 1500"
    elif _has_tid1500_container(root):
        because = "of the TID 1500 container(s) at its root"
    else:
        raise SrParseError(
            "an SR but not a TID 1500 Measurement Report: no template id TID 1500, document "
            f"title {describe_code(root.concept)} not in CID 7021, and no Imaging Measurements, "
            "Derived Imaging Measurements or Qualitative Evaluations container at the root"
        )
    return (
        MappingWarning(
            WarningCode.TITLE_OUTSIDE_CID_7021,
            root.path,
            f"document title {describe_code(root.concept)} is not a CID 7021 Measurement "
            f"Report Document Title; converted as TID 1500 because {because}",
        ),
    )


def _has_tid1500_container(root: ContentItem) -> bool:
    return any(
        child.value_type is ValueType.CONTAINER and child.concept in TID_1500_CONTAINERS
        for child in root.children
    )
