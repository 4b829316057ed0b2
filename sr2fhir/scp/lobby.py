"""Where accepted connections wait until they have sent something: one thread for all of them.

pynetdicom gives every accepted connection two threads at once, and counted it against the
association limit until its ACSE timeout, so ten silent TCP connections (a port scan, a load
balancer's health check) locked every sender out. Here a connection costs no thread until
data arrives; then it "graduates" to pynetdicom and stays counted here, as pending, until its
A-ASSOCIATE-RQ is in (`settled`). Every pending connection must deliver its whole
A-ASSOCIATE-RQ within `dicom.request_timeout` of the accept, else it is closed. At most
`dicom.max_pending_connections` are pending on both listeners together: a newcomer beyond
that closes the oldest one, so silent connections can delay nobody for long and the threads
they can hold stay bounded.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sr2fhir.scp.guard import GuardedSocket
from sr2fhir.scp.internals import end_request_wait

log = logging.getLogger(__name__)

FULL_WARNING_EVERY = 60.0  # s between two warnings that pending connections are evicted

Graduate = Callable[[GuardedSocket], None]
"""Hands a connection with data waiting to pynetdicom (a thread creates its association)."""


@dataclass(slots=True, eq=False)
class _Pending:
    sock: GuardedSocket
    graduate: Graduate | None  # None once graduated
    assoc: Any = None  # the association pynetdicom made for it, once it exists


class Lobby:
    """Accepted connections not yet associated (see module): admit, opened, settled."""

    def __init__(self, capacity: int, timeout: float) -> None:
        self._capacity = capacity
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[GuardedSocket, _Pending] = {}  # oldest first
        self._arrivals: list[_Pending] = []
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_out.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="sr2fhir-lobby", daemon=True)
        self._stopping = False
        self._warn_after = 0.0

    def start(self) -> None:
        self._thread.start()

    def admit(self, sock: GuardedSocket, graduate: Graduate) -> None:
        """A just-accepted connection (from a listener's accept loop)."""
        with self._lock:
            if not self._stopping:
                self._arrivals.append(_Pending(sock, graduate))
                self._wake()
                return
        sock.close()

    def opened(self, sock: GuardedSocket, assoc: Any) -> bool:
        """pynetdicom made `assoc` for this connection; False if it was dropped meanwhile."""
        with self._lock:
            pending = self._pending.get(sock)
            if pending is None or sock.ended:
                return False
            pending.assoc = assoc
            return True

    def settled(self, sock: GuardedSocket) -> None:
        """Its A-ASSOCIATE-RQ arrived, or it closed: no longer pending."""
        with self._lock:
            self._pending.pop(sock, None)

    def stop(self) -> None:
        """Close every pending connection (none holds anything acknowledged) and the thread;
        once (a second call does nothing)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._wake()
        if self._thread.is_alive():
            self._thread.join()
        for pending in [*self._arrivals, *self._pending.values()]:
            self._drop(pending, None)
        self._arrivals.clear()
        self._pending.clear()
        self._selector.close()
        self._wake_in.close()
        self._wake_out.close()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full of wake-ups: one is enough
            self._wake_out.send(b"\0")

    # ------------------------------------------------------------ the lobby's thread

    def _run(self) -> None:
        while not self._stopping:
            self._take_arrivals()
            for key, _ in self._selector.select(self._next_timeout()):
                if key.fileobj is self._wake_in:
                    self._wake_in.recv(4096)
                else:
                    self._readable(key.data)
            self._expire()

    def _take_arrivals(self) -> None:
        with self._lock:
            arrivals, self._arrivals = self._arrivals, []
        for pending in arrivals:
            self._make_room()
            self._selector.register(pending.sock, selectors.EVENT_READ, pending)
            with self._lock:
                self._pending[pending.sock] = pending

    def _make_room(self) -> None:
        with self._lock:
            self._forget_closed()
            if len(self._pending) < self._capacity:
                return
            oldest = next(iter(self._pending.values()))
            del self._pending[oldest.sock]
        now = time.monotonic()
        if now >= self._warn_after:  # a flood would log a line per connection otherwise
            self._warn_after = now + FULL_WARNING_EVERY
            log.warning(
                "%d connections wait for their A-ASSOCIATE-RQ (dicom.max_pending_connections):"
                " the oldest are closed for newcomers",
                self._capacity,
            )
        self._drop(oldest, "the oldest pending connection, for a newer one")

    def _readable(self, pending: _Pending) -> None:
        """Data (graduate it) or the peer's close (a port probe: forget it)."""
        sock, graduate = pending.sock, pending.graduate
        assert graduate is not None  # only connections still waiting are registered
        self._selector.unregister(sock)
        try:
            peeked = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            peeked = b""
        if not peeked:
            log.debug("connection from %s closed before a request", sock.peer)
            self.settled(sock)
            sock.close()
            return
        pending.graduate = None
        try:
            graduate(sock)
        except RuntimeError as exc:  # no thread could be started
            self.settled(sock)
            sock.end(f"cannot serve it now ({exc})", logging.ERROR)
            sock.close()

    def _next_timeout(self) -> float | None:
        with self._lock:
            oldest = next(iter(self._pending.values()), None)
        return None if oldest is None else oldest.sock.time_left()

    def _forget_closed(self) -> None:
        """Graduated connections that ended without a request (the peer left, or the guard
        closed it) are no longer pending."""
        for sock in [s for s, p in self._pending.items() if p.graduate is None and _closed(s)]:
            del self._pending[sock]

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget_closed()
            expired = [p for p in self._pending.values() if p.sock.deadline <= now]
            for pending in expired:
                del self._pending[pending.sock]
        reason = f"no complete A-ASSOCIATE-RQ within {self._timeout:g} s (dicom.request_timeout)"
        for pending in expired:
            self._drop(pending, reason)

    def _drop(self, pending: _Pending, reason: str | None, level: int = logging.INFO) -> None:
        """Close a pending connection; a graduated one's threads end at once."""
        if pending.graduate is not None:  # still here: nobody else uses the socket
            self._selector_forget(pending.sock)
            if reason:
                pending.sock.end(reason, level)
            pending.sock.close()
            return
        pending.sock.end(reason, level)
        with self._lock:
            assoc = pending.assoc
        if assoc is not None:
            end_request_wait(assoc)

    def _selector_forget(self, sock: GuardedSocket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)


def _closed(sock: GuardedSocket) -> bool:
    return sock.ended or sock.fileno() == -1
