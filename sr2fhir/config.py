"""Configuration: one YAML file -> frozen dataclasses, validated once.

Precedence: embedded defaults < YAML file < environment (`SR2FHIR_<SECTION>_<KEY>`) < CLI flags.
Every error is a ConfigError naming the key and where its value came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from sr2fhir.errors import ConfigError
from sr2fhir.mapping import MappingOptions
from sr2fhir.mapping.options import (
    DEFAULT_MAX_BUNDLE_ENTRIES,
    DEFAULT_MAX_CONTENT_ITEMS,
    DEFAULT_MAX_DATASET_BYTES,
)

ENV_PREFIX = "SR2FHIR_"
SECRET_KEYS = frozenset({"auth_token", "auth_password"})
SECRET_MAPPINGS = frozenset({"headers"})  # values redacted, names shown
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # DICOM AE: no backslash, <= 16 chars
_UTC_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class AllowedCaller:
    """A calling AE title that may associate, optionally only from these source addresses."""

    ae_title: str
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DicomConfig:
    """The Storage SCP: who we are, where we listen (plain and/or TLS), whom we accept."""

    ae_title: str = "SR2FHIR"
    host: str = "0.0.0.0"
    port: int | None = 11112
    tls_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_require_client_cert: bool | None = None
    allowed_callers: tuple[AllowedCaller, ...] = ()
    max_associations: int = 32
    max_pending_connections: int = 32
    request_timeout: float = 5.0
    max_request_size: int = 262144
    max_pdu_size: int = 262144
    max_dataset_bytes: int = DEFAULT_MAX_DATASET_BYTES
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 60.0

    def __post_init__(self) -> None:
        """Rules between the listener keys; the TLS files load (single values: _CHECKS)."""
        problem = _dicom_listener_problem(self)
        if problem:
            raise ConfigError(problem)

    @property
    def client_cert_required(self) -> bool:
        """tls_require_client_cert, by default true when a CA is given."""
        required = self.tls_require_client_cert
        return self.tls_ca is not None if required is None else required


def _dicom_listener_problem(dicom: DicomConfig) -> str | None:
    if dicom.port is None and dicom.tls_port is None:
        return "dicom.port and dicom.tls_port are both null: no listener"
    if dicom.tls_port is not None and dicom.tls_port == dicom.port and dicom.port != 0:
        return f"dicom.tls_port: must differ from dicom.port (both {dicom.port})"
    if dicom.tls_require_client_cert and dicom.tls_ca is None:
        return "dicom.tls_require_client_cert is true but dicom.tls_ca is not set"
    if dicom.tls_port is None:
        return None
    from sr2fhir.scp.tls import server_context  # the ssl set-up lives with the SCP

    try:
        server_context(dicom)
    except ConfigError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """Where received instances, the job database, the outbox and the quarantine live."""

    data_dir: str = "./sr2fhir-data"
    db_timeout: float = 5.0
    min_free_bytes: int = 100_000_000  # below it: warn, refuse C-STOREs (0xA700); 0 = no limit

    @property
    def path(self) -> Path:
        return Path(self.data_dir)


@dataclass(frozen=True, slots=True)
class WorkersConfig:
    """The mappers/deliverers that drain the spool."""

    count: int = 2
    mode: str = "process"
    poll_interval: float = 0.05
    max_attempts: int = 8
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    lease: float = 300.0
    nice: int = 10
    large_job_bytes: int = 1024 * 1024

    @property
    def large_job_workers(self) -> int:
        """Workers that may hold large jobs at once: all but one, so small reports always
        have a worker (one worker: it takes both)."""
        return max(self.count - 1, 1)


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Where Bundles go: `outbox` (a folder) or `fhir` (the server of the fhir section)."""

    sink: str = "outbox"
    outbox_dir: str | None = None
    validate: bool = False


