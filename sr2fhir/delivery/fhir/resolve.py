"""Reference resolution (IG example page): find the Patient, ServiceRequest and ImagingStudy
the EHR already has, by identifier, and point the Bundle at them.

Found exactly once -> literal reference `Type/id` (the identifier is kept beside it). Not
found -> as fhir.unresolved_reference says: the logical reference stays (`logical`), the
delivery fails permanently ("patient not found", `fail`), or the job is held until the
resource appears (`hold`: ReferencesPendingError, the worker makes the job HELD).

Only what was found is cached, per worker process, for fhir.lookup_cache_ttl seconds, under
the key (resource type, identifier system, identifier value) -> `Type/id`: a burst of SRs
for one patient or study costs one search. A "not found" is never cached: the resource may
be created a moment later (a Patient registered after the SR arrived), and every SR must
then see it at once. Ambiguous answers (several matches) are not cached either.
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
from sr2fhir.errors import PermanentDeliveryError, ReferencesPendingError

log = logging.getLogger(__name__)

RESOLVED_TYPES = ("Patient", "ServiceRequest", "ImagingStudy")
CacheKey = tuple[str, str, str]  # (resource type, identifier system, identifier value)


@dataclass
class ReferenceResolver:
    """Looks identifiers up on the server; remembers what it found, for `ttl` seconds."""

    http: FhirHttp
    unresolved: UnresolvedReference = UnresolvedReference.LOGICAL
    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _found: dict[CacheKey, tuple[float, str]] = field(default_factory=dict)
    searches: int = 0

    def resolve_bundle(
        self, bundle: dict[str, Any], unresolved: UnresolvedReference | None = None
    ) -> None:
        """Rewrite every logical Patient/ServiceRequest/ImagingStudy reference found in
        place; what is not found is handled as `unresolved` says (None: as configured)."""
        missing: list[str] = []
        answers: dict[CacheKey, str | None] = {}  # one search per identifier and Bundle
        for reference in logical_references(bundle):
            key = cache_key(reference["type"], reference["identifier"])
            if key not in answers:
                answers[key] = self.lookup(reference["type"], reference["identifier"])
            literal = answers[key]
            if literal is not None:
                reference["reference"] = literal
            elif reference["type"] not in missing:
                missing.append(reference["type"])
        if not missing:
            return
        mode = UnresolvedReference(unresolved or self.unresolved)
        if mode is UnresolvedReference.FAIL:
            raise PermanentDeliveryError(f"{missing[0].lower()} not found on the server")
        if mode is UnresolvedReference.HOLD:
            raise ReferencesPendingError(tuple(missing))

    def lookup(self, resource_type: str, identifier: dict[str, Any]) -> str | None:
        """`Type/id` of the one resource with this identifier; None when there is none (or
        several)."""
        key = cache_key(resource_type, identifier)
        now = self.clock()
        cached = self._found.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        token = f"{key[1]}|{key[2]}" if key[1] else key[2]
        self.searches += 1
        found = self.http.search(resource_type, {"identifier": token, "_elements": "id"})
        ids = matching_ids(found, resource_type)
        if len(ids) > 1:
            log.warning(
                "%s identifier matches %d resources: kept as a logical reference",
                resource_type,
                len(ids),
            )
        if len(ids) != 1:
            self._found.pop(key, None)
            return None
        literal = f"{resource_type}/{ids[0]}"
        if self.ttl > 0:
            self._found[key] = (now + self.ttl, literal)
        return literal


def cache_key(resource_type: str, identifier: dict[str, Any]) -> CacheKey:
    return resource_type, str(identifier.get("system", "")), str(identifier.get("value", ""))


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
