"""A DICOM peer made of raw sockets, for the attacks a real toolkit would not make: silent
connections, a PDU header that lies about its length, a P-DATA-TF larger than negotiated.
Also the gateway process's memory and threads as /proc shows them."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.processes import LOOPBACK

PDU_HEADER = struct.Struct(">BBL")
A_ASSOCIATE_AC = 0x02
P_DATA_TF = 0x04
A_ABORT = 0x07
FOUR_GIB = 0xFFFFFFFF  # the largest PDU length field
SMALL_PDU = 64 * 1024  # what read_pdu reads at most: the gateway's answers are small


def associate_rq(calling: str = "RAWSCU", called: str = "SR2FHIR") -> bytes:
    """An A-ASSOCIATE-RQ PDU proposing Verification, encoded by pynetdicom."""
    from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import build_context
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"  # PS3.7 A.2.1
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    context = build_context(Verification)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16384
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [max_length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def connect(port: int, timeout: float = 30) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=timeout)


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections that send nothing (a port scan, a health check that lingers)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(connect(port))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def read_pdu(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next PDU (type, body) the gateway sends, or None if it closed the connection."""
    header = _read_exactly(sock, PDU_HEADER.size)
    if header is None:
        return None
    pdu_type, _, length = PDU_HEADER.unpack(header)
    assert length <= SMALL_PDU, f"PDU 0x{pdu_type:02X} of {length} bytes from the gateway"
    body = _read_exactly(sock, length)
    return None if body is None else (pdu_type, body)


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the gateway closed it (EOF or reset); a timeout of `sock` fails the test."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def answer_to_a_lying_header(sock: socket.socket, pdu_type: int, streamed: int) -> tuple[int, int]:
    """Send a header of `pdu_type` claiming 4 GiB, then up to `streamed` bytes of it;
    returns (bytes sent, the PDU type the gateway answered with, -1 if it just closed)."""
    sent = 0
    chunk = bytes(1024 * 1024)
    with suppress(OSError):  # the gateway's close ends the stream
        sock.sendall(PDU_HEADER.pack(pdu_type, 0, FOUR_GIB))
        while sent < streamed:
            sock.sendall(chunk)
            sent += len(chunk)
    try:
        answer = read_pdu(sock)
    except OSError:
        answer = None
    return sent, -1 if answer is None else answer[0]


def establish(port: int) -> socket.socket:
    """A raw association for Verification: A-ASSOCIATE-RQ sent, A-ASSOCIATE-AC read."""
    sock = connect(port)
    sock.sendall(associate_rq())
    answer = read_pdu(sock)
    assert answer is not None and answer[0] == A_ASSOCIATE_AC, f"not accepted: {answer}"
    return sock


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/PID/status: VmRSS (kB), Threads."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")
