"""The Storage SCP: which SOP classes and transfer syntaxes it accepts, start and graceful stop."""

from __future__ import annotations

import logging
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
    Verification,
)

from sr2fhir.config import DicomConfig
from sr2fhir.scp.handlers import CallerPolicy, Receive, StoreHandler, handle_echo

log = logging.getLogger(__name__)

SR_STORAGE_CLASSES = (
    BasicTextSRStorage,  # 1.2.840.10008.5.1.4.1.1.88.11
    EnhancedSRStorage,  # .88.22
    ComprehensiveSRStorage,  # .88.33
    Comprehensive3DSRStorage,  # .88.34
    ExtensibleSRStorage,  # .88.35
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
    ae.maximum_associations = config.max_associations
    ae.maximum_pdu_size = config.max_pdu_size
    ae.acse_timeout = config.acse_timeout
    ae.dimse_timeout = config.dimse_timeout
    ae.network_timeout = config.network_timeout
    return ae


class StorageScp:
    """Listens for associations in background threads; `stop` drains them within a deadline."""

    def __init__(self, config: DicomConfig, receive: Receive) -> None:
        self.config = config
        self._ae = build_ae(config)
        self._handlers: list[Any] = [
            (evt.EVT_C_STORE, StoreHandler(receive)),
            (evt.EVT_C_ECHO, handle_echo),
        ]
        policy = CallerPolicy(config.allowed_callers)
        if policy.enabled:
            self._handlers.append((evt.EVT_REQUESTED, policy))
        self._server: Any = None

    def start(self) -> None:
        self._server = self._ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=self._handlers
        )
        log.info(
            "Storage SCP %s listening on %s:%d", self.config.ae_title, self.config.host, self.port
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def stop(self, grace: float) -> None:
        """Stop listening now; let running associations end for `grace` s, then abort them."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        deadline = time.monotonic() + grace
        active = server.active_associations
        while active and time.monotonic() < deadline:
            time.sleep(0.05)
            active = server.active_associations
        for assoc in active:
            log.warning("aborting association from %s at shutdown", assoc.requestor.ae_title)
            assoc.abort()
        for assoc in active:  # the handler in flight finishes its spool write first
            _join(assoc, max(0.5, deadline - time.monotonic()))
        log.info("Storage SCP stopped")


def _join(thread: threading.Thread, timeout: float) -> None:
    if thread is not threading.current_thread():
        thread.join(timeout)