@dataclass(frozen=True, slots=True)
class FhirConfig:
    """The FHIR server the `fhir` sink delivers to, and how references are resolved there."""

    base_url: str | None = None
    version: str = "R5"
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    auth_kind: str = "none"
    auth_token: str | None = None
    auth_token_env: str | None = None
    auth_token_file: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    smart_client_id: str | None = None
    smart_key_file: str | None = None
    smart_key_id: str | None = None
    smart_scopes: str | None = None
    smart_token_url: str | None = None
    unresolved_reference: str = "reference"
    lookup_cache_ttl: float = 300.0

    def __post_init__(self) -> None:
        """Rules between keys (single values are checked by _CHECKS after this)."""
        problem = _fhir_auth_problem(self) or _fhir_tls_problem(self)
        if problem:
            raise ConfigError(problem)


_FHIR_AUTH_KEYS = {  # the keys each fhir.auth_kind reads; the first `needs` are required
    "bearer": ("auth_token", "auth_token_env", "auth_token_file"),
    "basic": ("auth_username", "auth_password"),
    "smart-backend": (
        "smart_client_id",
        "smart_key_file",
        "smart_scopes",
        "smart_key_id",
        "smart_token_url",
    ),
}
_FHIR_AUTH_NEEDS = {"bearer": 0, "basic": 2, "smart-backend": 3}


def _fhir_auth_problem(fhir: FhirConfig) -> str | None:
    kind = fhir.auth_kind
    for other, keys in _FHIR_AUTH_KEYS.items():
        stray = [k for k in keys if other != kind and getattr(fhir, k)]
        if stray:
            return f"fhir.{stray[0]} is set but fhir.auth_kind is {kind} (not {other})"
    keys = _FHIR_AUTH_KEYS.get(kind, ())
    missing = [k for k in keys[: _FHIR_AUTH_NEEDS.get(kind, 0)] if not getattr(fhir, k)]
    if missing:
        return f"fhir.auth_kind is {kind} but fhir.{missing[0]} is not set"
    if kind != "none" and any(name.lower() == "authorization" for name, _ in fhir.headers):
        return f"fhir.headers sets Authorization and fhir.auth_kind is {kind}: keep one"
    if kind == "bearer":
        return _bearer_problem(fhir)
    return None


