"""Bundles of a report's later life (docs/mapping.md, "Revisions and rejection notes"): a
revision's Bundle (its resources, carried-forward Observations `amended`, the predecessors'
resources it does not carry forward retired, a Provenance with role `revision`) and a
rejection note's Bundle (the rejected reports' resources retired, or deleted). Pure.

Retiring: Observation and ImagingSelection -> status `entered-in-error`, BodyStructure ->
active false. Only these per-report resources are tracked; Devices are shared by reports
and Provenance is history.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sr2fhir.mapping.coding import DICOM_UID, uid_value
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.provenance import assembler_agent
from sr2fhir.mapping.status import RELEASED, revised_status
from sr2fhir.spool import LifecycleView, TrackedResource

TRACKED = frozenset({"Observation", "ImagingSelection", "BodyStructure"})
ENTERED_IN_ERROR = "entered-in-error"

Bundle = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Revised:
    """A Bundle to deliver and what it changes in the lifecycle record once delivered."""

    bundle: Bundle
    retired: tuple[TrackedResource, ...]


def tracked_keys(bundle: Bundle) -> tuple[str, ...]:
    """ "Type/id" of the tracked resources of a mapped Bundle."""
    return tuple(
        f"{r['resourceType']}/{r['id']}" for r in _resources(bundle) if r["resourceType"] in TRACKED
    )


def tracked_resources(bundle: Bundle) -> tuple[TrackedResource, ...]:
    """The tracked resources of a delivered Bundle, urn:uuid references made literal so a
    later Bundle can PUT them again on their own."""
    puts = [e for e in bundle.get("entry", []) if e.get("request", {}).get("method") == "PUT"]
    literal = {e["fullUrl"]: e["request"]["url"] for e in puts}
    found = []
    for resource in _resources(bundle):
        if resource["resourceType"] in TRACKED:
            kept = _literal(copy.deepcopy(resource), literal)
            released = kept.get("status") in RELEASED
            found.append(TrackedResource(kept["resourceType"], kept["id"], kept, True, released))
    return tuple(found)


def revise(bundle: Bundle, view: LifecycleView) -> Revised:
    """The mapped Bundle of an SR as the latest of its chain (`view`: begin_report)."""
    out = copy.deepcopy(bundle)
    for resource in _resources(out):
        if resource["resourceType"] != "Observation":  # (a conditional create has no id)
            continue
        earlier = view.earlier.get(f"Observation/{resource['id']}")
        if earlier is not None:
            resource["status"] = revised_status(
                resource["status"], earlier.resource.get("status"), earlier.released
            )
    retired = tuple(retire(r) for r in view.retire)
    if retired:
        out.setdefault("entry", []).extend(_put(r.resource) for r in retired)
    if view.replaced:
        _add_revision_provenance(out, view, retired)
    return Revised(out, retired)


def rejection_bundle(kos_uid: str, view: LifecycleView, delete: bool) -> Revised:
    """One transaction retiring (or deleting) what the rejected reports still have current."""
    retired = tuple(retire(r) for r in view.retire)
    entries = [_delete(r) if delete else _put(r.resource) for r in retired]
    bundle = {
        "resourceType": "Bundle",
        "id": resource_id(kos_uid, "Bundle"),
        "identifier": {"system": DICOM_UID, "value": uid_value(kos_uid)},
        "type": "transaction",
        "entry": entries,
    }
    return Revised(bundle, retired)


def retire(resource: TrackedResource) -> TrackedResource:
    """The resource as it is PUT when it stops being current."""
    body = copy.deepcopy(resource.resource)
    if resource.resource_type == "BodyStructure":
        body["active"] = False
        body = _before(body, "active", "morphology", "includedStructure")
    else:
        body["status"] = ENTERED_IN_ERROR
    return TrackedResource(
        resource.resource_type, resource.resource_id, body, False, resource.released
    )


def _before(body: dict[str, Any], key: str, *following: str) -> dict[str, Any]:
    """`key` moved in front of the first of `following` (FHIR JSON keeps element order)."""
    value = body.pop(key)
    out: dict[str, Any] = {}
    for name, item in body.items():
        if name in following and key not in out:
            out[key] = value
        out[name] = item
    out.setdefault(key, value)
    return out


def _add_revision_provenance(
    bundle: Bundle, view: LifecycleView, retired: tuple[TrackedResource, ...]
) -> None:
    """Entities with role `revision`: each replaced SR instance, each resource retired or
    carried forward. Added to the Bundle's Provenance, or a Provenance of its own."""
    sop_uid = str(bundle["identifier"]["value"]).removeprefix("urn:oid:")
    entities = [
        {
            "role": "revision",
            "what": {
                "type": "DocumentReference",
                "identifier": {"system": DICOM_UID, "value": uid_value(uid)},
                "display": "DICOM SR instance (predecessor)",
            },
        }
        for uid in view.replaced
    ]
    replaced = sorted({r.key for r in retired} | set(view.earlier))
    entities += [{"role": "revision", "what": {"reference": key}} for key in replaced]
    provenance_id = resource_id(sop_uid, "Provenance")
    for resource in _resources(bundle):
        if resource["resourceType"] == "Provenance" and resource["id"] == provenance_id:
            resource["entity"] = resource.get("entity", []) + entities
            return
    targets = [
        {"reference": f"urn:uuid:{r['id']}"}
        for r in _resources(bundle)
        if r["resourceType"] in TRACKED and r.get("status") != ENTERED_IN_ERROR
    ]
    provenance = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": targets,
        "recorded": _recorded(bundle),
        "agent": [assembler_agent()],
        "entity": entities,
    }
    bundle.setdefault("entry", []).append(_put(provenance))


def _recorded(bundle: Bundle) -> str:
    """The report's own time (no clock): the first Observation's `issued`."""
    for resource in _resources(bundle):
        if "issued" in resource:
            return str(resource["issued"])
    return "1970-01-01T00:00:00Z"


def _resources(bundle: Bundle) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{resource['id']}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def _delete(resource: TrackedResource) -> dict[str, Any]:
    return {"request": {"method": "DELETE", "url": resource.key}}


def _literal(node: Any, literal: dict[str, str]) -> Any:
    """Every {"reference": "urn:uuid:..."} of the Bundle -> "Type/id"."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in literal:
                node[key] = literal[value]
            else:
                _literal(value, literal)
    elif isinstance(node, list):
        for item in node:
            _literal(item, literal)
    return node
