"""Attacks on a real `python -m sr2fhir serve` DICOM listener with raw sockets: idle TCP
connections (a port scan, a load balancer's health check), a PDU header claiming 4 GiB, a
P-DATA-TF larger than negotiated. Real senders (pynetdicom, dcmtk) must not notice.

Memory and threads are read from /proc/PID/status of the gateway process; the bounds asserted
are correctness bounds (a fraction of what was streamed), not timings.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import rawpeer
from tests.support.dcmtk import dcmtk_tls_flags, echoscu, storescu
from tests.support.pki import Pki, make_pki
from tests.support.processes import stop_process, wait_until
from tests.support.scu import send_files
from tests.support.serve import GatewayProcess, gateway_tls_env, gateway_tls_port, running_gateway
from tests.support.sr.benchmark import write_reports

pytestmark = pytest.mark.integration

IDLE = 200  # more than dicom.max_associations and dicom.max_pending_connections together
STREAMED = 200 * 1024 * 1024  # bytes of a 4 GiB PDU an attacker streams
MIB = 1024


def gateway_env(**dicom: str) -> dict[str, str]:
    return {"SR2FHIR_HTTP_PORT": "0", **{f"SR2FHIR_DICOM_{k.upper()}": v for k, v in dicom.items()}}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway with the default DICOM limits (one worker: the machine is small)."""
    with running_gateway(tmp_path / "data", "--workers", "1", env=gateway_env()) as running:
        yield running


def test_idle_connections_neither_lock_out_senders_nor_cost_threads(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    files = write_reports(tmp_path / "files", 3)
    threads_before = rawpeer.proc_status(gateway.proc.pid, "Threads")
    with rawpeer.idle_connections(gateway.port, IDLE):
        acknowledged: list[str] = []
        send_files(gateway.port, files[:2], acknowledged)
        assert len(acknowledged) == 2
        assert echoscu(gateway.port).returncode == 0
        sent = storescu(gateway.port, files[2:])
        assert sent.returncode == 0, sent.stderr

        def threads_added() -> bool:  # the senders' association threads end quickly
            return rawpeer.proc_status(gateway.proc.pid, "Threads") - threads_before <= 2

        # pynetdicom alone: two threads per idle connection (342 for 200), for acse_timeout
        wait_until(threads_added, 15, "no thread per idle connection")


def test_idle_connections_are_closed_within_request_timeout(tmp_path: Path) -> None:
    env = gateway_env(request_timeout="1")
    with running_gateway(tmp_path / "data", "--workers", "1", env=env) as gateway:
        with rawpeer.idle_connections(gateway.port, 5) as idle:
            for sock in idle:
                sock.settimeout(20)  # a bound: the gateway's own is 1 s
                assert rawpeer.closed_by_peer(sock)
        logged = "closed: no complete A-ASSOCIATE-RQ within 1 s (dicom.request_timeout)"
        wait_until(lambda: logged in gateway.log_text(), 10, "the closes logged")


def test_a_graceful_stop_is_not_held_up_by_idle_connections(tmp_path: Path) -> None:
    env = gateway_env(request_timeout="120")
    with running_gateway(tmp_path / "data", "--workers", "1", env=env) as gateway:
        with rawpeer.idle_connections(gateway.port, 10) as idle:
            idle[0].sendall(b"\x01\x00")  # one has begun a PDU header: pynetdicom has it
            stop_process(gateway.proc, signal.SIGTERM, timeout=60)
            assert gateway.proc.returncode == 0
            assert all(rawpeer.closed_by_peer(sock) for sock in idle)
        # before: each idle connection was an association to drain, then abort
        assert "aborting association" not in gateway.log_text()


@pytest.mark.parametrize("when", ["as the A-ASSOCIATE-RQ", "as a P-DATA-TF"])
def test_a_pdu_claiming_4_gib_is_aborted_and_memory_stays_flat(
    gateway: GatewayProcess, when: str
) -> None:
    pid = gateway.proc.pid
    rss_before = rawpeer.proc_status(pid, "VmRSS")
    if when == "as a P-DATA-TF":
        sock, pdu_type = rawpeer.establish(gateway.port), rawpeer.P_DATA_TF
    else:
        sock, pdu_type = rawpeer.connect(gateway.port), 0x01
    with sock:
        _sent, answer = rawpeer.answer_to_a_lying_header(sock, pdu_type, STREAMED)
        growth_kib = rawpeer.proc_status(pid, "VmRSS") - rss_before  # the attacker still here
    assert answer in (rawpeer.A_ABORT, -1)  # an A-ABORT, or at least the connection closed
    assert growth_kib < 32 * MIB, f"RSS grew {growth_kib} kB"  # pynetdicom: +1 kB per kB sent
    wait_until(lambda: "refused with A-ABORT" in gateway.log_text(), 10, "the refusal logged")
    assert echoscu(gateway.port).returncode == 0


def test_a_p_data_tf_one_byte_over_max_pdu_size_is_aborted(gateway: GatewayProcess) -> None:
    with rawpeer.establish(gateway.port) as sock:
        sock.sendall(rawpeer.PDU_HEADER.pack(rawpeer.P_DATA_TF, 0, 262144 + 1))
        assert rawpeer.read_pdu(sock) == (rawpeer.A_ABORT, bytes((0, 0, 2, 6)))
        assert rawpeer.closed_by_peer(sock)
    logged = "PDU type 0x04 of 262145 bytes refused with A-ABORT: dicom.max_pdu_size is 262144"
    wait_until(lambda: logged in gateway.log_text(), 10, "the refusal logged")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_idle_and_stalled_connections_on_the_tls_port_do_not_lock_out_tls_senders(
    tmp_path: Path, pki: Pki
) -> None:
    env = {**gateway_env(max_associations="2"), **gateway_tls_env(pki)}
    with running_gateway(tmp_path / "data", "--workers", "1", env=env) as gateway:
        port = gateway_tls_port(gateway)
        with rawpeer.idle_connections(port, 50) as idle:
            for sock in idle[:5]:  # the start of a TLS record: the handshake waits for more
                sock.sendall(b"\x16\x03\x01")
            flags = dcmtk_tls_flags(pki.client, pki.ca)
            answered = echoscu(port, extra=flags)
            assert answered.returncode == 0, answered.stderr
