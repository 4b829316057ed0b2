"""Before the gateway starts (`serve`, and `check-config`): the files and folders the
configuration names load and are usable now, and its listeners can bind.

It asks their owners -- sr2fhir.scp.tls (the DICOM TLS listener), sr2fhir.delivery.fhir.client (the
FHIR server's TLS context), sr2fhir.delivery.fhir.auth (token sources, the SMART key),
sr2fhir.fsutil (folders) and sr2fhir.spool (the job database) -- and turns what they refuse
into one ConfigError naming each key. Never run at import or while loading: loading stays pure.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from sr2fhir.config.schema import Bearer, Config, SmartBackend
from sr2fhir.delivery.fhir.auth import TokenFile, bearer_source, load_signing_key
from sr2fhir.delivery.fhir.client import tls_context
from sr2fhir.errors import ConfigError, ConfigProblem, SpoolError
from sr2fhir.fsutil import folder_problem
from sr2fhir.ops.http import read_api_token
from sr2fhir.scp.tls import server_context
from sr2fhir.spool import check_database


def preflight(config: Config, *, ops_endpoint: bool = False) -> None:
    """Everything `serve` needs: the DICOM listeners' addresses and ports, the TLS files, the
    FHIR files, the folders, the job database (postgresql). `ops_endpoint` (check-config)
    adds http.host/http.port, which `serve` does without (it starts without its operations
    endpoint rather than not at all)."""
    _raise(preflight_problems(config, ops_endpoint=ops_endpoint))


def preflight_problems(config: Config, *, ops_endpoint: bool = False) -> list[ConfigProblem]:
    """What preflight raises, as a list."""
    problems = [*dicom_tls(config), *fhir_files(config), *folders(config), *database(config)]
    problems += api_token(config)
    return [*problems, *listeners(config, ops_endpoint=ops_endpoint)]


def preflight_fhir(config: Config) -> None:
    """What delivering to the FHIR server needs (`convert --push`)."""
    _raise(list(fhir_files(config)))


def _raise(problems: list[ConfigProblem]) -> None:
    if problems:
        raise ConfigError.of(problems)


def dicom_tls(config: Config) -> Iterator[ConfigProblem]:
    """The TLS listener's certificate, key and CA load (and belong together)."""
    if config.dicom.tls_port is None:
        return
    try:
        server_context(config.dicom)
    except ConfigError as exc:
        yield from exc.problems


def fhir_files(config: Config) -> Iterator[ConfigProblem]:
    """The CA bundle and client certificate load; the bearer token or SMART key is there."""
    fhir = config.fhir
    if fhir.ca_bundle or fhir.client_cert:
        try:
            tls_context(fhir.ca_bundle or fhir.verify_tls, fhir.client_cert, fhir.client_key)
        except ConfigError as exc:
            yield from exc.problems
    auth = fhir.auth
    if isinstance(auth, Bearer):
        yield from _bearer(auth)
    elif isinstance(auth, SmartBackend):
        try:
            load_signing_key(auth.key_file)
        except ValueError as exc:
            src = config.origin("fhir.smart_key_file")
            yield ConfigProblem("fhir.smart_key_file", src, f"{src}: fhir.smart_key_file: {exc}")


def _bearer(auth: Bearer) -> Iterator[ConfigProblem]:
    """The token source holds a token now."""
    try:
        bearer_source(auth)
    except ConfigError as exc:
        yield from exc.problems
    if auth.token_file is None:
        return
    key, path = "fhir.auth_token_file", auth.token_file
    try:
        TokenFile(path).read()
    except OSError as exc:
        yield ConfigProblem(key, "", f"{key}: cannot read {path}: {exc.strerror}")
    except ValueError:
        yield ConfigProblem(key, "", f"{key}: {path} is empty")


def api_token(config: Config) -> Iterator[ConfigProblem]:
    """The queue API's token file or variable, when one is named, holds a token."""
    if not config.http.enabled:
        return
    try:
        read_api_token(config.http)
    except ConfigError as exc:
        for problem in exc.problems:
            source = config.origin(problem.key)
            yield ConfigProblem(problem.key, source, f"{source}: {problem.text}")


def folders(config: Config) -> Iterator[ConfigProblem]:
    """The data folder, and the outbox and audit folders when given, can be written to."""
    given = [("spool.data_dir", config.spool.path)]
    if config.delivery.outbox_dir is not None:  # else it lives inside data_dir
        given.append(("delivery.outbox_dir", config.outbox_path))
    if config.audit.enabled and config.audit.dir is not None:
        given.append(("audit.dir", config.audit_path))
    for key, path in given:
        problem = folder_problem(path)
        if problem:
            yield _problem(config, key, f"{path} {problem}")


def listeners(config: Config, *, ops_endpoint: bool) -> Iterator[ConfigProblem]:
    """The DICOM listeners (and the operations endpoint) can bind their address and port
    now: the host resolves to an address of this machine, the port is free and allowed."""
    dicom, http = config.dicom, config.http
    wanted = [
        ("dicom", dicom.host, "port", dicom.port),
        ("dicom", dicom.host, "tls_port", dicom.tls_port),
    ]
    if ops_endpoint and http.enabled:
        wanted.append(("http", http.host, "port", http.port))
    said: set[str] = set()
    for section, host, port_key, port in wanted:
        if port is None:
            continue
        problem = _bind_problem(config, section, host, f"{section}.{port_key}", port)
        if problem is not None and problem.key not in said:
            said.add(problem.key)
            yield problem


def _bind_problem(
    config: Config, section: str, host: str, port_key: str, port: int
) -> ConfigProblem | None:
    host_key = f"{section}.host"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        return _problem(
            config, host_key, f"{host!r} is not an address or a name that resolves ({why})"
        )
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listeners do
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return _problem(config, host_key, f"{host} is not an address of this machine")
            if exc.errno == errno.EADDRINUSE:
                why = f"port {port} on {host} is in use (another program, or a running gateway)"
                src = config.origin(port_key)
                return PortInUse(port_key, src, f"{src}: {port_key}: {why}")
            if exc.errno == errno.EACCES:
                why = f"port {port} needs root or CAP_NET_BIND_SERVICE (ports below 1024)"
            else:
                why = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            return _problem(config, port_key, why)
    return None


@dataclass(frozen=True, slots=True)
class PortInUse(ConfigProblem):
    """A port something listens on already: `serve` cannot start, but `check-config` of the
    configuration of a running gateway says so without failing."""


def _problem(config: Config, key: str, why: str) -> ConfigProblem:
    src = config.origin(key)
    return ConfigProblem(key, src, f"{src}: {key}: {why}")


def database(config: Config) -> Iterator[ConfigProblem]:
    """spool.backend postgresql: the password source holds one and the database answers
    (its schema version is checked when the gateway opens it: a one-line refusal)."""
    try:
        check_database(config)
    except ConfigError as exc:
        yield from exc.problems
    except SpoolError as exc:
        yield _problem(config, "spool.database_url", str(exc))
