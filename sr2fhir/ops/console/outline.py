"""The content tree of a report as the Job page outlines it, read from its Bundle: the
measurement groups (TID 1501/1411) with their measurements and qualitative evaluations,
and whatever the Bundle holds besides, counted per resource type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sr2fhir.ops.console.markup import Html, h

Json = Mapping[str, Any]
GROUP = "imaging-measurement-group"


def profile(resource: Json) -> str:
    profiles = (resource.get("meta") or {}).get("profile") or [""]
    return str(profiles[0]).rsplit("/", 1)[-1]


def concept_text(concept: Json | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = concept.get("coding") or [{}]
    return str(codings[0].get("display") or codings[0].get("code") or "")


def value_text(resource: Json) -> str:
    """The Observation's value in words: `5.5 mm`, a coded answer, a string."""
    quantity = resource.get("valueQuantity")
    if quantity:
        return f"{quantity.get('value', '')} {quantity.get('code') or quantity.get('unit', '')}"
    if "valueCodeableConcept" in resource:
        return concept_text(resource["valueCodeableConcept"])
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in resource:
            return str(resource[key])
    return ""


def _index(entries: list[Json]) -> dict[str, Json]:
    """Each resource by its fullUrl (urn:uuid:...) and by Type/id: what references use."""
    found: dict[str, Json] = {}
    for entry in entries:
        resource = entry.get("resource") or {}
        found[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource
        if entry.get("fullUrl"):
            found[str(entry["fullUrl"])] = resource
    return found


def _item(resource: Json) -> Html:
    kind = profile(resource).replace("imaging-", "").replace("-", " ")
    value = value_text(resource)
    return h(
        "li",
        None,
        h("strong", None, concept_text(resource.get("code")) or kind),
        f": {value}" if value else "",
        h("span", {"class": "muted"}, f" ({kind})"),
    )


def outline(bundle: Json) -> Html:
    """Groups with their members, then members outside a group, then the other resources."""
    entries = bundle.get("entry") or []
    by_key = _index(entries)
    resources = [entry.get("resource") or {} for entry in entries]
    observations = [r for r in resources if r.get("resourceType") == "Observation"]
    groups = [r for r in observations if profile(r) == GROUP]
    grouped: set[str] = set()
    parts = []
    for index, group in enumerate(groups, 1):
        members = []
        for ref in group.get("hasMember") or []:
            member = by_key.get(str(ref.get("reference", "")))
            if member is not None:
                grouped.add(str(member.get("id")))
                members.append(_item(member))
        title = f"Group {index}: {concept_text(group.get('code')) or 'measurement group'}"
        parts.append(h("li", None, h("strong", None, title), h("ul", {"class": "tree"}, members)))
    loose = [
        _item(r) for r in observations if profile(r) != GROUP and str(r.get("id")) not in grouped
    ]
    if loose:
        parts.append(
            h("li", None, h("strong", None, "Outside a group"), h("ul", {"class": "tree"}, loose))
        )
    counted = Counter(str(r.get("resourceType")) for r in resources)
    summary = ", ".join(f"{count} {name}" for name, count in sorted(counted.items()))
    return h(
        "div",
        {"class": "outline"},
        h(
            "p",
            None,
            f"TID 1500 Measurement Report: {len(groups)} measurement group(s); {summary}.",
        ),
        h("ul", {"class": "tree"}, parts),
    )
