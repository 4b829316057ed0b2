"""Durable store of received instances: Part-10 files plus a job table (see spool.model)."""

from sr2fhir.spool.model import (
    FileStore,
    FolderSize,
    InstanceInfo,
    Job,
    JobStatus,
    JobStore,
    LargeJobs,
    short_error,
)
from sr2fhir.spool.spool import RecoveryReport, Spool, open_spool, read_instance_info

__all__ = [
    "FileStore",
    "FolderSize",
    "InstanceInfo",
    "Job",
    "JobStatus",
    "JobStore",
    "LargeJobs",
    "RecoveryReport",
    "Spool",
    "open_spool",
    "read_instance_info",
    "short_error",
]
