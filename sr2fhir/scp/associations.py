"""Association results as gateway events, from pynetdicom's notification events.

accepted: A-ASSOCIATE-AC sent; rejected: requested, then closed without being accepted (the
allow-list, too many associations, a wrong called AE title). A TCP connection that never
asks for an association (a port probe) is neither.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from pynetdicom import evt

from sr2fhir.events import Emitter, GatewayEvent
from sr2fhir.scp import status
from sr2fhir.scp.handlers import reject

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Requestor:
    """Who asked, taken when the A-ASSOCIATE-RQ arrives (a rejection clears it later)."""

    calling_ae: str
    called_ae: str
    peer: str


class AssociationWatch:
    """EVT_REQUESTED / EVT_ACCEPTED / EVT_CONN_CLOSE -> ASSOCIATION_ACCEPTED | _REJECTED.

    Its EVT_REQUESTED handler must run before the allow-list's, which rejects inside it."""

    def __init__(self, events: Emitter) -> None:
        self.events = events
        self._lock = threading.Lock()
        self._pending: dict[int, Requestor] = {}

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ACCEPTED, self._accepted),
            (evt.EVT_CONN_CLOSE, self._closed),
        ]

    def _requested(self, event: Any) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive  # the A-ASSOCIATE-RQ as received
        who = Requestor(
            calling_ae=str(request.calling_ae_title).strip(),
            called_ae=str(request.called_ae_title).strip(),
            peer=f"{assoc.requestor.address}:{assoc.requestor.port}",
        )
        with self._lock:
            self._pending[id(assoc)] = who

    def _accepted(self, event: Any) -> None:
        with self._lock:
            who = self._pending.pop(id(event.assoc), None)
        self._emit(GatewayEvent.ASSOCIATION_ACCEPTED, who)

    def _closed(self, event: Any) -> None:
        with self._lock:
            who = self._pending.pop(id(event.assoc), None)
        if who is not None:
            self._emit(GatewayEvent.ASSOCIATION_REJECTED, who)

    def _emit(self, kind: GatewayEvent, who: Requestor | None) -> None:
        if who is None:
            self.events.emit(kind)
        else:
            self.events.emit(
                kind, calling_ae=who.calling_ae, called_ae=who.called_ae, peer=who.peer
            )


class CalledAeCheck:
    """EVT_REQUESTED: an association that calls us by another AE title than ours.

    Accepted by default (senders often keep an old title; the conformance statement says
    so), with one WARNING per calling AE title and a CALLED_AE_MISMATCH event (the metric)
    for every such association; with dicom.require_called_ae it is rejected (A-ASSOCIATE-RJ,
    rejected-permanent, "called AE title not recognised") and logged each time."""

    def __init__(self, ae_title: str, required: bool, events: Emitter) -> None:
        self.ae_title = ae_title.strip()
        self.required = required
        self.events = events
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def __call__(self, event: Any) -> None:
        assoc = event.assoc
        if assoc.is_rejected or assoc.is_aborted:  # refused already (the allow-list)
            return
        request = assoc.requestor.primitive
        called = str(request.called_ae_title).strip()
        if called == self.ae_title:
            return
        calling = str(request.calling_ae_title).strip()
        peer = f"{assoc.requestor.address}:{assoc.requestor.port}"
        self.events.emit(
            GatewayEvent.CALLED_AE_MISMATCH, calling_ae=calling, called_ae=called, peer=peer
        )
        if self.required:
            log.warning(
                "association from %s at %s rejected: it calls %r, not %s (dicom.require_called_ae)",
                calling,
                peer,
                called,
                self.ae_title,
            )
            reject(
                assoc,
                status.REJECT_PERMANENT,
                status.SOURCE_SERVICE_USER,
                status.DIAG_CALLED_AE_NOT_RECOGNISED,
            )
            return
        with self._lock:
            first = calling not in self._warned
            self._warned.add(calling)
        if first:
            log.warning(
                "association from %s at %s calls %r, not %s: accepted (said once per calling "
                "AE; dicom.require_called_ae: true refuses such associations)",
                calling,
                peer,
                called,
                self.ae_title,
            )
