"""Association results as gateway events, from pynetdicom's notification events.

accepted: A-ASSOCIATE-AC sent; rejected: requested, then closed without being accepted (the
allow-list, too many associations, a wrong called AE title). A TCP connection that never
asks for an association (a port probe) is neither.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pynetdicom import evt

from sr2fhir.events import Emitter, GatewayEvent


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
