"""The SCP under careless or hostile peers, in-process on port 0: silent connections, PDUs
that claim more than was negotiated, too many pending connections."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from sr2fhir.config import DicomConfig
from sr2fhir.scp import StorageScp
from sr2fhir.spool import Spool
from tests.support import rawpeer
from tests.support.processes import LOOPBACK, wait_until
from tests.support.sr.benchmark import benchmark_report


@pytest.fixture
def start(spool: Spool) -> Iterator[Callable[..., StorageScp]]:
    """Start an SCP with these dicom settings; stopped after the test, also on failure."""
    started: list[StorageScp] = []

    def starting(**settings: object) -> StorageScp:
        config = DicomConfig(host=LOOPBACK, port=0, **settings)  # type: ignore[arg-type]
        scp = StorageScp(config, spool.receive)
        started.append(scp)
        scp.start()
        return scp

    yield starting
    for scp in started:
        scp.stop(grace=1)


def echo_status(port: int) -> int | str:
    """C-ECHO over a new association: its status, or why there was none."""
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(LOOPBACK, port, ae_title="SR2FHIR")
    if not assoc.is_established:
        return "rejected" if assoc.is_rejected else "no association"
    try:
        return int(assoc.send_c_echo().get("Status", -1))
    finally:
        assoc.release()


def acceptor_threads() -> list[Association]:
    return [t for t in threading.enumerate() if isinstance(t, Association) and t.is_acceptor]


def send_one_byte(port: int) -> socket.socket:
    """A connection that starts a PDU header and stalls (it leaves the lobby for pynetdicom)."""
    sock = rawpeer.connect(port)
    sock.sendall(b"\x01")
    return sock


# ---------------------------------------------------------------- silent connections


def test_silent_connections_do_not_count_against_max_associations(
    start: Callable[..., StorageScp],
) -> None:
    scp = start(max_associations=2)
    with rawpeer.idle_connections(scp.port, 20):
        assert echo_status(scp.port) == 0x0000


def test_connections_that_started_a_request_do_not_count_either(
    start: Callable[..., StorageScp],
) -> None:
    scp = start(max_associations=1)
    stalled = [send_one_byte(scp.port) for _ in range(3)]
    try:
        wait_until(lambda: len(acceptor_threads()) >= 3, 10, "pynetdicom to take them")
        assert echo_status(scp.port) == 0x0000
    finally:
        for sock in stalled:
            sock.close()


def test_admitted_associations_still_meet_the_limit(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture
) -> None:
    scp = start(max_associations=1)
    first = rawpeer.establish(scp.port)
    try:
        assert echo_status(scp.port) == "rejected"
    finally:
        first.close()
    rejected = "association from PYSCU at 127.0.0.1:"
    assert rejected in caplog.text
    assert "rejected: 1 associations in progress already (dicom.max_associations)" in caplog.text


def test_a_silent_connection_is_closed_after_request_timeout(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sr2fhir")
    scp = start(request_timeout=0.5)
    with rawpeer.connect(scp.port, timeout=15) as silent:
        port = silent.getsockname()[1]
        assert rawpeer.closed_by_peer(silent)  # a socket timeout (15 s) fails here
    wait_until(lambda: "no complete A-ASSOCIATE-RQ within 0.5 s" in caplog.text, 5, "the log")
    assert f"connection from 127.0.0.1:{port} closed" in caplog.text


def test_a_request_that_stalls_is_closed_after_request_timeout(
    start: Callable[..., StorageScp],
) -> None:
    scp = start(request_timeout=0.5)
    with send_one_byte(scp.port) as stalled:
        stalled.settimeout(15)
        assert rawpeer.closed_by_peer(stalled)
    wait_until(lambda: not acceptor_threads(), 10, "its association thread to end")


def test_beyond_max_pending_connections_the_oldest_is_closed(
    start: Callable[..., StorageScp],
) -> None:
    scp = start(max_pending_connections=3, request_timeout=60)
    with rawpeer.idle_connections(scp.port, 5) as idle:
        for sock in idle[:2]:
            assert rawpeer.closed_by_peer(sock)
        assert echo_status(scp.port) == 0x0000  # closes one more of the three
        survivors = [sock for sock in idle[2:] if not _closed_now(sock)]
        assert len(survivors) == 2


def _closed_now(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def test_a_dropped_connection_ends_its_association_thread_at_once(
    start: Callable[..., StorageScp],
) -> None:
    """sr2fhir.scp.internals: pynetdicom's acceptor wakes from its wait for the request.
    With 60 s timeouts, only that wake-up ends the thread within the 10 s polled here."""
    scp = start(max_pending_connections=1, request_timeout=60, acse_timeout=60)
    with send_one_byte(scp.port) as stalled:
        wait_until(lambda: len(acceptor_threads()) == 1, 10, "its association thread")
        with rawpeer.connect(scp.port):  # a newcomer: the stalled one is evicted
            assert rawpeer.closed_by_peer(stalled)
            wait_until(lambda: not acceptor_threads(), 10, "the evicted one's thread to end")


def test_silent_connections_cost_no_thread(start: Callable[..., StorageScp]) -> None:
    scp = start(max_pending_connections=100, request_timeout=60)
    before = threading.active_count()
    with rawpeer.idle_connections(scp.port, 50) as idle:
        assert echo_status(scp.port) == 0x0000  # every one was accepted by now
        # the echo's threads end; silent connections had two each (for acse_timeout)
        wait_until(lambda: threading.active_count() - before <= 1, 10, "no thread per connection")
        assert not any(_closed_now(sock) for sock in idle)


def test_stop_closes_pending_connections_at_once_and_aborts_none(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture
) -> None:
    scp = start(request_timeout=60)
    with rawpeer.idle_connections(scp.port, 5) as idle, send_one_byte(scp.port) as stalled:
        wait_until(lambda: acceptor_threads(), 10, "the stalled one's association thread")
        stopping = threading.Thread(target=scp.stop, args=(60,))
        stopping.start()
        stopping.join(30)  # a bound far below the 60 s grace and request timeout
        assert not stopping.is_alive()
        assert all(rawpeer.closed_by_peer(sock) for sock in [*idle, stalled])
    assert "aborting association" not in caplog.text


def test_stop_names_the_address_of_an_association_it_aborts(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture
) -> None:
    scp = start()
    with rawpeer.establish(scp.port) as running:
        scp.stop(grace=0.1)
        port = running.getsockname()[1]
        assert f"aborting association from RAWSCU at 127.0.0.1:{port} at shutdown" in caplog.text


# ---------------------------------------------------------------- PDU lengths


@pytest.mark.parametrize("pdu_type", [0x01, 0x04, 0x07], ids=["associate-rq", "p-data", "abort"])
def test_a_first_pdu_claiming_4_gib_gets_an_a_abort(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture, pdu_type: int
) -> None:
    scp = start()
    with rawpeer.connect(scp.port) as sock:
        _sent, answer = rawpeer.answer_to_a_lying_header(sock, pdu_type, 8 * 1024 * 1024)
    assert answer == rawpeer.A_ABORT
    expected = f"PDU type 0x{pdu_type:02X} of 4294967295 bytes refused with A-ABORT"
    wait_until(lambda: expected in caplog.text, 5, "the refusal logged")
    assert "dicom.max_request_size is 262144" in caplog.text


def test_an_a_associate_rq_over_max_request_size_is_refused(
    start: Callable[..., StorageScp],
) -> None:
    request = rawpeer.associate_rq()
    scp = start(max_request_size=4096)
    with rawpeer.connect(scp.port) as sock:
        sock.sendall(request[:2] + (4097).to_bytes(4, "big") + request[6:] + bytes(4097 - 263))
        assert rawpeer.read_pdu(sock) == (rawpeer.A_ABORT, bytes((0, 0, 2, 6)))
    assert echo_status(scp.port) == 0x0000  # an honest one still gets through


def test_a_p_data_larger_than_max_pdu_size_is_aborted(
    start: Callable[..., StorageScp], caplog: pytest.LogCaptureFixture
) -> None:
    scp = start(max_pdu_size=16384)
    with rawpeer.establish(scp.port) as sock:
        sock.sendall(rawpeer.PDU_HEADER.pack(rawpeer.P_DATA_TF, 0, 16385))
        assert rawpeer.read_pdu(sock) == (rawpeer.A_ABORT, bytes((0, 0, 2, 6)))
        assert rawpeer.closed_by_peer(sock)
    assert "dicom.max_pdu_size is 16384" in caplog.text


def test_p_data_up_to_max_pdu_size_is_stored(
    start: Callable[..., StorageScp], spool: Spool
) -> None:
    """pynetdicom fills each P-DATA-TF up to the maximum we advertise, never beyond."""
    scp = start(max_pdu_size=4096)
    ae = AE(ae_title="PYSCU")
    report = benchmark_report(0)
    ae.add_requested_context(report.SOPClassUID)
    assoc = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
    try:
        assert int(assoc.send_c_store(report).Status) == 0x0000
    finally:
        assoc.release()
    assert len(spool.jobs.list_jobs()) == 1
