"""DICOM TLS for the Storage SCP's TLS listener (PS3.15 B.9 BCP 195 profile: TLS 1.2 or newer).

pynetdicom wraps each accepted socket in its accept loop, where a handshake would block every
other connection until a silent or slow client gives up. The context built here wraps without
handshaking, into `GuardedSSLSocket`s (sr2fhir.scp.guard); `TlsHandshake` (on EVT_CONN_OPEN)
runs it in the connection's own thread, bounded by `dicom.request_timeout`, and drops the
connection when it fails.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from typing import Any

from sr2fhir.config import DicomConfig
from sr2fhir.errors import ConfigError
from sr2fhir.scp.guard import GuardedSocket, GuardedSSLSocket

log = logging.getLogger(__name__)

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class _HandshakeInConnectionThread(ssl.SSLContext):
    """An SSLContext whose server-side sockets are guarded and defer the handshake."""

    sslsocket_class = GuardedSSLSocket

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect and not server_side,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )


def server_context(config: DicomConfig) -> ssl.SSLContext:
    """The TLS listener's context; a file that does not load is a ConfigError naming its key."""
    cert, key, ca = config.tls_cert, config.tls_key, config.tls_ca
    if cert is None or key is None:
        text = "dicom.tls_port is set: dicom.tls_cert and dicom.tls_key are required"
        raise ConfigError(text, key="dicom.tls_cert" if cert is None else "dicom.tls_key")
    for name, path in (("tls_cert", cert), ("tls_key", key), ("tls_ca", ca)):
        _check_readable(name, path)
    _load_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), "tls_cert", cert)
    context = _HandshakeInConnectionThread(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    try:  # the password callback: an encrypted key fails here instead of prompting on a tty
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            text = f"dicom.tls_key: {key} does not match dicom.tls_cert {cert}"
            raise ConfigError(text, key="dicom.tls_key") from exc
        text = f"dicom.tls_key: {key} is not an unencrypted PEM private key"
        raise ConfigError(text, key="dicom.tls_key") from exc
    if ca is not None:
        _load_certificates(context, "tls_ca", ca)
        context.verify_mode = (
            ssl.CERT_REQUIRED if config.client_cert_required else ssl.CERT_OPTIONAL
        )
    return context


def client_policy(config: DicomConfig) -> str:
    """The client-certificate policy in words, for the start-up log."""
    if config.tls_ca is None:
        return "no client certificate asked for"
    if config.client_cert_required:
        return f"client certificate required, issued by a CA in {config.tls_ca}"
    return f"client certificate optional, checked against {config.tls_ca} when sent"


def _check_readable(key: str, path: str | None) -> None:
    if path is None:
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        text = f"dicom.{key}: cannot read {path}: {exc.strerror or exc}"
        raise ConfigError(text, key=f"dicom.{key}") from exc


def _load_certificates(context: ssl.SSLContext, key: str, path: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        text = f"dicom.{key}: {path} holds no PEM certificate"
        raise ConfigError(text, key=f"dicom.{key}") from exc


class TlsHandshake:
    """EVT_CONN_OPEN on the TLS listener: handshake in this connection's thread, or drop it.

    A failed handshake (no client certificate, one from another CA, plain DICOM on the TLS
    port, a silent client) is logged with the peer's address and reason, never key material.
    """

    def __init__(self, timeout: float, accepting: threading.Event) -> None:
        self._timeout = timeout
        self._accepting = accepting

    def __call__(self, event: Any) -> None:
        assoc = event.assoc
        sock = assoc.dul.socket.socket
        address = str(event.address[0])
        try:
            sock.settimeout(self._timeout)
            sock.do_handshake()
            sock.settimeout(None)  # as a plain accepted socket: pynetdicom polls before reading
        except (OSError, ValueError) as exc:  # ssl.SSLError and socket timeouts are OSErrors
            if isinstance(exc, ssl.SSLEOFError) or _ended(sock):  # a probe, or dropped
                log.debug("connection from %s closed during the TLS handshake", address)
            else:
                log.warning("TLS handshake with %s failed: %s", address, _reason(exc))
            _drop(assoc)
            return
        if not self._accepting.is_set():
            log.info("TLS connection from %s dropped: the SCP is stopping", address)
            _drop(assoc)
            return
        log.debug(
            "TLS connection from %s: %s %s, client certificate %s",
            address,
            sock.version(),
            sock.cipher()[0],
            _subject(sock.getpeercert()) or "none",
        )


def _ended(sock: Any) -> bool:
    """The gateway closed it (pending too long, or the SCP stops): already logged."""
    return isinstance(sock, GuardedSocket) and sock.ended


def _drop(assoc: Any) -> None:
    """Close the connection; a zero ACSE timeout ends the association thread at once
    (instead of it waiting acse_timeout for an A-ASSOCIATE-RQ that cannot come)."""
    assoc.dul.socket.close()
    assoc.acse_timeout = 0


_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate sent",
    "WRONG_VERSION_NUMBER": "not a TLS client hello (plain DICOM on the TLS port?)",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust our certificate (unknown CA)",
}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"client certificate not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return _REASONS.get(exc.reason, exc.reason)
    if isinstance(exc, TimeoutError):
        return "no handshake within dicom.request_timeout"
    return str(exc) or type(exc).__name__


def _subject(peer: Any) -> str:
    """The client certificate's subject as "CN=..., O=..." (a machine identity, not PHI)."""
    if not peer:
        return ""
    parts = (f"{name}={value}" for rdn in peer.get("subject", ()) for name, value in rdn)
    return ", ".join(parts)
