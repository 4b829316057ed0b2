"""The configuration's schema: frozen dataclasses and Enums, no I/O.

Each section is a dataclass whose fields are the section's keys (the `mapping` section is
sr2fhir.mapping.MappingOptions itself). A field's single-value check and whether it is a
secret sit beside it, in its metadata (`setting(...)`): the loader, the dump and the
reference docs read them from here. Closed sets are Enums whose values are what users write.

The FHIR server's authentication is one value, `FhirConfig.auth` (NoAuth | Bearer | Basic |
SmartBackend), while the file keeps the flat keys it always had (`fhir.auth_kind`,
`fhir.auth_token`, ..., `fhir.smart_key_file`): each variant's fields are file keys with its
`file_prefix` (`auth_`, `smart_`), and the loader builds the variant `auth_kind` names.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sr2fhir.config import checks
from sr2fhir.config.checks import Check
from sr2fhir.mapping.options import (
    DEFAULT_MAX_BUNDLE_ENTRIES,
    DEFAULT_MAX_CONTENT_ITEMS,
    DEFAULT_MAX_DATASET_BYTES,
    MappingOptions,
)

CHECK = "check"  # metadata: a function value -> problem | None
SECRET = "secret"  # metadata: the value is shown as *** (for a mapping: its values)
DEFAULTS = "<defaults>"  # where a value not given anywhere comes from
COMMAND_LINE = "command line"  # where a flag's value comes from
ENV_SOURCE = "environment variable "  # + the variable's name: where its value comes from


def setting(default: Any, *, check: Check | None = None, secret: bool = False) -> Any:
    """A field with its check and secrecy beside it (`dataclasses.MISSING`: required)."""
    return field(default=default, metadata={CHECK: check, SECRET: secret})


class Choice(str, enum.Enum):
    """A closed set; the members' values are what the file says. str() is the value."""

    def __str__(self) -> str:
        return str(self.value)


class SinkKind(Choice):
    OUTBOX = "outbox"
    FHIR = "fhir"


