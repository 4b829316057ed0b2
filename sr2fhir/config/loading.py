"""Layers -> one Config: embedded defaults < YAML file < environment (`SR2FHIR_<SECTION>_<KEY>`,
values read as YAML scalars) < command-line flags.

Values are coerced from the schema's type hints and checked by the checks beside the fields
(schema.py), then the rules between keys run. Every problem found is collected and one
ConfigError lists them all, each naming the key and where its value came from. Nothing
here touches a file named by a key: preflight.py does that for `serve` and `check-config`.

Why no validation library: pydantic (2.13, installed here for fhir.resources) costs ~200 ms
of imports, and msgspec (0.22) a compiled dependency, in every process (each CLI command,
each worker process); neither builds the fhir auth variant from the flat keys of the file
or keeps today's messages without a layer of its own. The hint-driven coercer below is ~60
lines (numbers: docs/gateway.md "Configuration internals").
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import yaml

from sr2fhir.config.schema import (
    AUTH_KIND_KEY,
    AUTH_VARIANTS,
    COMMAND_LINE,
    DEFAULTS,
    ENV_SOURCE,
    SECTIONS,
    AllowedCaller,
    AuthKind,
    Bearer,
    Choice,
    Config,
    DicomConfig,
    FhirAuth,
    FhirConfig,
    HttpConfig,
    Key,
    NoAuth,
    SinkKind,
    SpoolBackend,
    SpoolConfig,
    auth_file_key,
    section_keys,
)
from sr2fhir.errors import ConfigError, ConfigProblem

ENV_PREFIX = "SR2FHIR_"

Given = dict[str, dict[str, tuple[Any, str]]]
"""section -> key -> (value as written, where it came from)."""


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read the YAML file (if any), apply env and CLI overrides (`"section.key": value`)."""
    config, problems = load_with_problems(path, env, overrides)
    if problems:
        raise ConfigError.of(problems)
    return config


def load_with_problems(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Config, list[ConfigProblem]]:
    """As load_config, but the problems are returned beside a Config in which each wrong
    value is left at its default (check-config goes on to check the rest); a file that cannot
    be read or parsed still raises ConfigError."""
    problems: list[ConfigProblem] = []
    given: Given = {}
    if path is not None:
        _merge(given, _read_yaml(Path(path)), str(path), problems)
    for (section, key), (value, src) in _env_layer(os.environ if env is None else env, problems):
        given.setdefault(section, {})[key] = (value, src)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            given.setdefault(section, {})[key] = (value, COMMAND_LINE)
    return _Builder(given, problems).build(), problems


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", source=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc), source=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        text = f"{path}: the top level must be a mapping of sections"
        raise ConfigError(text, source=str(path))
    return data


def yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """`FILE:LINE:COLUMN: not valid YAML: what (while what, from line L)` (1-based)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"{path}: not valid YAML: {str(exc).splitlines()[0]}"
    mark = exc.problem_mark
    text = f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {exc.problem}"
    if exc.context:
        start = exc.context_mark
        where = f" from line {start.line + 1}" if start is not None else ""
        text += f" ({exc.context}{where})"
    return text


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """`unknown key dicom.prot; did you mean dicom.port? (known: ...)`, known names sorted."""
    names = sorted(known)
    prefix, _, last = name.rpartition(".")
    guesses = difflib.get_close_matches(last, names, n=1)
    guess = f"; did you mean {prefix + '.' if prefix else ''}{guesses[0]}?" if guesses else ""
    return f"unknown {what} {name}{guess} (known: {', '.join(names)})"


def _merge(given: Given, layer: Mapping[Any, Any], src: str, problems: list[ConfigProblem]) -> None:
    for section, values in layer.items():
        if section not in SECTIONS:
            text = f"{src}: {unknown('section', str(section), SECTIONS)}"
            problems.append(ConfigProblem(str(section), src, text))
        elif not isinstance(values, dict | None):
            text = f"{src}: section {section!r} must be a mapping"
            problems.append(ConfigProblem(section, src, text))
        else:
            for key, value in (values or {}).items():
                given.setdefault(section, {})[str(key)] = (value, src)


def _env_layer(
    env: Mapping[str, str], problems: list[ConfigProblem]
) -> Iterator[tuple[tuple[str, str], tuple[Any, str]]]:
    """SR2FHIR_DICOM_PORT=4242 -> (("dicom", "port"), (4242, "environment variable ..."))."""
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        src = f"{ENV_SOURCE}{name}"
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:  # e.g. SR2FHIR_TEST_FHIR_URL: another tool's, not the gateway's
            continue
        key = rest[len(section) + 1 :]
        try:
            value = yaml.safe_load(text) if text != "" else None
        except yaml.YAMLError:
            problems.append(ConfigProblem(f"{section}.{key}", src, f"{src}: not a valid value"))
            continue
        yield (section, key), (value, src)


# ---------------------------------------------------------------- typed construction


class _Wrong(Exception):
    """A value of the wrong type; the message is the tail after the key."""


class _Builder:
    """Builds the sections from what was given, collecting every problem."""

    def __init__(self, given: Given, problems: list[ConfigProblem]) -> None:
        self.given = given
        self.problems = problems
        self.origins = {
            f"{section}.{key}": src
            for section, keys in given.items()
            for key, (_, src) in keys.items()
        }

    def build(self) -> Config:
        defaults = Config()
        sections = {name: self._section(name, getattr(defaults, name)) for name in SECTIONS}
        config = Config(**sections, origins=self.origins)
        base_url_wrong = any(p.key == "fhir.base_url" for p in self.problems)
        if (
            config.delivery.sink is SinkKind.FHIR
            and not config.fhir.base_url
            and not base_url_wrong
        ):
            src = self.origins.get("delivery.sink", DEFAULTS)
            text = f"{src}: delivery.sink is fhir but fhir.base_url is not set"
            self.problems.append(ConfigProblem("fhir.base_url", src, text))
        return config

    def problem(self, key: str, src: str, text: str) -> None:
        self.problems.append(ConfigProblem(key, src, text))

    def _section(self, name: str, default: Any) -> Any:
        before = len(self.problems)
        keys = {key.name: key for key in section_keys(name)}
        values: dict[str, Any] = {}
        for key_name, (value, src) in self.given.get(name, {}).items():
            key = keys.get(key_name)
            if key is None:
                text = unknown("key", f"{name}.{key_name}", keys)
                self.problem(f"{name}.{key_name}", src, f"{src}: {text}")
                continue
            try:
                values[key_name] = coerce(key.hint, value)
            except _Wrong as exc:
                self.problem(key.dotted, src, f"{src}: {key.dotted}{exc}")
        for key in keys.values():
            if not self._check(key, values.get(key.name, key.default)):
                values.pop(key.name, None)  # the default stands in (see load_with_problems)
        plain = {k: v for k, v in values.items() if keys[k].variant is None and k != AUTH_KIND_KEY}
        section = dataclasses.replace(default, **plain)
        if len(self.problems) > before:  # rules between keys only on values that are right
            return section
        if name == "fhir":
            return self._fhir(section, values)
        if name == "dicom":
            for rule_key, text in dicom_rules(section):
                self.problem(rule_key, "", text)
        if name == "spool":
            for rule_key, text in spool_rules(section):
                self.problem(rule_key, self.origins.get(rule_key, DEFAULTS), text)
        if name == "http":
            for rule_key, text in http_rules(section):
                self.problem(rule_key, self.origins.get(rule_key, DEFAULTS), text)
        return section

    def _check(self, key: Key, value: Any) -> bool:
        """True when `value` passes the key's own check; else the problem is noted."""
        problem = key.check(value) if key.check is not None else None
        if problem:
            src = self.origins.get(key.dotted, DEFAULTS)
            self.problem(key.dotted, src, f"{src}: {key.dotted}: {problem}")
        return not problem

    def _fhir(self, fhir: FhirConfig, values: dict[str, Any]) -> FhirConfig:
        rules = list(fhir_rules(fhir, values))
        for key, text in rules:
            self.problem(key, "", text)
        if rules:
            return fhir
        return dataclasses.replace(fhir, auth=build_auth(values))