def _bearer_problem(fhir: FhirConfig) -> str | None:
    """Exactly one token source, and it holds a token now."""
    given = [k for k in _FHIR_AUTH_KEYS["bearer"] if getattr(fhir, k)]
    if len(given) != 1:
        found = f" (got {' and '.join(given)})" if given else ""
        return "fhir.auth_kind bearer needs one of fhir.auth_token, fhir.auth_token_env, " + (
            f"fhir.auth_token_file{found}"
        )
    if fhir.auth_token_env and not os.environ.get(fhir.auth_token_env, "").strip():
        return f"fhir.auth_token_env: environment variable {fhir.auth_token_env} is not set"
    if fhir.auth_token_file:
        try:
            empty = not Path(fhir.auth_token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return f"fhir.auth_token_file: cannot read {fhir.auth_token_file}: {exc.strerror}"
        if empty:
            return f"fhir.auth_token_file: {fhir.auth_token_file} is empty"
    return None


def _fhir_tls_problem(fhir: FhirConfig) -> str | None:
    """The CA bundle and the client certificate load (and the key matches the certificate)."""
    if fhir.client_key and not fhir.client_cert:
        return "fhir.client_key is set but fhir.client_cert is not"
    if not (fhir.ca_bundle or fhir.client_cert):
        return None
    from sr2fhir.fhir.client import tls_context  # ssl set-up lives with the HTTP client

    try:
        tls_context(fhir.ca_bundle or fhir.verify_tls, fhir.client_cert, fhir.client_key)
    except ConfigError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """Feeds sr2fhir.mapping.MappingOptions."""

    default_patient_id_system: str | None = None
    issuer_systems: tuple[tuple[str, str], ...] = ()
    default_utc_offset: str = "+00:00"
    provenance: bool = False
    max_content_items: int = DEFAULT_MAX_CONTENT_ITEMS
    max_bundle_entries: int = DEFAULT_MAX_BUNDLE_ENTRIES

    def options(self, max_dataset_bytes: int | None = None) -> MappingOptions:
        """The mapping's options; `max_dataset_bytes` is dicom.max_dataset_bytes (the
        gateway and `convert` pass it; the limit on received data sets lives with the SCP)."""
        return MappingOptions(
            default_patient_id_system=self.default_patient_id_system,
            issuer_systems=self.issuer_systems,
            default_utc_offset=self.default_utc_offset,
            provenance=self.provenance,
            max_dataset_bytes=max_dataset_bytes,
            max_content_items=self.max_content_items,
            max_bundle_entries=self.max_bundle_entries,
        )


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The operations endpoint: /healthz, /readyz and /metrics (see docs/operations.md)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9112
    check_timeout: float = 3.0


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The append-only audit trail (JSON lines, one file per UTC day)."""

    enabled: bool = True
    dir: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The whole effective configuration of one gateway."""

    dicom: DicomConfig = field(default_factory=DicomConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    fhir: FhirConfig = field(default_factory=FhirConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)

    @property
    def outbox_path(self) -> Path:
        outbox = self.delivery.outbox_dir
        return Path(outbox) if outbox is not None else self.spool.path / "outbox"

    @property
    def audit_path(self) -> Path:
        folder = self.audit.dir
        return Path(folder) if folder is not None else self.spool.path / "audit"


SECTIONS: dict[str, Any] = typing.get_type_hints(Config)


# ---------------------------------------------------------------- raw layers -> one dict


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read the YAML file (if any), apply env and CLI overrides (`"section.key": value`)."""
    source = str(path) if path is not None else "<defaults>"
    raw: dict[str, dict[str, tuple[Any, str]]] = {}
    if path is not None:
        _merge(raw, _read_yaml(Path(path)), source)
    for (section, key), (value, src) in _env_layer(os.environ if env is None else env).items():
        raw.setdefault(section, {})[key] = (value, src)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        raw.setdefault(section, {})[key] = (value, "command line")
    return _build(raw, source)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _merge(raw: dict[str, dict[str, tuple[Any, str]]], layer: Mapping[str, Any], src: str) -> None:
    for section, values in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"{src}: unknown section {section!r} (known: {', '.join(SECTIONS)})")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{src}: section {section!r} must be a mapping")
        for key, value in values.items():
            raw.setdefault(section, {})[str(key)] = (value, src)


def _env_layer(env: Mapping[str, str]) -> dict[tuple[str, str], tuple[Any, str]]:
    """SR2FHIR_DICOM_PORT=4242 -> {("dicom", "port"): (4242, ...)}; values read as YAML scalars."""
    layer: dict[tuple[str, str], tuple[Any, str]] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        src = f"environment variable {name}"
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:  # e.g. SR2FHIR_TEST_FHIR_URL: another tool's, not the gateway's
            continue
        try:
            value = yaml.safe_load(text) if text != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{src}: not a valid value") from exc
        layer[(section, rest[len(section) + 1 :])] = (value, src)
    return layer


# ---------------------------------------------------------------- typed construction


def _build(raw: dict[str, dict[str, tuple[Any, str]]], source: str) -> Config:
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        given = raw.get(name, {})
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, (value, src) in given.items():
            if key not in known:
                raise ConfigError(f"{src}: unknown key {name}.{key} (known: {', '.join(known)})")
            kwargs[key] = _coerce(hints[key], value, f"{name}.{key}", src)
        try:
            sections[name] = cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - guarded by the checks above
            raise ConfigError(f"{source}: section {name}: {exc}") from exc
        for key, check in _CHECKS.get(name, {}).items():
            value = getattr(sections[name], key)
            src = given[key][1] if key in given else "<defaults>"
            problem = check(value)
            if problem:
                raise ConfigError(f"{src}: {name}.{key}: {problem}")
    config = Config(**sections)
    _check_folders(config, raw)
    if config.delivery.sink == "fhir" and not config.fhir.base_url:
        src = raw.get("delivery", {}).get("sink", (None, source))[1]
        raise ConfigError(f"{src}: delivery.sink is fhir but fhir.base_url is not set")
    return config


def _coerce(hint: Any, value: Any, key: str, src: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{src}: {key} must be {expected}, got {type(value).__name__}")

    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(args[0], value, key, src)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if hint == tuple[AllowedCaller, ...]:
        if not isinstance(value, list):
            raise fail("a list of AE titles or {ae_title, hosts} mappings")
        return tuple(_allowed_caller(item, key, src) for item in value)
    if hint == tuple[tuple[str, str], ...]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise fail("a mapping of strings to strings")
        return tuple(sorted(value.items()))
    raise AssertionError(f"no coercion for {hint!r}")  # pragma: no cover


def _allowed_caller(item: Any, key: str, src: str) -> AllowedCaller:
    if isinstance(item, str):
        return AllowedCaller(item)
    if isinstance(item, dict) and set(item) <= {"ae_title", "hosts"}:
        title, hosts = item.get("ae_title"), item.get("hosts", [])
        hosts_ok = isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
        if isinstance(title, str) and hosts_ok:
            return AllowedCaller(title, tuple(hosts))
    raise ConfigError(f"{src}: {key}: each entry is an AE title or {{ae_title: X, hosts: [..]}}")


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _check_ae(value: str) -> str | None:
    ok = _AE_TITLE.match(value) and value.strip()
    return None if ok else "must be 1-16 printable characters, no backslash"


def _check_callers(value: tuple[AllowedCaller, ...]) -> str | None:
    bad = [c.ae_title for c in value if _check_ae(c.ae_title)]
    if bad:
        return f"invalid AE title(s): {bad}"
    for host in (h for caller in value for h in caller.hosts):
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            return f"not an IP address or network: {host!r}"
    return None


def _check_port(value: int | None) -> str | None:
    if value is None or 0 <= value <= 65535:  # None: that listener is off
        return None
    return "must be a TCP port 0-65535 (0 = any free port)"


def _check_pdu(value: int) -> str | None:
    return None if value == 0 or 4096 <= value <= 2**32 - 1 else "must be 0 or 4096..2^32-1"


def _check_request_size(value: int) -> str | None:
    return None if 4096 <= value <= 2**32 - 1 else "must be 4096..2^32-1"


def _check_nice(value: int) -> str | None:
    return None if 0 <= value <= 19 else "must be 0 (same priority as receiving) to 19"


def _check_offset(value: str) -> str | None:
    return None if _UTC_OFFSET.match(value) else "must look like +01:00 or -05:00"


def _check_base_url(value: str | None) -> str | None:
    if value is None or re.match(r"^https?://[^/\s]+", value):
        return None
    return "must be an http:// or https:// URL"


def _check_signing_key(value: str | None) -> str | None:
    """The SMART client key loads now, not at the first delivery."""
    if value is None:
        return None
    from sr2fhir.fhir.auth import load_signing_key  # cryptography only when it is needed

    try:
        load_signing_key(value)
    except ValueError as exc:
        return str(exc)
    return None


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


_CHECKS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "dicom": {
        "ae_title": _check_ae,
        "port": _check_port,
        "tls_port": _check_port,
        "allowed_callers": _check_callers,
        "max_associations": _positive,
        "max_pending_connections": _positive,
        "request_timeout": _positive,
        "max_request_size": _check_request_size,
        "max_pdu_size": _check_pdu,
        "max_dataset_bytes": _positive,
        "acse_timeout": _positive,
        "dimse_timeout": _positive,
        "network_timeout": _positive,
    },
    "spool": {"db_timeout": _positive, "min_free_bytes": _not_negative},
    "workers": {
        "count": _positive,
        "mode": _one_of("process", "thread"),
        "poll_interval": _positive,
        "max_attempts": _positive,
        "backoff_initial": _positive,
        "backoff_max": _positive,
        "lease": _positive,
        "nice": _check_nice,
        "large_job_bytes": _positive,
    },
    "delivery": {"sink": _one_of("outbox", "fhir")},
    "fhir": {
        "base_url": _check_base_url,
        "version": _one_of("R5", "R4"),
        "connect_timeout": _positive,
        "read_timeout": _positive,
        "unresolved_reference": _one_of("reference", "fail"),
        "lookup_cache_ttl": _not_negative,
        "auth_kind": _one_of("none", "bearer", "basic", "smart-backend"),
        "smart_key_file": _check_signing_key,
        "smart_token_url": _check_base_url,
    },
    "mapping": {
        "default_utc_offset": _check_offset,
        "max_content_items": _positive,
        "max_bundle_entries": _positive,
    },
    "logging": {"level": _one_of(*LOG_LEVELS), "format": _one_of("text", "json")},
    "http": {"port": _check_port, "check_timeout": _positive},
}


def _check_folders(config: Config, raw: dict[str, dict[str, tuple[Any, str]]]) -> None:
    folders = [("spool", "data_dir", config.spool.path)]
    if config.delivery.outbox_dir is not None:  # else it lives inside data_dir
        folders.append(("delivery", "outbox_dir", config.outbox_path))
    if config.audit.enabled and config.audit.dir is not None:
        folders.append(("audit", "dir", config.audit_path))
    for section, key, path in folders:
        problem = _folder_problem(path)
        if problem:
            src = raw.get(section, {}).get(key, (None, "<defaults>"))[1]
            raise ConfigError(f"{src}: {section}.{key}: {path} {problem}")


def _folder_problem(path: Path) -> str | None:
    """Why this folder cannot be created or written to, or None if it can."""
    probe = path.absolute()
    while not probe.exists():
        if probe.parent == probe:
            return "has no existing parent"
        probe = probe.parent
    if not probe.is_dir():
        return f"is not a folder ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"is not writable ({probe})"
    return None


# ---------------------------------------------------------------- presentation


def config_as_dict(config: Config, redact: bool = True) -> dict[str, Any]:
    """The effective config as plain data, secrets replaced by '***'."""
    out: dict[str, Any] = {}
    for name in SECTIONS:
        section = getattr(config, name)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if redact and f.name in SECRET_KEYS and value is not None:
                value = "***"
            if redact and f.name in SECRET_MAPPINGS:
                value = tuple((k, "***") for k, _ in value)
            mapping = f.name in ("issuer_systems", "headers")
            values[f.name] = dict(value) if mapping else _plain(value)
        if name == "delivery" and values["outbox_dir"] is None:
            values["outbox_dir"] = str(config.outbox_path)
        out[name] = values
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, AllowedCaller):
        return {"ae_title": value.ae_title, "hosts": list(value.hosts)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def dump_config(config: Config) -> str:
    """YAML text of the effective config, secrets redacted (for check-config and the log)."""
    return yaml.safe_dump(config_as_dict(config), sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------- command line


def add_config_flags(parser: argparse.ArgumentParser, *, serve: bool = False) -> None:
    """--config and --data-dir for every command; the serve flags with `serve=True`."""
    parser.add_argument("--config", metavar="FILE", help="YAML configuration file")
    parser.add_argument("--data-dir", metavar="DIR", help="spool, job database, outbox folder")
    if serve:
        parser.add_argument("--port", type=int, help="DICOM port to listen on (0 = any free)")
        parser.add_argument("--ae-title", help="our AE title")
        parser.add_argument("--outbox", metavar="DIR", help="folder for delivered Bundles")
        parser.add_argument("--workers", type=int, metavar="N", help="number of workers")
        parser.add_argument("--log-level", choices=LOG_LEVELS, help="log level")
        parser.add_argument(
            "--log-format", choices=("text", "json"), help="text, or one JSON object per line"
        )


_FLAG_KEYS = {
    "data_dir": "spool.data_dir",
    "port": "dicom.port",
    "ae_title": "dicom.ae_title",
    "outbox": "delivery.outbox_dir",
    "workers": "workers.count",
    "log_level": "logging.level",
    "log_format": "logging.format",
}


def config_from_args(args: argparse.Namespace) -> Config:
    """Defaults < --config FILE < SR2FHIR_* environment < flags."""
    overrides = {key: getattr(args, flag, None) for flag, key in _FLAG_KEYS.items()}
    return load_config(args.config, overrides=overrides)