class SpoolBackend(Choice):
    """Where jobs and received bytes live: SQLite + the data folder (one node), or one
    PostgreSQL database shared by any number of nodes (docs/scale-out.md)."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class WorkerMode(Choice):
    PROCESS = "process"
    THREAD = "thread"


class FhirVersion(Choice):
    R5 = "R5"
    R4 = "R4"


class UnresolvedReference(Choice):
    """A Patient/ServiceRequest/ImagingStudy not found on the server: keep the logical
    reference by identifier, fail the job, or hold it (HELD) until the resource appears.

    `reference`, the documented name of `logical` before `hold` came, is still accepted
    (_missing_), so existing files keep working."""

    LOGICAL = "logical"
    FAIL = "fail"
    HOLD = "hold"

    @classmethod
    def _missing_(cls, value: object) -> UnresolvedReference | None:
        return cls.LOGICAL if value == "reference" else None


class HoldFallback(Choice):
    """What a job HELD for fhir.hold_max seconds becomes: delivered with the logical
    references it has, or FAILED (`queue retry` runs it again)."""

    LOGICAL = "logical"
    FAIL = "fail"


class ImagingStudyMode(Choice):
    """Where the Observations' partOf points: the ImagingStudy the server has (found by
    identifier, else a logical reference), or one the Bundle creates unless the server has
    it (a conditional create: sr2fhir/mapping/imaging_study.py)."""

    REFERENCE = "reference"
    CREATE_IF_MISSING = "create-if-missing"


class RetentionExpired(Choice):
    """What an IOCM rejection note "Data Retention Policy Expired" (DCM 113039) does to the
    resources of the SRs it rejects."""

    ENTERED_IN_ERROR = "entered-in-error"
    DELETE = "delete"


class LogLevel(Choice):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class LogFormat(Choice):
    TEXT = "text"
    JSON = "json"


class AuthKind(Choice):
    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"
    SMART_BACKEND = "smart-backend"


# ---------------------------------------------------------------- dicom


@dataclass(frozen=True, slots=True)
class AllowedCaller:
    """A calling AE title that may associate, optionally only from these source addresses."""

    ae_title: str
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DicomConfig:
    """The Storage SCP: who we are, where we listen (plain and/or TLS), whom we accept."""

    ae_title: str = setting("SR2FHIR", check=checks.ae_title)
    host: str = "0.0.0.0"
    port: int | None = setting(11112, check=checks.tcp_port)
    tls_port: int | None = setting(None, check=checks.tcp_port)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_require_client_cert: bool | None = None
    allowed_callers: tuple[AllowedCaller, ...] = setting((), check=checks.callers)
    require_called_ae: bool = False
    max_associations: int = setting(32, check=checks.positive)
    max_pending_connections: int = setting(32, check=checks.positive)
    request_timeout: float = setting(5.0, check=checks.positive)
    max_request_size: int = setting(262144, check=checks.request_size)
    max_pdu_size: int = setting(262144, check=checks.pdu_size)
    max_dataset_bytes: int = setting(DEFAULT_MAX_DATASET_BYTES, check=checks.positive)
    acse_timeout: float = setting(30.0, check=checks.positive)
    dimse_timeout: float = setting(60.0, check=checks.positive)
    network_timeout: float = setting(60.0, check=checks.positive)

    @property
    def client_cert_required(self) -> bool:
        """tls_require_client_cert, by default true when a CA is given."""
        required = self.tls_require_client_cert
        return self.tls_ca is not None if required is None else required


# ---------------------------------------------------------------- spool, workers, delivery


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """Where received instances and their jobs live (sqlite: the data folder; postgresql:
    the database), and the node's own folder (counters, audit, default outbox)."""

    backend: SpoolBackend = SpoolBackend.SQLITE
    data_dir: str = "./sr2fhir-data"
    db_timeout: float = setting(5.0, check=checks.positive)
    # below it: warn, refuse C-STOREs (0xA700); 0 = no limit (sqlite only)
    min_free_bytes: int = setting(100_000_000, check=checks.not_negative)
    database_url: str | None = setting(None, check=checks.postgres_url)
    database_password_env: str | None = None  # the name of the variable, not the password
    database_password_file: str | None = None
    pool_size: int = setting(4, check=checks.positive)
    lease_timeout: float = setting(30.0, check=checks.positive)

    @property
    def path(self) -> Path:
        return Path(self.data_dir)


