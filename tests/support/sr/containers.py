"""Reports with a TID 1500 container beside the measurement groups: Qualitative
Evaluations (UMLS C0034375) and Derived Imaging Measurements (DCM 126011, TID 1420),
each at the report root or inside Imaging Measurements."""

from __future__ import annotations

import highdicom.sr as hsr
from pydicom import Dataset

from tests.support.sr.codes import (
    COMMENT,
    DERIVED_IMAGING_MEASUREMENTS,
    LOBULATED,
    MARGINS,
    MEAN_OF_POPULATION,
    MM,
    QUALITATIVE_EVALUATIONS,
    SCT,
    SD_OF_POPULATION,
)
from tests.support.sr.documents import DocumentFlags, dataset, document
from tests.support.sr.templates import (
    algorithm_identification,
    container_item,
    head,
    measurement_report,
    num,
    plain_group,
    planar_groups,
    text_item,
    with_children,
)
from tests.support.sr.tree import imaging_measurements, iter_items


def _qualitative_container() -> Dataset:
    """UMLS C0034375 with a CODE (own TID 4019) and a TEXT child."""
    coded = hsr.CodeContentItem(name=MARGINS, value=LOBULATED, relationship_type="CONTAINS")
    with_children(coded, list(algorithm_identification("MarginClassifier", "0.9.3")))
    text = text_item(COMMENT, "No pleural effusion")
    return with_children(container_item(QUALITATIVE_EVALUATIONS), [coded, text])


def _place(root: Dataset, container: Dataset, placement: str) -> None:
    """Put a container at the report root (TID 1500) or inside Imaging Measurements."""
    if placement == "root":
        root.ContentSequence.append(container)
    elif placement == "inside":
        imaging_measurements(root).ContentSequence.append(container)
    else:
        raise ValueError(f"placement must be 'root' or 'inside', not {placement!r}")


def qualitative_container_report(placement: str = "root") -> Dataset:
    """A Qualitative Evaluations container after the planar groups.

    ``root``: path 1.7 (TID 1500 row); ``inside``: path 1.6.3 (IG mapping page).
    Children: .1 CODE Margins=Lobulated with TID 4019 children, .2 TEXT Comment.
    """
    case = f"qualitative-{placement}"
    root = measurement_report(planar_groups(case))
    _place(root, _qualitative_container(), placement)
    return document(case, root)


def _by_reference(target_path: str) -> Dataset:
    """INFERRED FROM by-reference to the item at ``target_path`` ("1.6.1")."""
    return dataset(
        RelationshipType="INFERRED FROM",
        ReferencedContentItemIdentifier=[int(p) for p in target_path.split(".")],
    )


def _path_of(root: Dataset, target: Dataset) -> str:
    return next(path for path, item in iter_items(root) if item is target)


def _derived_container(case: str, root: Dataset) -> Dataset:
    """DCM 126011: a mean NUM citing groups 1 and 2 by-reference, a nested TID 1501 group,
    and an SD NUM with its own TID 4019."""
    groups = [g for g in imaging_measurements(root).ContentSequence if g.ValueType == "CONTAINER"]
    mean = hsr.NumContentItem(MEAN_OF_POPULATION, 14.7, MM, relationship_type="CONTAINS")
    with_children(mean, [_by_reference(_path_of(root, g)) for g in groups[:2]])
    nested = head(plain_group(case, 9, [num(SCT.Length, 29.4, MM)]))
    sd = hsr.NumContentItem(SD_OF_POPULATION, 6.7, MM, relationship_type="CONTAINS")
    with_children(sd, list(algorithm_identification("LesionStats", "1.0.0")))
    return with_children(container_item(DERIVED_IMAGING_MEASUREMENTS), [mean, nested, sd])


def derived_report(placement: str = "root") -> Dataset:
    """Derived Imaging Measurements (TID 1420) next to the two planar groups.

    ``root``: container at 1.7; ``inside``: at 1.6.3. Children: .1 NUM Mean Value of
    population, INFERRED FROM 1.6.1 and 1.6.2 by-reference; .2 nested Measurement Group
    (TID 1501, tracking "Lesion 9"); .3 NUM Standard deviation with TID 4019.
    """
    case = f"derived-{placement}"
    root = measurement_report(planar_groups(case))
    _place(root, _derived_container(case, root), placement)
    return document(case, root, DocumentFlags(timezone=True))
