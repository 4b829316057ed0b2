"""Observation builders, one per IG profile: measurement group, measurement, qualitative
evaluation and derived measurement; plus the IG's "Device Relationship" rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sr2fhir.mapping import codes as c
from sr2fhir.mapping import profiles
from sr2fhir.mapping.body_structures import Site, build_site, tracking_identifiers
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.coding import (
    DICOM_IDENTIFIER_TYPE,
    DICOM_UID,
    build_codeable_concept,
    fixed_concept,
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
from sr2fhir.mapping.selections import build_item_selections, build_source_sr_content_item
from sr2fhir.mapping.units import quantity_unit
from sr2fhir.mapping.value_types import NumericValue

MEASUREMENT_GROUP_CONCEPT = build_codeable_concept(c.MEASUREMENT_GROUP)
QUALITATIVE_EVALUATIONS_CONCEPT = build_codeable_concept(c.QUALITATIVE_EVALUATIONS)
DERIVED_IMAGING_MEASUREMENTS_CONCEPT = build_codeable_concept(c.DERIVED_IMAGING_MEASUREMENTS)
DERIVATION_CONCEPT = build_codeable_concept(c.DERIVATION)
OBSERVATION_UID_TYPE = fixed_concept(DICOM_IDENTIFIER_TYPE, "observation-uid", "Observation UID")
DATA_ABSENT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# CID 42 Numeric Value Qualifier -> data-absent-reason (no number is ever invented); looked
# up by Code Value alone, whatever the designator.
_ABSENT_REASON = {
    qualifier.value: reason
    for qualifier, reason in (
        (c.NOT_A_NUMBER, "not-a-number"),
        (c.NEGATIVE_INFINITY, "negative-infinity"),
        (c.POSITIVE_INFINITY, "positive-infinity"),
        (c.DIVIDE_BY_ZERO, "error"),
        (c.UNDERFLOW, "error"),
        (c.OVERFLOW, "error"),
        (c.MEASUREMENT_FAILURE, "error"),
        (c.MEASUREMENT_NOT_ATTEMPTED, "not-performed"),
        (c.CALCULATION_FAILURE, "error"),
        (c.VALUE_OUT_OF_RANGE, "error"),
        (c.VALUE_UNKNOWN, "unknown"),
        (c.VALUE_INDETERMINATE, "unknown"),
    )
}


def _absent_reason(numeric: NumericValue) -> str:
    """The qualifier's reason; without one, what the encoded value was (NaN, +/-infinity)."""
    if numeric.qualifier is not None:
        return _ABSENT_REASON.get(numeric.qualifier.value, "unknown")
    value = numeric.non_finite
    if value is None:
        return "unknown"
    if math.isnan(value):
        return "not-a-number"
    return "positive-infinity" if value > 0 else "negative-infinity"


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
    """What a group hands down to its members: site, method, image references, series."""

    site: Site = field(default_factory=Site)
    method: Code | None = None
    derived_from: tuple[Reference, ...] = ()
    source_series_uid: str | None = None


NO_GROUP = GroupContext()


@dataclass(frozen=True, slots=True)
class Tail:
    """The elements after value[x]: where, how, by what device, members, sources."""

    site: Site
    method: Code | None
    device: Reference
    derived_from: list[Reference]
    has_member: list[Reference] = field(default_factory=list)
    derivation: Code | None = None


def _observation(
    ctx: BuildContext,
    profile: str,
    observed: Observed,
    category: dict[str, Any] | None,
    code: dict[str, Any],
    extra_identifiers: list[dict[str, Any]] | None = None,
) -> Resource:
    """The elements up to value[x] every imaging Observation shares, in R5 order."""
    refs = ctx.references
    resource: Resource = {
        "resourceType": "Observation",
        "id": ctx.id_for("Observation", observed.path),
        "meta": {"profile": [profile]},
    }
    if ctx.performers:
        resource["contained"] = list(ctx.performers)
    identifiers = list(extra_identifiers or [])
    if observed.observation_uid is not None:
        uid = uid_value(observed.observation_uid)
        identifiers.insert(0, {"type": OBSERVATION_UID_TYPE, "system": DICOM_UID, "value": uid})
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