@dataclass(frozen=True, slots=True)
class WorkersConfig:
    """The mappers/deliverers that drain the spool."""

    count: int = setting(2, check=checks.positive)
    mode: WorkerMode = WorkerMode.PROCESS
    poll_interval: float = setting(0.05, check=checks.positive)
    retry_for: float = setting(43200.0, check=checks.positive)  # seconds: rides out 12 h
    max_attempts: int | None = setting(None, check=checks.positive_or_null)  # None: retry_for
    backoff_initial: float = setting(2.0, check=checks.positive)
    backoff_max: float = setting(600.0, check=checks.positive)
    lease: float = setting(300.0, check=checks.positive)
    nice: int = setting(10, check=checks.nice)
    large_job_bytes: int = setting(1024 * 1024, check=checks.positive)

    @property
    def large_job_workers(self) -> int:
        """Workers that may hold large jobs at once: all but one, so small reports always
        have a worker (one worker: it takes both)."""
        return max(self.count - 1, 1)


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Where Bundles go: `outbox` (a folder) or `fhir` (the server of the fhir section)."""

    sink: SinkKind = SinkKind.OUTBOX
    outbox_dir: str | None = None
    validate: bool = False


# ---------------------------------------------------------------- fhir and its auth


@dataclass(frozen=True, slots=True)
class NoAuth:
    """No Authorization header (fhir.auth_kind none)."""

    kind: ClassVar[AuthKind] = AuthKind.NONE
    file_prefix: ClassVar[str] = "auth_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bearer:
    """`Authorization: Bearer`; exactly one source: the token itself, the name of an
    environment variable holding it, or a file holding it (re-read on every request)."""

    token: str | None = setting(None, secret=True)
    token_env: str | None = None
    token_file: str | None = None
    kind: ClassVar[AuthKind] = AuthKind.BEARER
    file_prefix: ClassVar[str] = "auth_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Basic:
    """HTTP basic authentication."""

    username: str
    password: str = setting(dataclasses.MISSING, secret=True)
    kind: ClassVar[AuthKind] = AuthKind.BASIC
    file_prefix: ClassVar[str] = "auth_"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartBackend:
    """SMART Backend Services: what the EHR registered for this gateway."""

    client_id: str
    key_file: str
    key_id: str | None = None
    scopes: str
    token_url: str | None = setting(None, check=checks.http_url)  # None: discovered
    kind: ClassVar[AuthKind] = AuthKind.SMART_BACKEND
    file_prefix: ClassVar[str] = "smart_"


FhirAuth = NoAuth | Bearer | Basic | SmartBackend
AUTH_VARIANTS: tuple[type[Bearer] | type[Basic] | type[SmartBackend], ...] = (
    Bearer,
    Basic,
    SmartBackend,
)
AUTH_KIND_KEY = "auth_kind"  # the file key that says which variant


def auth_file_key(variant: type[Any], name: str) -> str:
    """The flat key of `fhir` that holds the variant's field `name` (`token` -> `auth_token`)."""
    return f"{variant.file_prefix}{name}"


@dataclass(frozen=True, slots=True)
class FhirConfig:
    """The FHIR server the `fhir` sink delivers to, and how references are resolved there."""

    base_url: str | None = setting(None, check=checks.http_url)
    version: FhirVersion = FhirVersion.R5
    connect_timeout: float = setting(5.0, check=checks.positive)
    read_timeout: float = setting(60.0, check=checks.positive)
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    headers: tuple[tuple[str, str], ...] = setting((), secret=True)
    auth: FhirAuth = NoAuth()  # file keys: auth_kind, auth_*, smart_* (see module)
    unresolved_reference: UnresolvedReference = UnresolvedReference.LOGICAL
    hold_retry: float = setting(60.0, check=checks.positive)
    hold_max: float = setting(3600.0, check=checks.positive)
    hold_fallback: HoldFallback = HoldFallback.LOGICAL
    lookup_cache_ttl: float = setting(300.0, check=checks.not_negative)
    imaging_study: ImagingStudyMode = ImagingStudyMode.REFERENCE


# ---------------------------------------------------------------- mapping, logging, http, audit

