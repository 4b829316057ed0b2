"""Small read helpers over a built Bundle, for assertions."""

from __future__ import annotations

from typing import Any

from sr2fhir.mapping.ids import resource_id
from tests.support.sr.tree import iter_items

IG = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"


def resources(bundle: dict[str, Any], profile: str | None = None) -> list[dict[str, Any]]:
    found = [e["resource"] for e in bundle["entry"]]
    if profile is None:
        return found
    return [r for r in found if IG + profile in r.get("meta", {}).get("profile", [])]


def by_ref(bundle: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Resolve a urn:uuid reference inside the Bundle (fails the test when it dangles)."""
    for entry in bundle["entry"]:
        if entry["fullUrl"] == reference["reference"]:
            resource: dict[str, Any] = entry["resource"]
            return resource
    raise AssertionError(f"reference {reference['reference']} does not resolve in the Bundle")


def codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]


def one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, f"expected exactly one, found {len(items)}"
    return items[0]


def item_resource_id(ds: Any, kind: str, path: str, owner: str | None = None) -> str:
    """The id the mapping gives the `kind` resource of content item `path` (docs/mapping.md):
    keyed by the Observation UID of the item `owner` (default: `path`) when it has one."""
    anchor = path if owner is None else owner
    uid = dict(iter_items(ds))[anchor].get("ObservationUID")
    if uid:
        return resource_id("observation-uid", str(uid), kind, path[len(anchor) :])
    return resource_id(str(ds.SOPInstanceUID), kind, path)
