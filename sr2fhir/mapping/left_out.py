"""The items of a TID 1500 tree that the mapping did not read, as MappingWarnings.

Which items count: below every item the mapping read, each child it did not read (once, for
the child and everything below it); at the root, each CONTAINS item that is none of the
TID 1500 containers and not the Image Library. The root's context items (language, observer
and subject context, procedure reported: HAS CONCEPT MOD / HAS OBS CONTEXT) describe the
document, which the header maps: they are not measurement content and are not listed, except
when their Value Type is one PS3.3 does not define.
"""

from __future__ import annotations

from sr2fhir.mapping import codes as c
from sr2fhir.mapping.codes import describe_code
from sr2fhir.mapping.content import ContentItem
from sr2fhir.mapping.value_types import ContentReference, RelationshipType
from sr2fhir.mapping.warnings import MappingWarning, WarningCode


def left_out(root: ContentItem, read: set[str]) -> tuple[MappingWarning, ...]:
    """One warning per item left out, in tree order."""
    found: list[MappingWarning] = []
    for child in root.children:
        if child.path in read:
            _below(child, read, found)
        elif child.relationship is RelationshipType.CONTAINS and child.concept != c.IMAGE_LIBRARY:
            found.append(_warning(child, root))
        else:
            _undefined_value_types(child, found)
    return tuple(found)


def _below(item: ContentItem, read: set[str], found: list[MappingWarning]) -> None:
    for child in item.children:
        if child.path in read:
            _below(child, read, found)
        else:
            found.append(_warning(child, item))


def _undefined_value_types(item: ContentItem, found: list[MappingWarning]) -> None:
    if _is_undefined(item):
        found.append(_warning(item, None))
        return
    for child in item.children:
        _undefined_value_types(child, found)


def _is_undefined(item: ContentItem) -> bool:
    return item.value_type is None and not isinstance(item.value, ContentReference)


def _warning(item: ContentItem, parent: ContentItem | None) -> MappingWarning:
    where = "" if parent is None else f" in {_describe(parent)}"
    if _is_undefined(item):
        encoded = item.undefined_value_type or ""
        return MappingWarning(
            WarningCode.UNKNOWN_VALUE_TYPE,
            item.path,
            f"content item of Value Type {encoded!r}{where}: PS3.3 does not define it, not mapped",
        )
    return MappingWarning(
        WarningCode.ITEM_NOT_MAPPED,
        item.path,
        f"{_describe(item)}{where}: the IG maps no such item here, not mapped",
    )


def _describe(item: ContentItem) -> str:
    """'NUM (410668003, SCT, "Length")', 'by-reference item (INFERRED FROM 1.6.1.11)'."""
    if isinstance(item.value, ContentReference):
        relationship = item.relationship.value if item.relationship else "no relationship"
        return f"by-reference item ({relationship} {item.value.path})"
    if item.value_type is None:
        return f"content item {describe_code(item.concept)}"
    if item.concept is None:
        return f"unnamed {item.value_type.value}"
    return f"{item.value_type.value} {describe_code(item.concept)}"
