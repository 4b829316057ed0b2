"""HTTP to one FHIR server through fhirclient's server connection (one requests session).

Every request of the gateway goes through `FhirHttp.request`, so authentication, TLS and
extra headers are set in one place: the session carries the auth object (sr2fhir.delivery.fhir.auth)
and, for https, one ssl context (TLS 1.2 or newer, the CA trust, the client certificate).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from fhirclient.server import FHIRServer
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from sr2fhir.delivery.fhir.outcome import parse_answer, raise_for_status
from sr2fhir.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from sr2fhir.events import SILENT, Emitter, GatewayEvent

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class FhirEndpoint:
    """Where and how to talk to the server."""

    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    verify: bool | str = True  # False, True (system CAs) or a CA bundle path
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    client_cert: str | None = None  # PEM certificate for mutual TLS (may hold the key too)
    client_key: str | None = None

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


class FhirHttp:
    """The gateway's only HTTP client for FHIR (search and transaction)."""

    def __init__(
        self,
        endpoint: FhirEndpoint,
        session: requests.Session | None = None,
        auth: AuthBase | None = None,
        events: Emitter = SILENT,
    ) -> None:
        """`events` hears of every answer of the server (FHIR_RESPONSE: method, code)."""
        self.endpoint = endpoint
        self.events = events
        self.base = endpoint.base_url.rstrip("/")
        self.host = host_and_port(self.base)
        self.server = FHIRServer(None, base_uri=self.base + "/")
        if session is not None:
            self.server.session = session
        self.session: requests.Session = configure_tls(self.server.session, endpoint)
        self.session.auth = auth
        self.session.headers.update({"Accept": FHIR_JSON, **dict(endpoint.headers)})

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """One request (within the endpoint's timeouts unless `timeout` (connect, read) is
        given); network failures become TransientDeliveryError."""
        url = f"{self.base}/{path}" if path else self.base
        data = None if body is None else encode_json(body)
        headers = {"Content-Type": FHIR_JSON} if data is not None else {}
        try:
            response = self.session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout or self.endpoint.timeout,
            )
        except requests.RequestException as exc:
            why = request_failure(exc, self.host)
            raise TransientDeliveryError(f"{method} {_what(path)}: {why}") from exc
        self.events.emit(GatewayEvent.FHIR_RESPONSE, method=method, code=str(response.status_code))
        return response

    def search(self, resource_type: str, params: dict[str, str]) -> dict[str, Any]:
        """GET [base]/Type?params; raises a DeliveryError on failure."""
        response = self.request("GET", f"{resource_type}?{urlencode(params)}")
        raise_for_status(
            response.status_code,
            response.content,
            response.headers.get("Retry-After"),
            f"search {resource_type}",
        )
        return parse_answer(response.content, f"search {resource_type}")

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle to the base URL; the transaction-response on 2xx."""
        return self.post_transaction(bundle)[1]

    def post_transaction(self, bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`transaction`, with the HTTP status of the answer."""
        response = self.request("POST", "", bundle)
        raise_for_status(
            response.status_code,
            response.content,
            response.headers.get("Retry-After"),
            "transaction",
        )
        return response.status_code, parse_answer(response.content, "transaction")


def encode_json(body: dict[str, Any]) -> bytes:
    """Compact JSON; a NaN or an infinity (not JSON) fails the delivery for good."""
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except ValueError as exc:
        raise PermanentDeliveryError(f"Bundle is not valid JSON: {exc}") from exc


def _what(path: str) -> str:
    """A request's resource type for messages (never the query: it may carry identifiers)."""
    return path.split("?", 1)[0] or "transaction"


# ---------------------------------------------------------------- TLS


