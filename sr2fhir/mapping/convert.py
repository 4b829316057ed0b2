"""Entry point of the mapping: a data set in, a transaction Bundle out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydicom.uid import UID

from sr2fhir.errors import Sr2FhirError, SrParseError
from sr2fhir.mapping.content import parse_content_tree
from sr2fhir.mapping.context import BuildContext, ReportReferences, Resource, check_entry_count
from sr2fhir.mapping.dataset import ElementSource
from sr2fhir.mapping.devices import (
    build_general_equipment_device,
    build_participant_device,
    build_participant_person,
    equipment_key,
)
from sr2fhir.mapping.document import DocumentHeader, Equipment, parse_document_header
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.imaging_study import build_imaging_study_entry, referencing_created_study
from sr2fhir.mapping.observations import (
    NO_GROUP,
    DeviceRelationship,
    build_derived_imaging_measurement,
    build_imaging_measurement_group,
    build_imaging_qualitative_evaluation,
)
from sr2fhir.mapping.options import MappingOptions
from sr2fhir.mapping.provenance import build_provenance
from sr2fhir.mapping.recognition import recognise_measurement_report
from sr2fhir.mapping.references import build_report_references
from sr2fhir.mapping.report import MeasurementReport
from sr2fhir.mapping.report_parser import parse_measurement_report
from sr2fhir.mapping.status import document_status
from sr2fhir.mapping.times import from_dicom
from sr2fhir.mapping.warnings import MappingWarning

DEFAULT_OPTIONS = MappingOptions()
_Parsed = TypeVar("_Parsed")
SR_SOP_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
# The SR SOP classes whose IODs allow the TID 1500 content (NUM, SCOORD, IMAGE ...).
TID_1500_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
        "1.2.840.10008.5.1.4.1.1.88.35",  # Extensible SR
    }
)


@dataclass(frozen=True, slots=True)
class MappingResult:
    """One report's Bundle and what it was converted without (empty when nothing)."""

    bundle: dict[str, Any]
    warnings: tuple[MappingWarning, ...]


def convert_dataset(
    ds: ElementSource,
    options: MappingOptions = DEFAULT_OPTIONS,
    references: ReportReferences | None = None,
) -> dict[str, Any]:
    """Map one TID 1500 report to one FHIR R5 transaction Bundle (map_report's Bundle)."""
    return map_report(ds, options, references).bundle


def map_report(
    ds: ElementSource,
    options: MappingOptions = DEFAULT_OPTIONS,
    references: ReportReferences | None = None,
) -> MappingResult:
    """Map one TID 1500 report to one FHIR R5 transaction Bundle and the list of what it left
    out (MappingWarning: an item the mapping does not cover, an undefined value type, a title
    outside CID 7021, a unit that is not valid UCUM).

    `references` replaces the logical Patient/ServiceRequest/ImagingStudy references (the
    fhir sink passes literal ones it found on the server).
    """
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if not sop_class.startswith(SR_SOP_CLASS_PREFIX):
        raise SrParseError(f"not an SR: SOP Class is {_sop_class_name(sop_class)}")
    root = _read("content tree", lambda d: parse_content_tree(d, options.max_content_items), ds)
    recognised = recognise_measurement_report(root)
    if sop_class not in TID_1500_SOP_CLASSES:
        raise SrParseError(f"{_sop_class_name(sop_class)} cannot carry a TID 1500 report")
    header = _read("header", parse_document_header, ds)
    report = parse_measurement_report(root)
    refs = references or build_report_references(header, options)
    if options.create_imaging_study:
        refs = referencing_created_study(refs, header.study_uid)
    ctx = BuildContext(
        header=header,
        options=options,
        references=refs,
        status=document_status(header),
        document_time=from_dicom(
            None,
            header.content_date,
            header.content_time,
            header.timezone_offset,
            options.default_utc_offset,
            "Content Date/Time",
        ),
        performers=_performers(header, report),
        observation_uids=observation_uids(report),
    )
    devices = _device_relationship(ctx, header)
    for group in report.groups:
        build_imaging_measurement_group(ctx, group, devices)
    for evaluation in report.evaluations:
        build_imaging_qualitative_evaluation(ctx, evaluation, NO_GROUP, devices)
    for derived in report.derived:
        build_derived_imaging_measurement(ctx, derived, devices)
    resources = [e.resource for e in ctx.entries.values()]
    if options.provenance:
        resources.append(build_provenance(header, resources, ctx.document_time.instant))
        check_entry_count(len(resources), options)
    warnings = recognised + report.skipped + tuple(ctx.warnings)
    bundle = build_transaction_bundle(header, resources)
    if options.create_imaging_study:
        bundle["entry"].insert(0, build_imaging_study_entry(header, refs, options))
    return MappingResult(bundle, warnings)


