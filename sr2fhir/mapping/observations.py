"""Observation builders, one per IG profile: measurement group, measurement, qualitative
evaluation and derived measurement; plus the IG's "Device Relationship" rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sr2fhir.mapping import profiles
from sr2fhir.mapping.body_structures import Site, build_site, tracking_identifiers
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.coding import (
    DCM,
    DICOM_IDENTIFIER_TYPE,
    DICOM_UID,
    UMLS,
    build_codeable_concept,
    build_coding,
    fixed_concept,
    system_for,
    uid_value,
)
from sr2fhir.mapping.context import BuildContext, Entry, Reference, Resource
from sr2fhir.mapping.devices import build_algorithm_device
from sr2fhir.mapping.report import (
    AlgorithmIdentification,
    DerivedMeasurement,
    Measurement,
    MeasurementGroup,
    Observed,
    QualitativeEvaluation,
)
from sr2fhir.mapping.selections import build_group_selections, build_source_sr_content_item

MEASUREMENT_GROUP = fixed_concept(DCM, "125007", "Measurement Group")
QUALITATIVE_EVALUATIONS = fixed_concept(UMLS, "C0034375", "Qualitative Evaluations")
DERIVED_IMAGING_MEASUREMENTS = fixed_concept(DCM, "126011", "Derived Imaging Measurements")
DERIVATION = fixed_concept(DCM, "121401", "Derivation")
OBSERVATION_UID_TYPE = fixed_concept(DICOM_IDENTIFIER_TYPE, "observation-uid", "Observation UID")
DATA_ABSENT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# CID 42 Numeric Value Qualifier -> data-absent-reason (no number is ever invented).
_ABSENT_REASON = {
    "114000": "not-a-number",
    "114001": "negative-infinity",
    "114002": "positive-infinity",
    "114003": "error",
    "114004": "error",
    "114005": "error",
    "114006": "error",
    "114007": "not-performed",
    "114008": "error",
    "114009": "error",
    "114010": "unknown",
    "114011": "unknown",
}


@dataclass(frozen=True, slots=True)
class DeviceRelationship:
    """architecture.md "Device Relationship": own algorithm, else the equipment Device.

    `fallback` is the equipment Device, or a Participant Sequence device that differs from it
    (Document IE ConceptMap: it "may override the EquipmentDevice"); derived measurements,
    whose profile does not allow a participant device, always fall back to the equipment.
    """

    equipment_key: str
    equipment: Reference
    fallback: Reference

    def device_for(
        self, ctx: BuildContext, algorithm: AlgorithmIdentification | None, derived: bool = False
    ) -> Reference:
        if algorithm is None:
            return self.equipment if derived else self.fallback
        device = build_algorithm_device(algorithm, self.equipment_key, self.equipment)
        return ctx.add(device).reference


@dataclass(frozen=True, slots=True)
class GroupContext:
    """What a group hands down to its members: site, method and image references."""

    site: Site
    method: Code | None
    derived_from: tuple[Reference, ...]


def _identifiers(observed: Observed) -> list[dict[str, Any]]:
    if observed.observation_uid is None:
        return []
    return [
        {
            "type": OBSERVATION_UID_TYPE,
            "system": DICOM_UID,
            "value": uid_value(observed.observation_uid),
        }
    ]


def _observation(
    ctx: BuildContext,
    profile: str,
    observed: Observed,
    category: dict[str, Any] | None,
    code: dict[str, Any],
    extra_identifiers: list[dict[str, Any]] | None = None,
) -> Resource:
    """The elements every imaging Observation shares, in the order R5 defines them."""
    refs = ctx.references
    resource: Resource = {
        "resourceType": "Observation",
        "id": ctx.id_for("Observation", observed.path),
        "meta": {"profile": [profile]},
    }
    if ctx.performers:
        resource["contained"] = list(ctx.performers)
    identifiers = _identifiers(observed) + (extra_identifiers or [])
    if identifiers:
        resource["identifier"] = identifiers
    if refs.service_request is not None:
        resource["basedOn"] = [refs.service_request]
    resource["partOf"] = [refs.imaging_study]
    resource["status"] = ctx.status
    if category is not None:
        resource["category"] = [category]
    resource["code"] = code
    resource["subject"] = refs.subject
    when = ctx.time_of(observed.observation_datetime, f"item {observed.path}")
    resource["effectiveDateTime"] = when.date_time
    resource["issued"] = when.instant
    if ctx.performers:
        resource["performer"] = [
            {"reference": f"#{p['id']}", "type": "Practitioner"} for p in ctx.performers
        ]
    return resource


def _finish(
    ctx: BuildContext,
    resource: Resource,
    observed: Observed,
    site: Site,
    method: Code | None,
    device: Reference,
    derived_from: list[Reference],
) -> None:
    """Site, method, device and derivedFrom (incl. the source SR content item) - R5 order."""
    if site.body_site is not None:
        resource["bodySite"] = site.body_site
    if site.body_structure is not None:
        resource["bodyStructure"] = site.body_structure
    if method is not None:
        resource["method"] = build_codeable_concept(method)
    resource["device"] = device


def _derived_from(
    ctx: BuildContext, observed: Observed, references: list[Reference]
) -> list[Reference]:
    found = list(references)
    if observed.observation_uid is not None:
        found.append(
            build_source_sr_content_item(ctx, observed.path, observed.observation_uid).reference
        )
    return found


def build_imaging_measurement_group(
    ctx: BuildContext, group: MeasurementGroup, devices: DeviceRelationship
) -> Entry:
    """TID 1501/1410/1411 -> Observation (imaging-measurement-group) and its members."""
    observed = group.observed
    tracking = tracking_identifiers(group.tracking_identifier, group.tracking_uid)
    site = build_site(ctx, observed.path, observed.finding_site, tracking)
    selections = build_group_selections(
        ctx, group, observed.image_references, site.selection_body_site
    )
    if group.finding_category is not None:
        category: dict[str, Any] | None = MEASUREMENT_GROUP
        code = build_codeable_concept(group.finding_category)
    else:  # invariant measurement-group-category: code 125007 forbids the category
        category, code = None, MEASUREMENT_GROUP
    on_observation = tracking if observed.finding_site is None else []
    resource = _observation(
        ctx, profiles.IMAGING_MEASUREMENT_GROUP, observed, category, code, on_observation
    )
    if group.finding is not None:
        resource["valueCodeableConcept"] = build_codeable_concept(group.finding)
    _finish(
        ctx,
        resource,
        observed,
        site,
        observed.method,
        devices.device_for(ctx, observed.algorithm),
        [],
    )
    members = [ctx.id_for("Observation", m.observed.path) for m in group.measurements]
    members += [ctx.id_for("Observation", e.observed.path) for e in group.evaluations]
    if members:
        resource["hasMember"] = [{"reference": f"urn:uuid:{m}"} for m in members]
    derived_from = _derived_from(ctx, observed, selections)
    if derived_from:
        resource["derivedFrom"] = derived_from
    entry = ctx.add(resource)
    inherited = GroupContext(site, observed.method, tuple(selections))
    for measurement in group.measurements:
        build_imaging_measurement(ctx, measurement, inherited, devices, group)
    for evaluation in group.evaluations:
        build_imaging_qualitative_evaluation(ctx, evaluation, inherited, devices, group)
    return entry


def _member_site_and_refs(
    ctx: BuildContext,
    observed: Observed,
    inherited: GroupContext | None,
    group: MeasurementGroup | None,
) -> tuple[Site, list[Reference]]:
    """A member's own finding site and image references win; else the group's."""
    if observed.finding_site is not None:
        site = build_site(ctx, observed.path, observed.finding_site, [])
    else:
        site = inherited.site if inherited is not None else Site()
    own: list[Reference] = []
    if observed.image_references and group is not None:
        own = build_group_selections(
            ctx, group, observed.image_references, site.selection_body_site
        )
    elif observed.image_references:
        raise_without_group(observed)
    references = own + (list(inherited.derived_from) if inherited is not None else [])
    return site, references


def raise_without_group(observed: Observed) -> None:
    """Image references outside any group never occur in TID 1500; refuse to guess."""
    from sr2fhir.errors import SrParseError

    raise SrParseError("image reference outside a measurement group", observed.path)


def build_imaging_measurement(
    ctx: BuildContext,
    measurement: Measurement,
    inherited: GroupContext | None,
    devices: DeviceRelationship,
    group: MeasurementGroup | None,
) -> Entry:
    """TID 300 NUM -> Observation (imaging-measurement)."""
    observed = measurement.observed
    code = build_codeable_concept(observed.concept) if observed.concept else MEASUREMENT_GROUP
    resource = _observation(ctx, profiles.IMAGING_MEASUREMENT, observed, None, code)
    _quantity(resource, measurement)
    site, references = _member_site_and_refs(ctx, observed, inherited, group)
    method = observed.method or (inherited.method if inherited else None)
    _finish(ctx, resource, observed, site, method, devices.device_for(ctx, observed.algorithm), [])
    derived_from = _derived_from(ctx, observed, references)
    if derived_from:
        resource["derivedFrom"] = derived_from
    if measurement.derivation is not None:
        resource["component"] = [
            {
                "code": DERIVATION,
                "valueCodeableConcept": build_codeable_concept(measurement.derivation),
            }
        ]
    return ctx.add(resource)


def _quantity(resource: Resource, measurement: Measurement) -> None:
    """valueQuantity (UCUM); no value -> data-absent-reason on the quantity, never a number."""
    numeric = measurement.numeric
    quantity: dict[str, Any] = {}
    if numeric.value is None:
        reason = (
            _ABSENT_REASON.get(numeric.qualifier.value, "unknown")
            if numeric.qualifier
            else "unknown"
        )
        quantity["extension"] = [{"url": DATA_ABSENT_EXTENSION, "valueCode": reason}]
    else:
        quantity["value"] = int(numeric.value) if numeric.value.is_integer() else numeric.value
    if numeric.unit is not None:
        if numeric.unit.meaning:
            quantity["unit"] = numeric.unit.meaning
        quantity["system"] = system_for(numeric.unit.designator)
        quantity["code"] = numeric.unit.value
    resource["valueQuantity"] = quantity
    if numeric.qualifier is not None:
        resource["note"] = [{"text": f"Numeric Value Qualifier: {_describe(numeric.qualifier)}"}]


def _describe(code: Code) -> str:
    coding = build_coding(code)
    return (
        f"{code.meaning or code.value} ({code.designator} {code.value})" if coding else code.value
    )


def build_imaging_qualitative_evaluation(
    ctx: BuildContext,
    evaluation: QualitativeEvaluation,
    inherited: GroupContext | None,
    devices: DeviceRelationship,
    group: MeasurementGroup | None,
) -> Entry:
    """CODE/TEXT evaluation -> Observation (imaging-qualitative-evaluation)."""
    observed = evaluation.observed
    code = build_codeable_concept(observed.concept) if observed.concept else QUALITATIVE_EVALUATIONS
    resource = _observation(
        ctx, profiles.IMAGING_QUALITATIVE_EVALUATION, observed, QUALITATIVE_EVALUATIONS, code
    )
    if evaluation.code is not None:
        resource["valueCodeableConcept"] = build_codeable_concept(evaluation.code)
    else:
        resource["valueCodeableConcept"] = {"text": evaluation.text or ""}
    site, references = _member_site_and_refs(ctx, observed, inherited, group)
    method = observed.method or (inherited.method if inherited else None)
    _finish(ctx, resource, observed, site, method, devices.device_for(ctx, observed.algorithm), [])
    derived_from = _derived_from(ctx, observed, references)
    if derived_from:
        resource["derivedFrom"] = derived_from
    return ctx.add(resource)


def build_derived_imaging_measurement(
    ctx: BuildContext, derived: DerivedMeasurement, devices: DeviceRelationship
) -> Entry:
    """TID 1420 NUM -> Observation (derived-imaging-measurement), derivedFrom its groups."""
    measurement = derived.measurement
    observed = measurement.observed
    code = (
        build_codeable_concept(observed.concept)
        if observed.concept
        else DERIVED_IMAGING_MEASUREMENTS
    )
    resource = _observation(
        ctx, profiles.DERIVED_IMAGING_MEASUREMENT, observed, DERIVED_IMAGING_MEASUREMENTS, code
    )
    _quantity(resource, measurement)
    site = build_site(ctx, observed.path, observed.finding_site, [])
    device = devices.device_for(ctx, observed.algorithm, derived=True)
    _finish(ctx, resource, observed, site, observed.method, device, [])
    groups = [
        {"reference": f"urn:uuid:{ctx.id_for('Observation', p)}"} for p in derived.group_paths
    ]
    derived_from = _derived_from(ctx, observed, groups)
    if derived_from:
        resource["derivedFrom"] = derived_from
    if measurement.derivation is not None:
        resource["component"] = [
            {
                "code": DERIVATION,
                "valueCodeableConcept": build_codeable_concept(measurement.derivation),
            }
        ]
    return ctx.add(resource)