def _finish(ctx: BuildContext, resource: Resource, observed: Observed, tail: Tail) -> Entry:
    """Add the elements after value[x] in R5 order, then the resource to the Bundle."""
    if tail.site.body_site is not None:
        resource["bodySite"] = tail.site.body_site
    if tail.site.body_structure is not None:
        resource["bodyStructure"] = tail.site.body_structure
    if tail.method is not None:
        resource["method"] = build_codeable_concept(tail.method)
    resource["device"] = tail.device
    if tail.has_member:
        resource["hasMember"] = tail.has_member
    derived_from = list(tail.derived_from)
    if observed.observation_uid is not None:
        source = build_source_sr_content_item(ctx, observed.path, observed.observation_uid)
        derived_from.append(source.reference)
    if derived_from:
        resource["derivedFrom"] = derived_from
    if tail.derivation is not None:
        derivation = build_codeable_concept(tail.derivation)
        resource["component"] = [{"code": DERIVATION_CONCEPT, "valueCodeableConcept": derivation}]
    return ctx.add(resource)


def _member_tail(
    ctx: BuildContext,
    observed: Observed,
    group: GroupContext,
    devices: DeviceRelationship,
    derivation: Code | None = None,
) -> Tail:
    """A member's own site, method and image references win; else the group's."""
    if observed.finding_site is not None:
        site = build_site(ctx, observed.path, observed.finding_site, [])
    else:
        site = group.site
    own = build_item_selections(
        ctx, observed.image_references, group.source_series_uid, site.selection_body_site
    )
    return Tail(
        site=site,
        method=observed.method or group.method,
        device=devices.device_for(ctx, observed.algorithm),
        derived_from=own + list(group.derived_from),
        derivation=derivation,
    )


def build_imaging_measurement_group(
    ctx: BuildContext, group: MeasurementGroup, devices: DeviceRelationship
) -> Entry:
    """TID 1501/1410/1411 -> Observation (imaging-measurement-group) and its members."""
    observed = group.observed
    tracking = tracking_identifiers(group.tracking_identifier, group.tracking_uid)
    site = build_site(ctx, observed.path, observed.finding_site, tracking)
    selections = build_item_selections(
        ctx, observed.image_references, group.source_series_uid, site.selection_body_site
    )
    if group.finding_category is not None:
        category: dict[str, Any] | None = MEASUREMENT_GROUP_CONCEPT
        code = build_codeable_concept(group.finding_category)
    else:  # invariant measurement-group-category: code 125007 forbids the category
        category, code = None, MEASUREMENT_GROUP_CONCEPT
    on_observation = tracking if observed.finding_site is None else []
    resource = _observation(
        ctx, profiles.IMAGING_MEASUREMENT_GROUP, observed, category, code, on_observation
    )
    if group.finding is not None:
        resource["valueCodeableConcept"] = build_codeable_concept(group.finding)
    members = [m.observed for m in group.measurements] + [e.observed for e in group.evaluations]
    tail = Tail(
        site=site,
        method=observed.method,
        device=devices.device_for(ctx, observed.algorithm),
        derived_from=selections,
        has_member=[
            {"reference": f"urn:uuid:{ctx.id_for('Observation', m.path)}"} for m in members
        ],
    )
    entry = _finish(ctx, resource, observed, tail)
    inherited = GroupContext(site, observed.method, tuple(selections), group.source_series_uid)
    for measurement in group.measurements:
        build_imaging_measurement(ctx, measurement, inherited, devices)
    for evaluation in group.evaluations:
        build_imaging_qualitative_evaluation(ctx, evaluation, inherited, devices)
    return entry


