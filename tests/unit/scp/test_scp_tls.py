"""DICOM TLS on the Storage SCP, in-process on port 0, driven by a pynetdicom TLS SCU.

Certificates come from tests/support/pki.py (made in-process per run, never committed).
"""

from __future__ import annotations

import io
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from sr2fhir.config import AllowedCaller, DicomConfig
from sr2fhir.scp import SR_STORAGE_CLASSES, StorageScp
from sr2fhir.scp.tls import TlsHandshake, server_context
from sr2fhir.spool import JobStatus, Spool
from tests.support.pki import Pki, TlsIdentity, make_pki
from tests.support.processes import free_port, wait_until
from tests.support.scu import tls_client_context
from tests.support.sr.benchmark import benchmark_report

LOOPBACK = "127.0.0.1"
REFUSED = "refused"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def running(spool: Spool) -> Iterator[list[StorageScp]]:
    """SCPs a test started; each is stopped afterwards, also when the test fails."""
    started: list[StorageScp] = []
    yield started
    for scp in started:
        scp.stop(grace=1)


def start_scp(running: list[StorageScp], spool: Spool, pki: Pki, **settings: Any) -> StorageScp:
    tls: dict[str, Any] = {
        "tls_port": 0,
        "tls_cert": str(pki.server.cert),
        "tls_key": str(pki.server.key),
        "tls_ca": str(pki.ca),
    }
    config = DicomConfig(host=LOOPBACK, **{"port": 0, **tls, **settings})
    scp = StorageScp(config, spool.receive)
    running.append(scp)
    scp.start()
    return scp


def sender(calling: str = "PYSCU") -> AE:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    for sop_class in SR_STORAGE_CLASSES:
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = 5
    return ae


def store(
    port: int,
    pki: Pki | None,
    identity: TlsIdentity | None = None,
    *,
    calling: str = "PYSCU",
    index: int = 0,
) -> int | str:
    """C-STORE one report (over TLS when `pki` is given); its status, or REFUSED."""
    tls_args = None if pki is None else (tls_client_context(pki, identity), "localhost")
    assoc = sender(calling).associate(LOOPBACK, port, ae_title="SR2FHIR", tls_args=tls_args)
    if not assoc.is_established:
        return REFUSED
    try:
        return int(assoc.send_c_store(benchmark_report(index)).get("Status", -1))
    finally:
        assoc.release()


def echo(port: int, pki: Pki, identity: TlsIdentity | None) -> int | str:
    tls_args = (tls_client_context(pki, identity), "localhost")
    assoc = sender().associate(LOOPBACK, port, ae_title="SR2FHIR", tls_args=tls_args)
    if not assoc.is_established:
        return REFUSED
    try:
        return int(assoc.send_c_echo().get("Status", -1))
    finally:
        assoc.release()


def spooled_uids(spool: Spool) -> list[str]:
    return [job.sop_instance_uid for job in spool.jobs.list_jobs()]


def tcp_refused(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# ---------------------------------------------------------------- what gets through


def test_a_tls_sender_with_a_client_certificate_is_stored(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki)
    assert store(scp.tls_port, pki, pki.client, calling="TLSSCU", index=1) == 0x0000
    [job] = spool.jobs.list_jobs()
    assert job.status is JobStatus.READY
    assert job.instance.calling_ae == "TLSSCU"
    stored = pydicom.dcmread(io.BytesIO(spool.read(job)))
    assert stored.SOPInstanceUID == benchmark_report(1).SOPInstanceUID
    assert echo(scp.tls_port, pki, pki.client) == 0x0000


def test_the_plain_port_still_works_beside_tls_into_the_same_spool(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki)
    assert scp.port != scp.tls_port
    assert store(scp.port, None, index=2) == 0x0000
    assert store(scp.tls_port, pki, pki.client, index=3) == 0x0000
    expected = {benchmark_report(i).SOPInstanceUID for i in (2, 3)}
    assert set(spooled_uids(spool)) == expected


def test_with_port_null_the_only_listener_speaks_tls(
    running: list[StorageScp], spool: Spool, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sr2fhir")
    scp = start_scp(running, spool, pki, port=None)
    assert scp.port == scp.tls_port  # the first listener is the TLS one
    assert store(scp.port, None) == REFUSED  # plain DICOM is not spoken there
    assert store(scp.tls_port, pki, pki.client, index=4) == 0x0000
    listening = [r.getMessage() for r in caplog.records if "listening on" in r.getMessage()]
    assert len(listening) == 1 and "(DICOM TLS 1.2+" in listening[0]


def test_without_a_ca_no_client_certificate_is_asked_for(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki, tls_ca=None)
    assert store(scp.tls_port, pki, None, index=5) == 0x0000


def test_optional_client_certificates_are_still_checked_when_sent(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki, tls_require_client_cert=False)
    assert store(scp.tls_port, pki, None, index=6) == 0x0000
    assert store(scp.tls_port, pki, pki.foreign_client, index=7) == REFUSED
    assert spooled_uids(spool) == [benchmark_report(6).SOPInstanceUID]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
        (ssl.TLSVersion.TLSv1_1, False),
    ],
)
def test_tls_1_2_and_newer_are_accepted_older_versions_are_not(
    running: list[StorageScp],
    spool: Spool,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    version: ssl.TLSVersion,
    accepted: bool,
) -> None:
    scp = start_scp(running, spool, pki)
    context = tls_client_context(pki, pki.client)
    context.minimum_version = context.maximum_version = version
    context.set_ciphers("ALL:@SECLEVEL=0")  # the client offers what it is told to
    with socket.create_connection((LOOPBACK, scp.tls_port), timeout=5) as raw:
        if accepted:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() == version.name.replace("v1_", "v1.")
            return
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="localhost")
    wait_until(lambda: "UNSUPPORTED_PROTOCOL" in caplog.text, 5, "the server's refusal logged")


