"""The listeners' server and who gets an association: pending connections are not counted.

`GatedServer` is pynetdicom's threaded association server (made with `AE.make_server`'s
`server_class`) whose accepted connections are `GuardedSocket`s that first wait in the
`Lobby`. `AdmissionControl` binds to each association's events: while the A-ASSOCIATE-RQ is
awaited its ACSE timeout is what is left of the request deadline; once it is in, the
association counts against `dicom.max_associations` — pynetdicom's own limit counts every
connection's thread, silent ones included, so it is set out of the way (`toolkit_limit`).
"""

from __future__ import annotations

import functools
import logging
import socketserver
import threading
from typing import Any

from pynetdicom import evt
from pynetdicom.transport import ThreadedAssociationServer

from sr2fhir.scp import status
from sr2fhir.scp.guard import GuardedSocket, PduLimits, guard, peer_name
from sr2fhir.scp.handlers import reject
from sr2fhir.scp.lobby import Lobby

log = logging.getLogger(__name__)


class GatedServer(ThreadedAssociationServer):
    """A listener whose connections wait in the lobby until they send something."""

    # the listen backlog (socketserver's default is 5): a burst of connections (a scan) would
    # otherwise make the kernel drop SYNs, and a real sender would wait for its retransmit
    request_queue_size = 128

    def __init__(self, *args: Any, lobby: Lobby, limits: PduLimits, **kwargs: Any) -> None:
        self.lobby = lobby
        self.limits = limits
        super().__init__(*args, **kwargs)  # binds and listens

    def get_request(self) -> tuple[GuardedSocket, Any]:
        sock, address = super().get_request()
        return guard(sock, self.limits, address), address

    def process_request(self, request: Any, client_address: Any) -> None:
        # the threading server's process_request starts the thread that makes the association
        start = functools.partial(super().process_request, client_address=client_address)
        self.lobby.admit(request, start)

    def shutdown(self) -> None:
        """Stop accepting and close the listening socket (pynetdicom's shutdown would also
        unregister the server from the AE, which only `AE.start_server` registers it with)."""
        socketserver.BaseServer.shutdown(self)
        self.server_close()


def toolkit_limit(max_associations: int, max_pending: int) -> int:
    """pynetdicom's AE.maximum_associations: never the one that refuses (see module)."""
    return max_associations + max_pending


class AdmissionControl:
    """Event handlers: the request deadline while pending, then the association limit."""

    def __init__(
        self, lobby: Lobby, max_associations: int, acse_timeout: float, accepting: threading.Event
    ) -> None:
        self._lobby = lobby
        self._max = max_associations
        self._acse_timeout = acse_timeout
        self._accepting = accepting
        self._lock = threading.Lock()
        self._admitted: list[Any] = []

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_CONN_OPEN, self._opened), (evt.EVT_REQUESTED, self._requested)]

    def running(self) -> list[Any]:
        """The admitted associations still running."""
        with self._lock:
            return self._running()

    def _running(self) -> list[Any]:
        self._admitted = [assoc for assoc in self._admitted if assoc.is_alive()]
        return list(self._admitted)

    def _opened(self, event: Any) -> None:
        assoc = event.assoc
        sock = _guarded(assoc)
        if sock is None:
            return
        wanted = self._lobby.opened(sock, assoc)
        assoc.acse_timeout = sock.time_left() if wanted else 0  # 0: ends without waiting

    def _requested(self, event: Any) -> None:
        assoc = event.assoc
        sock = _guarded(assoc)
        if sock is not None:
            self._lobby.settled(sock)
        assoc.acse_timeout = self._acse_timeout
        if assoc.is_rejected or assoc.is_aborted:  # the allow-list answered already
            return
        refusal = self._admit(assoc)
        if refusal is None:
            return
        reason, diagnostic = refusal
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        log.warning("association from %s at %s rejected: %s", calling, peer_of(assoc), reason)
        reject(assoc, status.REJECT_TRANSIENT, status.SOURCE_PROVIDER_PRESENTATION, diagnostic)

    def _admit(self, assoc: Any) -> tuple[str, int] | None:
        if not self._accepting.is_set():
            return "the SCP is stopping", status.DIAG_TEMPORARY_CONGESTION
        with self._lock:
            if len(self._running()) >= self._max:
                why = f"{self._max} associations in progress already (dicom.max_associations)"
                return why, status.DIAG_LOCAL_LIMIT_EXCEEDED
            self._admitted.append(assoc)
        return None


def _guarded(assoc: Any) -> GuardedSocket | None:
    transport = assoc.dul.socket
    sock = getattr(transport, "socket", None)
    return sock if isinstance(sock, GuardedSocket) else None


def peer_of(assoc: Any) -> str:
    """The requestor's "address:port"."""
    return peer_name((assoc.requestor.address, assoc.requestor.port))
