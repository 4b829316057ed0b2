"""Reference resolution (IG example page): find the Patient, ServiceRequest and ImagingStudy
the EHR already has, by identifier, and point the Bundle at them.

Found exactly once -> literal reference `Type/id` (the identifier is kept beside it); not
found -> the logical reference stays, or, with `unresolved: fail`, delivery fails
permanently ("patient not found"). Results are cached per (type, system, value) for a TTL,
so a burst of SRs for one study costs one search each.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sr2fhir.config.schema import UnresolvedReference
from sr2fhir.delivery.fhir.client import FhirHttp
from sr2fhir.delivery.fhir.outcome import kept_answer
from sr2fhir.errors import PermanentDeliveryError

log = logging.getLogger(__name__)

RESOLVED_TYPES = ("Patient", "ServiceRequest", "ImagingStudy")


@dataclass
class ReferenceResolver:
    """Looks identifiers up on the server with a TTL cache (hits and misses alike)."""

    http: FhirHttp
    unresolved: UnresolvedReference = UnresolvedReference.REFERENCE
    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, str, str], tuple[float, str | None]] = field(default_factory=dict)
    searches: int = 0

    def resolve_bundle(self, bundle: dict[str, Any]) -> None:
        """Rewrite every logical Patient/ServiceRequest/ImagingStudy reference in place."""
        for reference in logical_references(bundle):
            resource_type = reference["type"]
            literal = self.lookup(resource_type, reference["identifier"])
            if literal is not None:
                reference["reference"] = literal
            elif self.unresolved == UnresolvedReference.FAIL:
                raise PermanentDeliveryError(f"{resource_type.lower()} not found on the server")

    def lookup(self, resource_type: str, identifier: dict[str, Any]) -> str | None:
        key = (resource_type, str(identifier.get("system", "")), str(identifier.get("value", "")))
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        token = f"{key[1]}|{key[2]}" if key[1] else key[2]
        self.searches += 1
        found = self.http.search(resource_type, {"identifier": token, "_elements": "id"})
        ids = matching_ids(found, resource_type)
        literal = f"{resource_type}/{ids[0]}" if len(ids) == 1 else None
        if len(ids) > 1:
            log.warning(
                "%s identifier matches %d resources: kept as a logical reference",
                resource_type,
                len(ids),
            )
        self._cache[key] = (now + self.ttl, literal)
        return literal


_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def matching_ids(answer: dict[str, Any], resource_type: str) -> list[str]:
    """The ids of the `resource_type` resources of a searchset Bundle; an answer of another
    shape is a PermanentDeliveryError keeping it (a server that answers so is misconfigured)."""

    def malformed(problem: str) -> PermanentDeliveryError:
        return PermanentDeliveryError(
            f"search {resource_type}: the answer {problem}", answer=kept_answer(answer)
        )

    if answer.get("resourceType") != "Bundle" or answer.get("type") != "searchset":
        raise malformed("is not a searchset Bundle")
    entries = answer.get("entry", [])
    if not isinstance(entries, list):
        raise malformed("has no list of entries")
    ids = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise malformed("has an entry without a resource")
        if resource.get("resourceType") != resource_type:
            continue  # e.g. an OperationOutcome with search.mode "outcome"
        found = resource.get("id")
        if not isinstance(found, str) or not _FHIR_ID.match(found):
            raise malformed(f"has a {resource_type} without a valid id")
        ids.append(found)
    return ids


def logical_references(node: Any) -> Iterator[dict[str, Any]]:
    """Every Reference that names an EHR-owned resource by identifier only."""
    if isinstance(node, dict):
        if node.get("type") in RESOLVED_TYPES and "identifier" in node and "reference" not in node:
            yield node
            return
        for value in node.values():
            yield from logical_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from logical_references(value)
