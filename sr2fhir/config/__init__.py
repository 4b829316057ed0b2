"""Configuration: one YAML file (+ environment, + flags) -> frozen dataclasses, checked once.

schema.py is the pure schema; loading.py builds a Config from the layers; flags.py the
command-line flags; dump.py the redacted dump. preflight.py (the files and folders the
config names load now) is imported from its module by the commands that run it: it asks
the owners of TLS, keys and folders, which themselves import the schema from here.
"""

from sr2fhir.config.dump import config_as_dict, config_summary, dump_config
from sr2fhir.config.flags import add_config_flags, config_from_args
from sr2fhir.config.loading import ENV_PREFIX, load_config
from sr2fhir.config.schema import (
    SECTIONS,
    AllowedCaller,
    AuditConfig,
    AuthKind,
    Basic,
    Bearer,
    Config,
    DeliveryConfig,
    DicomConfig,
    FhirAuth,
    FhirConfig,
    FhirVersion,
    HoldFallback,
    HttpConfig,
    ImagingStudyMode,
    LogFormat,
    LoggingConfig,
    LogLevel,
    NoAuth,
    SinkKind,
    SmartBackend,
    SpoolBackend,
    SpoolConfig,
    UnresolvedReference,
    WorkerMode,
    WorkersConfig,
)

__all__ = [
    "ENV_PREFIX",
    "SECTIONS",
    "AllowedCaller",
    "AuditConfig",
    "AuthKind",
    "Basic",
    "Bearer",
    "Config",
    "DeliveryConfig",
    "DicomConfig",
    "FhirAuth",
    "FhirConfig",
    "FhirVersion",
    "HoldFallback",
    "HttpConfig",
    "ImagingStudyMode",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "NoAuth",
    "SinkKind",
    "SmartBackend",
    "SpoolBackend",
    "SpoolConfig",
    "UnresolvedReference",
    "WorkerMode",
    "WorkersConfig",
    "add_config_flags",
    "config_as_dict",
    "config_from_args",
    "config_summary",
    "dump_config",
    "load_config",
]