DEFAULT_MAPPING = MappingOptions(
    max_content_items=DEFAULT_MAX_CONTENT_ITEMS, max_bundle_entries=DEFAULT_MAX_BUNDLE_ENTRIES
)
# The mapping section is MappingOptions; its keys' checks live here (the class is the
# mapping's own), and max_dataset_bytes and create_imaging_study are not keys of it: they
# are dicom.max_dataset_bytes and fhir.imaging_study.
MAPPING_CHECKS: Mapping[str, Check] = {
    "default_utc_offset": checks.utc_offset,
    "max_content_items": checks.positive,
    "max_bundle_entries": checks.positive,
}
MAPPING_NOT_KEYS = frozenset({"max_dataset_bytes", "create_imaging_study"})


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """A report's life after its first delivery: revisions and IHE IOCM rejection notes."""

    retention_expired: RetentionExpired = RetentionExpired.ENTERED_IN_ERROR


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """How the gateway and its workers log: the level, and text or one JSON object a line."""

    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The operations endpoint: /healthz, /readyz and /metrics, and the queue API /api/*
    when a token is configured, and the web console /console when http.console is on as
    well (see docs/operations.md)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = setting(9112, check=checks.tcp_port)
    check_timeout: float = setting(3.0, check=checks.positive)
    api_token_file: str | None = None  # the file wins when both are set
    api_token_env: str | None = None  # the name of the variable, not the token
    console: bool = False


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The append-only audit trail (JSON lines, one file per UTC day)."""

    enabled: bool = True
    dir: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The whole effective configuration of one gateway.

    `origins` says where each given key's value came from ("section.key" -> the file,
    `environment variable X` or `command line`), for messages that name it.
    """

    dicom: DicomConfig = field(default_factory=DicomConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    fhir: FhirConfig = field(default_factory=FhirConfig)
    mapping: MappingOptions = DEFAULT_MAPPING
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def outbox_path(self) -> Path:
        outbox = self.delivery.outbox_dir
        return Path(outbox) if outbox is not None else self.spool.path / "outbox"

    @property
    def audit_path(self) -> Path:
        folder = self.audit.dir
        return Path(folder) if folder is not None else self.spool.path / "audit"

    @property
    def mapping_options(self) -> MappingOptions:
        """The mapping section with the data-set limit (dicom.max_dataset_bytes) and whether
        the Bundle creates the ImagingStudy (fhir.imaging_study)."""
        return dataclasses.replace(
            self.mapping,
            max_dataset_bytes=self.dicom.max_dataset_bytes,
            create_imaging_study=self.fhir.imaging_study is ImagingStudyMode.CREATE_IF_MISSING,
        )

    def origin(self, key: str) -> str:
        """Where the value of `section.key` came from."""
        return self.origins.get(key, DEFAULTS)


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config) if f.name != "origins")


# ---------------------------------------------------------------- the keys of a section


@dataclass(frozen=True, slots=True)
class Key:
    """One key of the file: its section, name, type, default, check and secrecy."""

    section: str
    name: str
    hint: Any
    default: Any
    check: Check | None = None
    secret: bool = False
    variant: type[Any] | None = None  # a flat fhir auth key: the FhirAuth variant ...
    auth_field: str = ""  # ... and its field that the key holds

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


@functools.cache
def section_keys(section: str) -> tuple[Key, ...]:
    """The keys of `section` in file order (for fhir: the flat auth keys in place of auth)."""
    defaults = getattr(Config(), section)
    cls = type(defaults)
    hints = typing.get_type_hints(cls)
    keys: list[Key] = []
    for f in dataclasses.fields(cls):
        if section == "mapping" and f.name in MAPPING_NOT_KEYS:
            continue
        if section == "fhir" and f.name == "auth":
            keys += _auth_keys()
            continue
        check = MAPPING_CHECKS.get(f.name) if section == "mapping" else f.metadata.get(CHECK)
        default, secret = getattr(defaults, f.name), bool(f.metadata.get(SECRET))
        keys.append(Key(section, f.name, hints[f.name], default, check, secret))
    return tuple(keys)


def _auth_keys() -> list[Key]:
    keys = [Key("fhir", AUTH_KIND_KEY, AuthKind, AuthKind.NONE)]
    for variant in AUTH_VARIANTS:
        hints = typing.get_type_hints(variant)
        for f in dataclasses.fields(variant):
            name = auth_file_key(variant, f.name)
            check, secret = f.metadata.get(CHECK), bool(f.metadata.get(SECRET))
            hint = hints[f.name] | None  # null in the file: not given
            keys.append(Key("fhir", name, hint, None, check, secret, variant, f.name))
    return keys


def key_value(section: Any, key: Key) -> Any:
    """The value `key` has in a built section (a flat auth key: None unless its variant)."""
    if key.name == AUTH_KIND_KEY:
        return section.auth.kind
    if key.variant is None:
        return getattr(section, key.name)
    return getattr(section.auth, key.auth_field) if type(section.auth) is key.variant else None
