"""What every builder of one report shares: references, time, status, and the entry list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sr2fhir.errors import MappingError
from sr2fhir.mapping.document import DocumentHeader
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.options import MappingOptions
from sr2fhir.mapping.times import FhirTime, from_dicom
from sr2fhir.mapping.warnings import MappingWarning

Resource = dict[str, Any]
OBSERVATION_UID_KEY = "observation-uid"  # first part of ids keyed by an Observation UID
Reference = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReportReferences:
    """References to the resources the EHR owns: Patient, ServiceRequest, ImagingStudy."""

    subject: Reference
    service_request: Reference | None
    imaging_study: Reference


@dataclass(frozen=True, slots=True)
class Entry:
    """One Bundle entry: the resource, and its fullUrl (urn:uuid of its deterministic id)."""

    resource: Resource

    @property
    def full_url(self) -> str:
        return f"urn:uuid:{self.resource['id']}"

    @property
    def reference(self) -> Reference:
        return {"reference": self.full_url}


@dataclass
class BuildContext:
    """Mutable only while one Bundle is being built; entries keep insertion order."""

    header: DocumentHeader
    options: MappingOptions
    references: ReportReferences
    status: str
    document_time: FhirTime
    performers: tuple[Resource, ...]
    observation_uids: dict[str, str] = field(default_factory=dict)  # item path -> (0040,A171)
    entries: dict[str, Entry] = field(default_factory=dict)
    warnings: list[MappingWarning] = field(default_factory=list)

    def id_for(self, kind: str, path: str, owner: str | None = None) -> str:
        """Ids of per-item resources. The item `owner` (default: `path` itself) has an
        Observation UID: that UID + kind + `path` relative to the owner, so the resource keeps
        its id across revisions and identical copies of the report (PS3.3 C.17.3.2.4). Else:
        SOP Instance UID + kind + content item path."""
        anchor = path if owner is None else owner
        uid = self.observation_uids.get(anchor)
        if uid is not None:
            return resource_id(OBSERVATION_UID_KEY, uid, kind, path[len(anchor) :])
        return resource_id(self.header.sop_instance_uid, kind, path)

    def add(self, resource: Resource) -> Entry:
        """Add a resource once (shared devices are added by the first item that needs them)."""
        existing = self.entries.get(resource["id"])
        if existing is not None:
            return existing
        check_entry_count(len(self.entries) + 1, self.options)  # before building them all
        entry = Entry(resource)
        self.entries[resource["id"]] = entry
        return entry

    def time_of(self, observation_datetime: str | None, what: str) -> FhirTime:
        if observation_datetime is None:
            return self.document_time
        return from_dicom(
            observation_datetime,
            None,
            None,
            self.header.timezone_offset,
            self.options.default_utc_offset,
            what,
        )


def check_entry_count(count: int, options: MappingOptions) -> None:
    """A Bundle of more than mapping.max_bundle_entries entries is a MappingError."""
    limit = options.max_bundle_entries
    if limit is not None and count > limit:
        raise MappingError(
            f"the Bundle would have more than {limit} entries (mapping.max_bundle_entries)"
        )