def _read(part: str, parse: Callable[[ElementSource], _Parsed], ds: ElementSource) -> _Parsed:
    """pydicom decodes elements lazily: a corrupt one fails while the mapping reads it."""
    try:
        return parse(ds)
    except Sr2FhirError:
        raise
    except RecursionError:  # pydicom decodes nested sequences recursively on first access
        raise SrParseError(f"corrupt DICOM {part}: sequences nested too deeply to read") from None
    except Exception as exc:
        raise SrParseError(f"corrupt DICOM {part}: {str(exc)[:160]}") from exc


def observation_uids(report: MeasurementReport) -> dict[str, str]:
    """Content item path -> Observation UID of every mapped item that has one; a UID found on
    two items (a producer's error) keys neither, so no two resources ever share an id."""
    observed = [e.observed for e in report.evaluations]
    observed += [d.measurement.observed for d in report.derived]
    for group in report.groups:
        observed.append(group.observed)
        observed += [m.observed for m in group.measurements]
        observed += [e.observed for e in group.evaluations]
    uids = Counter(o.observation_uid for o in observed if o.observation_uid)
    return {
        o.path: o.observation_uid
        for o in observed
        if o.observation_uid is not None and uids[o.observation_uid] == 1
    }


def _performers(header: DocumentHeader, report: MeasurementReport) -> tuple[Resource, ...]:
    names = list(dict.fromkeys(report.person_observers + header.participant_persons))
    return tuple(build_participant_person(name, n) for n, name in enumerate(names, start=1))


def _device_relationship(ctx: BuildContext, header: DocumentHeader) -> DeviceRelationship:
    key = equipment_key(header.equipment, header.sop_instance_uid)
    equipment = ctx.add(build_general_equipment_device(header.equipment, key)).reference
    fallback = equipment
    for device in header.participant_devices:
        if not _same_device(device, header.equipment):
            participant_key = equipment_key(device, header.sop_instance_uid)
            fallback = ctx.add(build_participant_device(device, participant_key)).reference
            break
    return DeviceRelationship(key, equipment, fallback)


def _same_device(a: Equipment, b: Equipment) -> bool:
    if a.device_uid and b.device_uid:
        return a.device_uid == b.device_uid
    return (a.manufacturer, a.model_name, a.serial_number) == (
        b.manufacturer,
        b.model_name,
        b.serial_number,
    )


def build_transaction_bundle(header: DocumentHeader, resources: list[Resource]) -> dict[str, Any]:
    """One transaction per SR; every entry is a PUT to its deterministic id (idempotent)."""
    return {
        "resourceType": "Bundle",
        "id": resource_id(header.sop_instance_uid, "Bundle"),
        "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{header.sop_instance_uid}"},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def bundle_sop_instance_uid(bundle: dict[str, Any]) -> str | None:
    """The SOP Instance UID a Bundle was made from (its identifier), or None."""
    identifier = bundle.get("identifier")
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if isinstance(value, str) and value.startswith("urn:oid:"):
        return value[len("urn:oid:") :]
    return None


def _sop_class_name(uid: str) -> str:
    if not uid:
        return "missing"
    name = UID(uid).name
    return f"{name} ({uid})" if name and name != uid else uid


def bundle_to_json(bundle: dict[str, Any], indent: int | None = None) -> bytes:
    """Serialise a Bundle the same way every time (key order is the builders' FHIR order).

    Compact by default (the C encoder; indenting is ~10x slower); indent=2 for people.
    A NaN or an infinity is not JSON: ValueError, never `Infinity` in the output.
    """
    if indent is None:
        return (_COMPACT.encode(bundle) + "\n").encode("utf-8")
    text = json.dumps(
        bundle, ensure_ascii=False, indent=indent, separators=(",", ": "), allow_nan=False
    )
    return (text + "\n").encode("utf-8")


# A Bundle is a tree: skipping the encoder's cycle check saves a quarter of its time.
_COMPACT = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
)
