"""TID 1500 Measurement Report -> FHIR R5 transaction Bundle (pure functions, no I/O).

Public API:
    read_sr_bytes(data) -> data set (.get by keyword)                       (raise SrParseError)
    convert_dataset(ds, options) -> Bundle dict              (raise SrParseError, MappingError)
    bundle_to_json(bundle) -> bytes                             (deterministic serialisation)
    bundle_sop_instance_uid(bundle) -> the SOP Instance UID it was made from

Importing it changes no global setting: a process that reads SRs with pydicom calls
sr2fhir.runtime.configure_pydicom_reading() once (the gateway, its workers and `convert` do).
"""

from sr2fhir.mapping.convert import bundle_sop_instance_uid, bundle_to_json, convert_dataset
from sr2fhir.mapping.options import MappingOptions
from sr2fhir.mapping.read import read_sr_bytes

__all__ = [
    "MappingOptions",
    "bundle_sop_instance_uid",
    "bundle_to_json",
    "convert_dataset",
    "read_sr_bytes",
]
