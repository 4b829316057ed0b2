"""TID 1500 Measurement Report -> FHIR R5 transaction Bundle (pure functions, no I/O).

Public API:
    read_sr_bytes(data) -> data set (.get by keyword)                       (raise SrParseError)
    map_report(ds, options) -> MappingResult(bundle, warnings)  (raise SrParseError, MappingError)
    convert_dataset(ds, options) -> Bundle dict                  (map_report's Bundle alone)
    MappingWarning(code, item_path, message).to_dict()    (what a report converted without)
    bundle_to_json(bundle) -> bytes                             (deterministic serialisation)
    bundle_sop_instance_uid(bundle) -> the SOP Instance UID it was made from
    to_r4(bundle) -> the R4 Bundle (sr2fhir.mapping.r4)

Importing it changes no global setting: a process that reads SRs with pydicom calls
sr2fhir.runtime.configure_pydicom_reading() once (the gateway, its workers and `convert` do).
"""

from sr2fhir.mapping.convert import (
    MappingResult,
    bundle_sop_instance_uid,
    bundle_to_json,
    convert_dataset,
    map_report,
)
from sr2fhir.mapping.options import MappingOptions
from sr2fhir.mapping.read import read_sr_bytes
from sr2fhir.mapping.warnings import MappingWarning, WarningCode, warnings_document

__all__ = [
    "MappingOptions",
    "MappingResult",
    "MappingWarning",
    "WarningCode",
    "bundle_sop_instance_uid",
    "bundle_to_json",
    "convert_dataset",
    "map_report",
    "read_sr_bytes",
    "warnings_document",
]
