"""Accepted DICOM connections as sockets that bound what a peer can make the gateway read.

pynetdicom's upper layer reads a PDU's 6-byte header, then as many bytes as its length field
claims (up to 4 GiB) into memory, with no timeout, before anything looks at them. A
`GuardedSocket` follows the PDU boundaries as pynetdicom reads through it and, at each header:

- refuses a PDU longer than its bound with an A-ABORT (PS3.8 9.3.8: service-provider source,
  invalid-PDU-parameter value) and closes the connection, so nothing of it is read: the
  A-ASSOCIATE-RQ (and every PDU but P-DATA-TF) is bounded by `dicom.max_request_size`, a
  P-DATA-TF by the `dicom.max_pdu_size` that we advertised (0 = no bound);
- bounds the time to read: the whole A-ASSOCIATE-RQ by the connection's request deadline
  (`dicom.request_timeout` after accept), any later read by `dicom.network_timeout`.

To pynetdicom an ended connection looks as if the peer had closed it (recv returns b"").
The TLS listener's sockets are `GuardedSSLSocket`s (the context's `sslsocket_class`), so
pynetdicom still sees an `ssl.SSLSocket`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HEADER = struct.Struct(">BBL")  # PDU type, reserved, length of what follows
P_DATA_TF = 0x04
# A-ABORT PDU: type 7, length 4, two reserved bytes, source 2 (DICOM UL service-provider),
# reason 6 (invalid-PDU-parameter value): the length field is more than we accept.
A_ABORT_INVALID_PARAMETER = bytes((0x07, 0, 0, 0, 0, 4, 0, 0, 0x02, 0x06))
ABORT_SEND_TIMEOUT = 1.0  # s; the peer may be streaming and not reading
_END = threading.Lock()  # makes "the first end() acts" hold across threads


@dataclass(frozen=True, slots=True)
class PduLimits:
    """What a connection may make us read (config keys of the dicom section)."""

    request_size: int  # max_request_size: A-ASSOCIATE-RQ and every PDU but P-DATA-TF
    pdu_size: int  # max_pdu_size: P-DATA-TF once the request is read (0 = no bound)
    request_timeout: float  # the whole A-ASSOCIATE-RQ, counted from accept
    network_timeout: float  # any later read

    def bound(self, pdu_type: int, requested: bool) -> float:
        """The largest length field accepted for this PDU type."""
        if pdu_type == P_DATA_TF and requested:
            return self.pdu_size or math.inf
        return self.request_size


class GuardedSocket(socket.socket):
    """A plain accepted connection that enforces `PduLimits` once `arm`ed (see module)."""

    limits: PduLimits | None = None
    peer = "?"
    deadline = math.inf  # monotonic time by which the A-ASSOCIATE-RQ must be in
    requested = False  # the first PDU (the A-ASSOCIATE-RQ) has been read whole
    _left = 0  # bytes of the current PDU still to be read
    _held = b""  # header bytes read, not yet handed over
    _ended = False

    def arm(self, limits: PduLimits, peer: str) -> None:
        """Start enforcing; the request deadline runs from now (the accept)."""
        self.limits = limits
        self.peer = peer
        self.deadline = time.monotonic() + limits.request_timeout

    @property
    def ended(self) -> bool:
        return self._ended

    def time_left(self) -> float:
        """Seconds before the A-ASSOCIATE-RQ deadline (0 when past it)."""
        return max(0.0, self.deadline - time.monotonic())

    def recv(self, bufsize: int = 1024, flags: int = 0, /) -> bytes:
        limits = self.limits
        if limits is None or flags:
            return super().recv(bufsize, flags)
        if self._ended:
            return b""
        if not self._held and self._left == 0:
            self._held = self._read_header(limits)
            if not self._held:
                return b""
        if self._held:
            given, self._held = self._held[:bufsize], self._held[bufsize:]
            return given
        data = self._read(min(bufsize, self._left), "in the middle of a PDU")
        self._left -= len(data)
        if data and self._left == 0:
            self._pdu_read(limits)
        return data

    def end(self, reason: str | None, level: int = logging.INFO, abort: bool = False) -> bool:
        """Close the connection for `reason` (logged with the peer's address), after an
        A-ABORT if `abort`; from any thread. Only the first call acts; it says so."""
        with _END:
            if self._ended:
                return False
            self._ended = True
        if reason:
            log.log(level, "connection from %s closed: %s", self.peer, reason)
        if abort:
            try:
                self.settimeout(ABORT_SEND_TIMEOUT)
                self.sendall(A_ABORT_INVALID_PARAMETER)
            except (OSError, ValueError):
                pass  # the peer went away first: the close below is all it gets
        with contextlib.suppress(OSError):  # shutdown, not close: wakes a blocked read
            socket.socket.shutdown(self, socket.SHUT_RDWR)
        return True

    def _read_header(self, limits: PduLimits) -> bytes:
        header = b""
        while len(header) < HEADER.size:
            chunk = self._read(HEADER.size - len(header), "in a PDU header")
            if not chunk:
                return b""
            header += chunk
        pdu_type, _, length = HEADER.unpack(header)
        bound = limits.bound(pdu_type, self.requested)
        if length > bound:
            data = pdu_type == P_DATA_TF and self.requested
            key = "max_pdu_size" if data else "max_request_size"
            what = f"PDU type 0x{pdu_type:02X} of {length} bytes refused with A-ABORT"
            self.end(f"{what}: dicom.{key} is {bound:.0f}", logging.WARNING, abort=True)
            return b""
        self._left = length
        if length == 0:
            self._pdu_read(limits)
        return header

    def _pdu_read(self, limits: PduLimits) -> None:
        if not self.requested:
            self.requested = True
            self.settimeout(limits.network_timeout)  # for pynetdicom's sends too

    def _read(self, size: int, where: str) -> bytes:
        """Up to `size` bytes; b"" once the peer closed or a time bound passed (then the
        connection is ended and the reason logged)."""
        limits = self.limits
        assert limits is not None
        timeout = limits.network_timeout if self.requested else self.time_left()
        try:
            if timeout <= 0:
                raise TimeoutError
            self.settimeout(timeout)
            data = super().recv(size)
        except TimeoutError:
            self.end(self._timeout_reason(where), logging.INFO)
        except (OSError, ValueError):  # reset by the peer, or ended from another thread
            self.end(None)
        else:
            if not data:  # the peer closed
                self.end(None)
            return data
        return b""

    def _timeout_reason(self, where: str) -> str:
        limits = self.limits
        assert limits is not None
        if self.requested:
            return f"no data for {limits.network_timeout:g} s {where} (dicom.network_timeout)"
        return (
            f"no complete A-ASSOCIATE-RQ within {limits.request_timeout:g} s "
            "(dicom.request_timeout)"
        )


class GuardedSSLSocket(GuardedSocket, ssl.SSLSocket):
    """The TLS listener's connections: an SSLSocket (pynetdicom checks for one) that guards."""


def guard(sock: socket.socket, limits: PduLimits, address: Any) -> GuardedSocket:
    """The accepted `sock` as an armed GuardedSocket (a plain socket is re-wrapped)."""
    if not isinstance(sock, GuardedSocket):
        family, kind, proto = sock.family, sock.type, sock.proto
        sock = GuardedSocket(family, kind, proto, fileno=sock.detach())
    sock.arm(limits, peer_name(address))
    return sock


def peer_name(address: Any) -> str:
    """ "10.1.2.3:40112" from a socket address tuple."""
    try:
        return f"{address[0]}:{address[1]}"
    except (TypeError, IndexError):
        return str(address)
