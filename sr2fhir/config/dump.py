"""The effective configuration as plain data and YAML, secrets redacted (check-config, log)."""

from __future__ import annotations

import enum
from typing import Any

import yaml

from sr2fhir.config.schema import (
    COMMAND_LINE,
    DEFAULTS,
    ENV_SOURCE,
    SECTIONS,
    AllowedCaller,
    Choice,
    Config,
    SinkKind,
    key_value,
    section_keys,
)

REDACTED = "***"
_PAIRS = tuple[tuple[str, str], ...]  # a mapping key (headers, issuer_systems), kept as pairs


def config_as_dict(config: Config, redact: bool = True) -> dict[str, Any]:
    """The effective config as plain data in the file's shape, secrets replaced by '***'
    (a secret mapping shows its names, not its values)."""
    out: dict[str, Any] = {}
    for name in SECTIONS:
        section = getattr(config, name)
        values: dict[str, Any] = {}
        for key in section_keys(name):
            value = key_value(section, key)
            if key.hint == _PAIRS:
                value = {k: REDACTED if redact and key.secret else v for k, v in value}
            elif redact and key.secret and value is not None:
                value = REDACTED
            values[key.name] = _plain(value)
        if name == "delivery" and values["outbox_dir"] is None:
            values["outbox_dir"] = str(config.outbox_path)
        out[name] = values
    return out


class ValueSource(enum.Enum):
    """Which layer a key's effective value came from (loading.py's order, lowest first)."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    FLAG = "flag"


def value_source(config: Config, dotted: str) -> tuple[ValueSource, str]:
    """(layer, detail) of `section.key`: the file's path, the variable's name, or ''."""
    origin = config.origin(dotted)
    if origin == DEFAULTS:
        return ValueSource.DEFAULT, ""
    if origin == COMMAND_LINE:
        return ValueSource.FLAG, ""
    if origin.startswith(ENV_SOURCE):
        return ValueSource.ENV, origin[len(ENV_SOURCE) :]
    return ValueSource.FILE, origin


def _plain(value: Any) -> Any:
    if isinstance(value, Choice):
        return value.value
    if isinstance(value, AllowedCaller):
        return {"ae_title": value.ae_title, "hosts": list(value.hosts)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def dump_config(config: Config) -> str:
    """YAML text of the effective config, secrets redacted (for check-config and the log)."""
    return yaml.safe_dump(config_as_dict(config), sort_keys=False, default_flow_style=False)


def config_summary(config: Config) -> str:
    """The effective configuration in one line for the start-up log (the whole of it is
    logged at DEBUG and printed by `sr2fhir check-config`)."""
    dicom = config.dicom
    listeners = [
        f"{dicom.host}:{port}" for port in (dicom.port, dicom.tls_port) if port is not None
    ]
    if dicom.tls_port is not None:
        listeners[-1] += " (TLS)"
    sink = config.delivery.sink
    target = config.fhir.base_url if sink is SinkKind.FHIR else str(config.outbox_path)
    sources = set(config.origins.values())
    files = sorted(s for s in sources if s != COMMAND_LINE and not s.startswith(ENV_SOURCE))
    variables = sum(source.startswith(ENV_SOURCE) for source in config.origins.values())
    return (
        f"AE {dicom.ae_title} on {', '.join(listeners)}; data folder {config.spool.path}; "
        f"{config.workers.count} {config.workers.mode} worker(s); sink {sink} -> {target}; "
        f"configuration from {', '.join(files) or 'no file'}, {variables} environment "
        "variable(s)"
    )