def build_imaging_measurement(
    ctx: BuildContext,
    measurement: Measurement,
    group: GroupContext,
    devices: DeviceRelationship,
) -> Entry:
    """TID 300 NUM -> Observation (imaging-measurement)."""
    observed = measurement.observed
    resource = _observation(
        ctx,
        profiles.IMAGING_MEASUREMENT,
        observed,
        None,
        _concept(observed, MEASUREMENT_GROUP_CONCEPT),
    )
    _quantity(ctx, resource, measurement)
    tail = _member_tail(ctx, observed, group, devices, measurement.derivation)
    return _finish(ctx, resource, observed, tail)


def build_imaging_qualitative_evaluation(
    ctx: BuildContext,
    evaluation: QualitativeEvaluation,
    group: GroupContext,
    devices: DeviceRelationship,
) -> Entry:
    """CODE/TEXT evaluation -> Observation (imaging-qualitative-evaluation)."""
    observed = evaluation.observed
    resource = _observation(
        ctx,
        profiles.IMAGING_QUALITATIVE_EVALUATION,
        observed,
        QUALITATIVE_EVALUATIONS_CONCEPT,
        _concept(observed, QUALITATIVE_EVALUATIONS_CONCEPT),
    )
    if evaluation.code is not None:
        resource["valueCodeableConcept"] = build_codeable_concept(evaluation.code)
    else:
        resource["valueCodeableConcept"] = {"text": evaluation.text or ""}
    return _finish(ctx, resource, observed, _member_tail(ctx, observed, group, devices))


def build_derived_imaging_measurement(
    ctx: BuildContext, derived: DerivedMeasurement, devices: DeviceRelationship
) -> Entry:
    """TID 1420 NUM -> Observation (derived-imaging-measurement), derivedFrom its groups."""
    measurement = derived.measurement
    observed = measurement.observed
    resource = _observation(
        ctx,
        profiles.DERIVED_IMAGING_MEASUREMENT,
        observed,
        DERIVED_IMAGING_MEASUREMENTS_CONCEPT,
        _concept(observed, DERIVED_IMAGING_MEASUREMENTS_CONCEPT),
    )
    _quantity(ctx, resource, measurement)
    tail = Tail(
        site=build_site(ctx, observed.path, observed.finding_site, []),
        method=observed.method,
        device=devices.device_for(ctx, observed.algorithm, derived=True),
        derived_from=[
            {"reference": f"urn:uuid:{ctx.id_for('Observation', path)}"}
            for path in derived.group_paths
        ],
        derivation=measurement.derivation,
    )
    return _finish(ctx, resource, observed, tail)


def _concept(observed: Observed, fallback: dict[str, Any]) -> dict[str, Any]:
    return build_codeable_concept(observed.concept) if observed.concept else fallback


def _quantity(ctx: BuildContext, resource: Resource, measurement: Measurement) -> None:
    """valueQuantity (units.py: one rule for unit/system/code); no value ->
    data-absent-reason on the quantity, never a number."""
    numeric = measurement.numeric
    quantity: dict[str, Any] = {}
    if numeric.value is None:
        reason = _absent_reason(numeric)
        quantity["extension"] = [{"url": DATA_ABSENT_EXTENSION, "valueCode": reason}]
    else:
        quantity["value"] = int(numeric.value) if numeric.value.is_integer() else numeric.value
    if numeric.unit is not None:
        fields, warning = quantity_unit(numeric.unit, measurement.observed.path)
        quantity.update(fields)
        if warning is not None:
            ctx.warnings.append(warning)
    resource["valueQuantity"] = quantity
    if numeric.qualifier is not None:
        code = numeric.qualifier
        meaning = code.meaning or code.value
        resource["note"] = [
            {"text": f"Numeric Value Qualifier: {meaning} ({code.designator} {code.value})"}
        ]
