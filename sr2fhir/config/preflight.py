"""Before the gateway starts (`serve`, and `check-config`): the files and folders the
configuration names load and are usable now.

It asks their owners -- sr2fhir.scp.tls (the DICOM TLS listener), sr2fhir.delivery.fhir.client (the
FHIR server's TLS context), sr2fhir.delivery.fhir.auth (token sources, the SMART key),
sr2fhir.fsutil (folders) and sr2fhir.spool (the job database) -- and turns what they refuse
into one ConfigError naming each key. Never run at import or while loading: loading stays pure.
"""

from __future__ import annotations

from collections.abc import Iterator

from sr2fhir.config.schema import Bearer, Config, SmartBackend
from sr2fhir.delivery.fhir.auth import TokenFile, bearer_source, load_signing_key
from sr2fhir.delivery.fhir.client import tls_context
from sr2fhir.errors import ConfigError, ConfigProblem, SpoolError
from sr2fhir.fsutil import folder_problem
from sr2fhir.scp.tls import server_context
from sr2fhir.spool import check_database


def preflight(config: Config) -> None:
    """Everything `serve` needs: the DICOM TLS listener, the FHIR files, the folders, the
    job database (postgresql)."""
    _raise([*dicom_tls(config), *fhir_files(config), *folders(config), *database(config)])


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
            src = config.origin(key)
            yield ConfigProblem(key, src, f"{src}: {key}: {path} {problem}")


def database(config: Config) -> Iterator[ConfigProblem]:
    """spool.backend postgresql: the password source holds one and the database answers
    (its schema version is checked when the gateway opens it: a one-line refusal)."""
    try:
        check_database(config)
    except ConfigError as exc:
        yield from exc.problems
    except SpoolError as exc:
        key = "spool.database_url"
        src = config.origin(key)
        yield ConfigProblem(key, src, f"{src}: {key}: {exc}")
