"""Durable store of received instances and their jobs: the Spool Protocol (spool.model) and
its two back ends, chosen by spool.backend (spool.backends.open_configured_spool)."""

from sr2fhir.spool.backends import (
    check_database,
    database_versions,
    missing_spool,
    open_configured_spool,
    upgrade_database,
)
from sr2fhir.spool.model import (
    AttemptRecord,
    FileStore,
    FolderSize,
    InstanceInfo,
    Job,
    JobFilter,
    JobStatus,
    JobStore,
    LargeJobs,
    RecoveryReport,
    Spool,
    SpoolRole,
    StoredAttempt,
    node_of,
    short_error,
)
from sr2fhir.spool.spool import SqliteSpool, open_spool, read_instance_info

__all__ = [
    "AttemptRecord",
    "FileStore",
    "FolderSize",
    "InstanceInfo",
    "Job",
    "JobFilter",
    "JobStatus",
    "JobStore",
    "LargeJobs",
    "RecoveryReport",
    "Spool",
    "SpoolRole",
    "SqliteSpool",
    "StoredAttempt",
    "check_database",
    "database_versions",
    "missing_spool",
    "node_of",
    "open_configured_spool",
    "open_spool",
    "read_instance_info",
    "short_error",
    "upgrade_database",
]
