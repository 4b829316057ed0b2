"""Finding Site -> BodyStructure (profile dicom-sr-finding-site) or Observation.bodySite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sr2fhir.mapping import codes as c
from sr2fhir.mapping import profiles
from sr2fhir.mapping.coding import DICOM_UID, build_codeable_concept, uid_value
from sr2fhir.mapping.context import BuildContext, Reference, Resource
from sr2fhir.mapping.report import FindingSite

TRACKING_IDENTIFIER_TYPE = build_codeable_concept(c.TRACKING_IDENTIFIER)
TRACKING_UID_TYPE = build_codeable_concept(c.TRACKING_UID)


@dataclass(frozen=True, slots=True)
class Site:
    """Where an observation was made: a BodyStructure reference, or a plain code (bodySite)."""

    body_structure: Reference | None = None
    body_site: dict[str, Any] | None = None

    @property
    def selection_body_site(self) -> dict[str, Any] | None:
        """ImagingSelection.bodySite is a CodeableReference."""
        if self.body_structure is not None:
            return {"reference": self.body_structure}
        if self.body_site is not None:
            return {"concept": self.body_site}
        return None


def tracking_identifiers(identifier: str | None, uid: str | None) -> list[dict[str, Any]]:
    """Tracking Identifier / Tracking UID as Identifiers typed DCM 112039 / 112040."""
    found: list[dict[str, Any]] = []
    if identifier:
        found.append({"type": TRACKING_IDENTIFIER_TYPE, "value": identifier})
    if uid:
        found.append({"type": TRACKING_UID_TYPE, "system": DICOM_UID, "value": uid_value(uid)})
    return found


def build_site(
    ctx: BuildContext,
    owner_path: str,
    finding_site: FindingSite | None,
    tracking: list[dict[str, Any]],
) -> Site:
    """ConceptMap-03/04: modifiers (or tracking ids to keep) -> BodyStructure; else bodySite.

    With no finding site there is nothing to build a BodyStructure on (it needs a structure);
    the caller puts the tracking identifiers on the Observation instead.
    """
    if finding_site is None:
        return Site()
    if not finding_site.has_modifiers and not tracking:
        return Site(body_site=build_codeable_concept(finding_site.site))
    structure: dict[str, Any] = {"structure": build_codeable_concept(finding_site.site)}
    if finding_site.laterality is not None:
        structure["laterality"] = build_codeable_concept(finding_site.laterality)
    if finding_site.modifier is not None:
        structure["qualifier"] = [build_codeable_concept(finding_site.modifier)]
    resource: Resource = {
        "resourceType": "BodyStructure",
        "id": ctx.id_for("BodyStructure", owner_path),
        "meta": {"profile": [profiles.FINDING_SITE]},
    }
    if tracking:
        resource["identifier"] = tracking
    resource["includedStructure"] = [structure]
    resource["patient"] = ctx.references.subject
    return Site(body_structure=ctx.add(resource).reference)