# ---------------------------------------------------------------- what is refused


@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
def test_a_sender_without_an_accepted_client_certificate_is_refused(
    running: list[StorageScp],
    spool: Spool,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    who: str,
) -> None:
    caplog.set_level(logging.INFO, logger="sr2fhir")
    scp = start_scp(running, spool, pki)
    identity = None if who == "no certificate" else pki.foreign_client
    assert store(scp.tls_port, pki, identity, index=8) == REFUSED
    assert spooled_uids(spool) == []
    reason = "no client certificate sent" if identity is None else "client certificate not"
    wait_until(lambda: reason in caplog.text, 5, "the handshake failure in the log")


def test_plain_dicom_on_the_tls_port_is_refused(
    running: list[StorageScp], spool: Spool, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    scp = start_scp(running, spool, pki)
    assert store(scp.tls_port, None, index=9) == REFUSED
    assert spooled_uids(spool) == []
    wait_until(lambda: "plain DICOM on the TLS port" in caplog.text, 5, "the refusal logged")


def test_the_calling_ae_allow_list_applies_to_the_tls_listener(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki, allowed_callers=(AllowedCaller("TLSSCU"),))
    assert store(scp.tls_port, pki, pki.client, calling="INTRUDER") == REFUSED
    assert store(scp.port, None, calling="INTRUDER") == REFUSED
    assert store(scp.tls_port, pki, pki.client, calling="TLSSCU", index=10) == 0x0000
    assert spooled_uids(spool) == [benchmark_report(10).SOPInstanceUID]


# ---------------------------------------------------------------- robustness, stop, start


def test_a_silent_client_neither_blocks_the_tls_listener_nor_stays_for_long(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    """pynetdicom handshakes in its accept loop; the SCP moves it to the connection's thread."""
    scp = start_scp(running, spool, pki, request_timeout=1.0)
    with socket.create_connection((LOOPBACK, scp.tls_port), timeout=5) as silent:
        assert store(scp.tls_port, pki, pki.client, index=11) == 0x0000
        assert silent.recv(1) == b""  # dropped after request_timeout (a timeout here fails)


def test_stop_closes_both_listeners(running: list[StorageScp], spool: Spool, pki: Pki) -> None:
    scp = start_scp(running, spool, pki)
    ports = (scp.port, scp.tls_port)
    scp.stop(grace=1)
    assert all(tcp_refused(port) for port in ports)


def test_stop_ends_running_associations_on_both_listeners(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    scp = start_scp(running, spool, pki)
    tls_args = (tls_client_context(pki, pki.client), "localhost")
    over_tls = sender().associate(LOOPBACK, scp.tls_port, ae_title="SR2FHIR", tls_args=tls_args)
    plain = sender().associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
    assert over_tls.is_established and plain.is_established
    scp.stop(grace=0.2)  # neither sender releases: both are aborted at the deadline
    # within 2 s: well before the senders' own 5 s network timeout would end them
    wait_until(lambda: not (over_tls.is_established or plain.is_established), 2, "both ended")


@pytest.mark.parametrize("stopping", [False, True])
def test_a_handshake_that_ends_while_the_scp_stops_is_dropped(pki: Pki, stopping: bool) -> None:
    """The EVT_CONN_OPEN handler on a socket pair: after stop() began, no association starts."""
    config = DicomConfig(
        port=None,
        tls_port=0,
        tls_cert=str(pki.server.cert),
        tls_key=str(pki.server.key),
        tls_ca=str(pki.ca),
    )
    server_end, client_end = socket.socketpair()
    closed: list[bool] = []
    transport = SimpleNamespace(
        socket=server_context(config).wrap_socket(server_end, server_side=True),
        close=lambda: closed.append(True),
    )
    assoc = SimpleNamespace(dul=SimpleNamespace(socket=transport), acse_timeout=30.0)
    accepting = threading.Event()
    if not stopping:
        accepting.set()
    client = tls_client_context(pki, pki.client)
    handshake = threading.Thread(
        target=lambda: client.wrap_socket(client_end, server_hostname="localhost").close()
    )
    handshake.start()
    try:
        TlsHandshake(5.0, accepting)(SimpleNamespace(assoc=assoc, address=("127.0.0.1", 1)))
    finally:
        handshake.join(5)
        transport.socket.close()
    assert (closed, assoc.acse_timeout) == (([True], 0) if stopping else ([], 30.0))


def test_if_the_tls_port_cannot_be_bound_the_plain_one_is_closed_too(
    running: list[StorageScp], spool: Spool, pki: Pki
) -> None:
    plain = free_port()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        with pytest.raises(OSError):
            start_scp(running, spool, pki, port=plain, tls_port=taken.getsockname()[1])
    assert tcp_refused(plain)


def test_the_start_log_names_both_listeners_and_the_policy_never_the_key(
    running: list[StorageScp], spool: Spool, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scp = start_scp(running, spool, pki)
    store(scp.tls_port, pki, pki.client, index=12)
    store(scp.tls_port, pki, None, index=13)
    text = caplog.text
    assert f":{scp.port} (plain DICOM)" in text
    assert f":{scp.tls_port} (DICOM TLS 1.2+, client certificate required" in text
    key_lines = [line for line in pki.server.key.read_text().splitlines() if "-----" not in line]
    assert key_lines and not any(line in text for line in key_lines)