def coerce(hint: Any, value: Any) -> Any:
    """`value` as read from YAML, as the type `hint` says; _Wrong if it is not one."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else coerce(args[0], value)
    if isinstance(hint, type) and issubclass(hint, Choice):
        with contextlib.suppress(ValueError):  # a member's value, or a spelling it accepts
            if isinstance(value, str):
                return hint(value)
        raise _Wrong(f": must be one of {', '.join(m.value for m in hint)}")
    simple = _SIMPLE.get(hint)
    if simple is not None:
        accepts, expected = simple
        if not accepts(value):
            raise _Wrong(f" must be {expected}, got {type(value).__name__}")
        return float(value) if hint is float else value
    if hint == tuple[AllowedCaller, ...]:
        if not isinstance(value, list):
            raise _Wrong(
                " must be a list of AE titles or {ae_title, hosts} mappings, got "
                + type(value).__name__
            )
        return tuple(_allowed_caller(item) for item in value)
    if hint == tuple[tuple[str, str], ...]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise _Wrong(f" must be a mapping of strings to strings, got {type(value).__name__}")
        return tuple(sorted(value.items()))
    raise AssertionError(f"no coercion for {hint!r}")  # pragma: no cover - a schema mistake


_SIMPLE: dict[Any, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _allowed_caller(item: Any) -> AllowedCaller:
    if isinstance(item, str):
        return AllowedCaller(item)
    if isinstance(item, dict) and set(item) <= {"ae_title", "hosts"}:
        title, hosts = item.get("ae_title"), item.get("hosts", [])
        hosts_ok = isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
        if isinstance(title, str) and hosts_ok:
            return AllowedCaller(title, tuple(hosts))
    raise _Wrong(": each entry is an AE title or {ae_title: X, hosts: [..]}")


# ---------------------------------------------------------------- rules between keys


def dicom_rules(dicom: DicomConfig) -> Iterator[tuple[str, str]]:
    """(key, message) for each listener rule broken."""
    if dicom.port is None and dicom.tls_port is None:
        yield "dicom.port", "dicom.port and dicom.tls_port are both null: no listener"
    if dicom.tls_port is not None and dicom.tls_port == dicom.port and dicom.port != 0:
        yield "dicom.tls_port", f"dicom.tls_port: must differ from dicom.port (both {dicom.port})"
    if dicom.tls_require_client_cert and dicom.tls_ca is None:
        text = "dicom.tls_require_client_cert is true but dicom.tls_ca is not set"
        yield "dicom.tls_require_client_cert", text


def spool_rules(spool: SpoolConfig) -> Iterator[tuple[str, str]]:
    """(key, message) for each rule broken between the spool keys."""
    if spool.backend is SpoolBackend.POSTGRESQL and not spool.database_url:
        yield "spool.database_url", "spool.backend is postgresql but spool.database_url is not set"
    if spool.database_password_env and spool.database_password_file:
        text = "spool.database_password_env and spool.database_password_file are both set: keep one"
        yield "spool.database_password_file", text


def http_rules(http: HttpConfig) -> Iterator[tuple[str, str]]:
    """(key, message) for each rule broken between the http keys."""
    if http.console and not (http.api_token_file or http.api_token_env):
        text = "http.console is true but neither http.api_token_file nor http.api_token_env is set"
        yield "http.console", text


def fhir_rules(fhir: FhirConfig, values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, message) for each rule broken between the fhir keys as given (`values`)."""
    if fhir.client_key and not fhir.client_cert:
        yield "fhir.client_key", "fhir.client_key is set but fhir.client_cert is not"
    kind: AuthKind = values.get(AUTH_KIND_KEY, AuthKind.NONE)
    for variant in AUTH_VARIANTS:
        for f in dataclasses.fields(variant):
            key = auth_file_key(variant, f.name)
            if variant.kind is not kind and values.get(key):
                yield (
                    f"fhir.{key}",
                    f"fhir.{key} is set but fhir.auth_kind is {kind} (not {variant.kind})",
                )
    for key in _missing(kind, values):
        yield f"fhir.{key}", f"fhir.auth_kind is {kind} but fhir.{key} is not set"
    if kind is not AuthKind.NONE and any(
        name.lower() == "authorization" for name, _ in fhir.headers
    ):
        yield (
            "fhir.headers",
            f"fhir.headers sets Authorization and fhir.auth_kind is {kind}: keep one",
        )
    if kind is AuthKind.BEARER:
        sources = [auth_file_key(Bearer, f.name) for f in dataclasses.fields(Bearer)]
        given = [key for key in sources if values.get(key)]
        if len(given) != 1:
            found = f" (got {' and '.join(given)})" if given else ""
            names = ", ".join(f"fhir.{key}" for key in sources)
            yield "fhir.auth_kind", f"fhir.auth_kind bearer needs one of {names}{found}"


def _missing(kind: AuthKind, values: Mapping[str, Any]) -> Iterator[str]:
    """The required keys of `kind`'s variant that are not given."""
    for variant in AUTH_VARIANTS:
        if variant.kind is kind:
            for f in dataclasses.fields(variant):
                required = f.default is dataclasses.MISSING
                key = auth_file_key(variant, f.name)
                if required and not values.get(key):
                    yield key


def build_auth(values: Mapping[str, Any]) -> FhirAuth:
    """The FhirAuth variant `auth_kind` names, from the flat keys (rules already passed)."""
    kind = values.get(AUTH_KIND_KEY, AuthKind.NONE)
    for variant in AUTH_VARIANTS:
        if variant.kind is kind:
            fields = {
                f.name: values.get(auth_file_key(variant, f.name))
                for f in dataclasses.fields(variant)
            }
            return variant(**{k: v for k, v in fields.items() if v is not None})
    return NoAuth()
