"""The Storage SCP: which SOP classes and transfer syntaxes it accepts, its plain and TLS
listeners (with their pending connections in one lobby), start and graceful stop."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    BasicTextSRStorage,
    Comprehensive3DSRStorage,
    ComprehensiveSRStorage,
    EnhancedSRStorage,
    ExtensibleSRStorage,
    KeyObjectSelectionDocumentStorage,
    Verification,
)

from sr2fhir.config import DicomConfig
from sr2fhir.errors import ConfigError
from sr2fhir.events import SILENT, Emitter
from sr2fhir.scp.admission import AdmissionControl, GatedServer, peer_of, toolkit_limit
from sr2fhir.scp.associations import AssociationWatch, CalledAeCheck
from sr2fhir.scp.guard import PduLimits
from sr2fhir.scp.handlers import CallerPolicy, Receive, StoreHandler, handle_echo
from sr2fhir.scp.lobby import Lobby
from sr2fhir.scp.tls import TlsHandshake, client_policy, server_context

log = logging.getLogger(__name__)

PLAIN = "plain"
TLS = "tls"

SR_STORAGE_CLASSES = (
    BasicTextSRStorage,  # 1.2.840.10008.5.1.4.1.1.88.11
    EnhancedSRStorage,  # .88.22
    ComprehensiveSRStorage,  # .88.33
    Comprehensive3DSRStorage,  # .88.34
    ExtensibleSRStorage,  # .88.35
    KeyObjectSelectionDocumentStorage,  # .88.59: IHE IOCM rejection notes (sr2fhir.lifecycle)
)
TRANSFER_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)


def build_ae(config: DicomConfig) -> AE:
    """An AE that accepts only SR storage and Verification; everything else is refused."""
    ae = AE(ae_title=config.ae_title)
    for sop_class in SR_STORAGE_CLASSES:
        ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
    ae.add_supported_context(Verification, list(TRANSFER_SYNTAXES))
    ae.maximum_associations = toolkit_limit(config.max_associations, config.max_pending_connections)
    ae.maximum_pdu_size = config.max_pdu_size
    ae.acse_timeout = config.acse_timeout
    ae.dimse_timeout = config.dimse_timeout
    ae.network_timeout = config.network_timeout
    return ae


class StorageScp:
    """Plain and/or TLS listeners sharing one AE, handlers and spool; `stop` drains both."""

    def __init__(self, config: DicomConfig, receive: Receive, events: Emitter = SILENT) -> None:
        """`events` hears of each association result and each instance stored or refused."""
        self.config = config
        self._ae = build_ae(config)
        self._handlers: list[Any] = [
            *AssociationWatch(events).handlers(),  # first: before the allow-list rejects
            (evt.EVT_C_STORE, StoreHandler(receive, events)),
            (evt.EVT_C_ECHO, handle_echo),
        ]
        policy = CallerPolicy(config.allowed_callers)
        if policy.enabled:
            self._handlers.append((evt.EVT_REQUESTED, policy))
        called = CalledAeCheck(config.ae_title, config.require_called_ae, events)
        self._handlers.append((evt.EVT_REQUESTED, called))  # after the allow-list
        self._accepting = threading.Event()
        self._lobby = Lobby(config.max_pending_connections, config.request_timeout)
        self._admission = AdmissionControl(
            self._lobby, config.max_associations, config.acse_timeout, self._accepting
        )
        self._handlers += self._admission.handlers()  # after the allow-list
        self._limits = PduLimits(
            request_size=config.max_request_size,
            pdu_size=config.max_pdu_size,
            request_timeout=config.request_timeout,
            network_timeout=config.network_timeout,
        )
        self._servers: dict[str, GatedServer] = {}  # PLAIN / TLS

    def start(self) -> None:
        """Listen on the configured ports; if one cannot be opened, none stays open."""
        self._accepting.set()
        self._lobby.start()
        try:
            if self.config.port is not None:
                self._listen(PLAIN, self.config.port, None, [], "plain DICOM")
            if self.config.tls_port is not None:
                self._listen(TLS, self.config.tls_port, *self._tls_setup())
        except OSError:
            self.stop(0)
            raise

    def _tls_setup(self) -> tuple[ssl.SSLContext, list[Any], str]:
        """Context, handshake handler and log words; files checked at config load that no
        longer load are a start-up failure (OSError, like a port in use)."""
        try:
            context = server_context(self.config)
        except ConfigError as exc:
            raise OSError(f"TLS listener: {exc}") from exc
        handshake = TlsHandshake(self.config.request_timeout, self._accepting)
        what = f"DICOM TLS 1.2+, {client_policy(self.config)}"
        return context, [(evt.EVT_CONN_OPEN, handshake)], what

    def _listen(
        self, name: str, port: int, context: ssl.SSLContext | None, extra: list[Any], what: str
    ) -> None:
        server = self._ae.make_server(
            (self.config.host, port),
            evt_handlers=[*self._handlers, *extra],
            ssl_context=context,
            server_class=GatedServer,
            lobby=self._lobby,
            limits=self._limits,
        )
        assert isinstance(server, GatedServer)
        self._servers[name] = server
        accepting = threading.Thread(
            target=server.serve_forever, name=f"sr2fhir-accept-{name}", daemon=True
        )
        accepting.start()
        host, bound = self.config.host, int(server.server_address[1])
        log.info("Storage SCP %s listening on %s:%d (%s)", self.config.ae_title, host, bound, what)

    @property
    def port(self) -> int:
        """The plain listener's port, or the TLS listener's when plain DICOM is off (the
        bound port once started: useful with port 0)."""
        return self._port(PLAIN if self.config.port is not None else TLS)

    @property
    def tls_port(self) -> int:
        """The TLS listener's port; LookupError when dicom.tls_port is null."""
        return self._port(TLS)

    def _port(self, name: str) -> int:
        server = self._servers.get(name)
        if server is not None:
            return int(server.server_address[1])
        configured = self.config.port if name == PLAIN else self.config.tls_port
        if configured is None:
            raise LookupError(f"the {name} DICOM listener is off")
        return configured

    def stop(self, grace: float) -> None:
        """Stop listening and close the connections not yet associated now; let running
        associations end for `grace` s, then abort them."""
        self._accepting.clear()
        self._lobby.stop()
        servers = list(self._servers.values())
        self._servers.clear()
        if not servers:
            return
        for server in servers:
            server.shutdown()
        deadline = time.monotonic() + grace
        active = self._admission.running()
        while active and time.monotonic() < deadline:
            time.sleep(0.05)
            active = self._admission.running()
        for assoc in active:
            calling = str(assoc.requestor.ae_title).strip()
            log.warning("aborting association from %s at %s at shutdown", calling, peer_of(assoc))
            assoc.abort()
        for assoc in active:  # the handler in flight finishes its spool write first
            _join(assoc, max(0.5, deadline - time.monotonic()))
        log.info("Storage SCP stopped")


def _join(thread: threading.Thread, timeout: float) -> None:
    if thread is not threading.current_thread():
        thread.join(timeout)