def tls_context(
    verify: bool | str, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext:
    """TLS 1.2 or newer; the server checked against a CA bundle (a path), the system CAs
    (True) or not at all (False); a client certificate for mutual TLS. Unreadable or
    mismatched files are a ConfigError naming the key."""
    bundle = verify if isinstance(verify, str) else None
    try:
        if bundle is not None and os.path.isdir(bundle):
            context = ssl.create_default_context(capath=bundle)
        else:
            context = ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        text = f"fhir.ca_bundle: cannot load {bundle}: {_file_problem(exc)}"
        raise ConfigError(text, key="fhir.ca_bundle") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        try:  # a password callback: an encrypted key fails here instead of prompting on a tty
            context.load_cert_chain(client_cert, client_key, password=lambda: b"")
        except (OSError, ssl.SSLError) as exc:
            files = client_cert + (f" and fhir.client_key {client_key}" if client_key else "")
            problem = _file_problem(exc)
            text = f"fhir.client_cert: cannot load {files}: {problem}"
            raise ConfigError(text, key="fhir.client_cert") from exc
    return context


class TlsAdapter(HTTPAdapter):
    """HTTPS through one ssl context, which carries the trust and the client certificate."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__()

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, cert)
        required = self.context.verify_mode != ssl.CERT_NONE
        reqs = "CERT_REQUIRED" if required else "CERT_NONE"
        return host_params, {"ssl_context": self.context, "cert_reqs": reqs}

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Nothing per connection: the context already holds the CAs and the client cert."""


def configure_tls(session: requests.Session, endpoint: FhirEndpoint) -> requests.Session:
    """Mount the endpoint's TLS settings on `session` (used for FHIR and for OAuth alike)."""
    context = tls_context(endpoint.verify, endpoint.client_cert, endpoint.client_key)
    session.mount("https://", TlsAdapter(context))
    session.verify = endpoint.verify
    return session


_TLS_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "server certificate not trusted (fhir.ca_bundle)",
    "UNSUPPORTED_PROTOCOL": "no common TLS version (sr2fhir needs TLS 1.2 or newer)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no common TLS version (sr2fhir needs TLS 1.2 or newer)",
    "WRONG_VERSION_NUMBER": "the server does not speak TLS 1.2+ there (an http:// port?)",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server wants a client certificate (fhir.client_cert)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake refused (a client certificate needed?)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused our client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust our client certificate's issuer",
}
_EOF_HINT = (
    "the server ended the TLS session (client certificate missing or refused? fhir.client_cert)"
)
_TLS_HINTS |= {"SSLEOFError": _EOF_HINT, "UNEXPECTED_EOF_WHILE_READING": _EOF_HINT}


def host_and_port(url: str) -> str:
    """`host:port` of a URL, the scheme's port when it names none (for messages)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: shown as written
        return parts.netloc
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or parts.netloc
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def request_failure(exc: requests.RequestException, host: str) -> str:
    """Why a request to `host` (host:port) failed, in one line without the URL (its query
    may carry identifiers): `ConnectionError: cannot connect to fhir.example:443 (connection
    refused)`."""
    if isinstance(exc, requests.Timeout):
        return f"timed out ({host})"
    failure = _cause(exc, ssl.SSLError)
    if failure is not None:
        return f"TLS with {host}: {_tls_reason(failure)}"
    if isinstance(exc, requests.ConnectionError):
        return f"ConnectionError: cannot connect to {host} ({_network_reason(exc)})"
    return f"{type(exc).__name__} ({host})"


def _network_reason(exc: BaseException) -> str:
    """The operating system's reason under a connection error: refused, name not found ..."""
    resolving = _cause(exc, socket.gaierror)
    if resolving is not None:
        return f"host name not resolved: {resolving.strerror or resolving}"
    os_error = _cause(exc, OSError, lambda err: err.errno is not None)
    if os_error is not None:  # (requests' own errors are OSErrors without an errno)
        return os.strerror(os_error.errno or 0).lower()
    return "no connection"


_Cause = TypeVar("_Cause", bound=BaseException)


def _cause(
    exc: BaseException, kind: type[_Cause], wanted: Callable[[_Cause], bool] = lambda err: True
) -> _Cause | None:
    """The first `wanted` error of `kind` under a requests/urllib3 exception (args, reason,
    causes)."""
    todo, seen = [exc], set()
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, kind) and wanted(err):
            return err
        linked = [*err.args, getattr(err, "reason", None), err.__cause__, err.__context__]
        todo += [e for e in linked if isinstance(e, BaseException)]
    return None


def _tls_reason(err: ssl.SSLError) -> str:
    """One line for the log: the OpenSSL reason and what it usually means (no URL, no query)."""
    reason = str(err.reason or type(err).__name__)
    hint = _TLS_HINTS.get(reason)
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"{hint}: {err.verify_message}"
    return f"{hint} [{reason}]" if hint else reason


_FILE_HINTS = {
    "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
    "NO_CERTIFICATE_OR_CRL_FOUND": "no PEM certificate in it",
}


def _file_problem(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or "")
        unusable = "not usable PEM (wrong format, or an encrypted key)"
        return _FILE_HINTS.get(reason, f"{unusable} [{reason}]" if reason else unusable)
    return str(exc.strerror or exc)
