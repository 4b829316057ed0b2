"""Walking and reading a content tree: item paths as in the DESIGN ("1.6.1.2"),
Observation UIDs stamped by path, which SR SOP classes a tree may use, a printable tree."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom import Dataset

from tests.support.sr.codes import NOT_EVALUATIONS
from tests.support.sr.identity import make_uid


def imaging_measurements(root: Dataset) -> Dataset:
    """The Imaging Measurements (DCM 126010) container of a TID 1500 root."""
    return find(root, "126010")


def find(parent: Dataset, code_value: str) -> Dataset:
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


def stamp_observation_uids(root: Dataset, case: str) -> None:
    """Give every Observation-bearing item an Observation UID derived from its path."""
    for path, item in iter_items(root):
        if path != "1" and _is_observation(item):
            item.ObservationUID = make_uid(case, "observation", path)


def tree_needs(root: Dataset) -> tuple[bool, bool]:
    """(has SCOORD3D, has by-reference relationships) for SOP class checks."""
    has_3d = has_by_ref = False
    for _, item in iter_items(root):
        has_3d |= item.get("ValueType") == "SCOORD3D"
        has_by_ref |= "ReferencedContentItemIdentifier" in item
    return has_3d, has_by_ref


def allowed_sop_classes(ds: Dataset) -> list[str]:
    """SOP class kinds (keys of SOP_CLASSES) that may carry this content tree."""
    has_3d, has_by_ref = tree_needs(ds)
    kinds = ["comprehensive3d", "extensible"]
    if not has_3d:
        kinds.insert(0, "comprehensive")
        if not has_by_ref:
            kinds.insert(0, "enhanced")
    return kinds


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
