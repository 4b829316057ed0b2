"""DICOM TLS with dcmtk as the peer: storescu/echoscu +tls against the gateway's TLS listener.

Certificates are made per run by the openssl CLI (peers.make_pki); no key is committed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.config import DicomConfig
from sr2fhir.scp import StorageScp
from sr2fhir.spool import open_spool
from tests import srfactory
from tests.integration.peers import (
    GatewayProcess,
    Pki,
    dcmtk_tls_flags,
    echoscu_tls,
    gateway_tls_env,
    gateway_tls_port,
    make_pki,
    outbox_uids,
    running_gateway,
    sop_instance_uid,
    storescu,
    wait_until,
    write_reports,
)

pytestmark = pytest.mark.integration

ALLOWED = "TESTSCU"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[GatewayProcess]:
    """One gateway for the module: plain port and TLS port (client certificates required),
    accepting only calling AE TESTSCU."""
    data_dir = tmp_path_factory.mktemp("dcmtk-tls") / "data"
    env = {
        **gateway_tls_env(pki),
        "SR2FHIR_DICOM_ALLOWED_CALLERS": f"[{ALLOWED}]",
        "SR2FHIR_HTTP_PORT": "0",
    }
    with running_gateway(data_dir, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def tls_port(gateway: GatewayProcess) -> int:
    return gateway_tls_port(gateway)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr).lower()


def test_storescu_over_tls_delivers_the_reports(
    gateway: GatewayProcess, tls_port: int, pki: Pki, tmp_path: Path
) -> None:
    files = write_reports(tmp_path / "srs", 2, start=100)
    volumetric = tmp_path / "srs" / "3d.dcm"
    volumetric.write_bytes(srfactory.to_bytes(srfactory.volumetric_report("dcmtk-tls-3d")))
    files.append(volumetric)
    expected = {sop_instance_uid(path) for path in files}

    result = storescu(tls_port, files, extra=dcmtk_tls_flags(pki.client, pki.ca))

    assert result.returncode == 0, result.stderr
    wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")


def test_echoscu_over_tls_gets_a_verification_answer(tls_port: int, pki: Pki) -> None:
    result = echoscu_tls(tls_port, dcmtk_tls_flags(pki.client, pki.ca))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("sender", ["anonymous TLS", "certificate from another CA"])
def test_a_sender_without_an_accepted_client_certificate_is_refused(
    gateway: GatewayProcess, tls_port: int, pki: Pki, tmp_path: Path, sender: str
) -> None:
    identity = None if sender == "anonymous TLS" else pki.foreign_client
    [path] = write_reports(tmp_path, 1, start=200 if identity is None else 201)

    result = storescu(tls_port, [path], extra=dcmtk_tls_flags(identity, pki.ca))

    assert result.returncode != 0
    assert "association request failed" in output(result)
    reason = "no client certificate sent" if identity is None else "certificate not accepted"
    wait_until(lambda: reason in gateway.log_text(), 10, f"'{reason}' in the gateway log")
    assert sop_instance_uid(path) not in outbox_uids(gateway.outbox)


def test_a_sender_that_does_not_trust_the_gateway_certificate_stops(
    gateway: GatewayProcess, tls_port: int, pki: Pki
) -> None:
    result = echoscu_tls(tls_port, dcmtk_tls_flags(pki.client, pki.foreign_ca))
    assert result.returncode != 0
    assert "certificate verify failed" in output(result)
    wait_until(lambda: "does not trust our certificate" in gateway.log_text(), 10, "the log")


def test_plain_dicom_to_the_tls_port_fails(
    gateway: GatewayProcess, tls_port: int, tmp_path: Path
) -> None:
    [path] = write_reports(tmp_path, 1, start=300)
    result = storescu(tls_port, [path])
    assert result.returncode != 0
    wait_until(lambda: "plain DICOM on the TLS port" in gateway.log_text(), 10, "the log")
    assert sop_instance_uid(path) not in outbox_uids(gateway.outbox)


def test_the_plain_port_still_works_beside_tls(gateway: GatewayProcess, tmp_path: Path) -> None:
    [path] = write_reports(tmp_path, 1, start=400)
    result = storescu(gateway.port, [path])
    assert result.returncode == 0, result.stderr
    wait_until(lambda: sop_instance_uid(path) in outbox_uids(gateway.outbox), 60, "the Bundle")


def test_the_calling_ae_allow_list_applies_over_tls(tls_port: int, pki: Pki) -> None:
    result = echoscu_tls(tls_port, dcmtk_tls_flags(pki.client, pki.ca), calling="INTRUDER")
    assert result.returncode != 0
    assert "calling ae title not recognized" in output(result)


def test_with_plain_dicom_switched_off_storescu_needs_tls(pki: Pki, tmp_path: Path) -> None:
    """An in-process SCP with dicom.port null: the one port there is speaks TLS only."""
    spool = open_spool(tmp_path / "data", db_timeout=1.0)
    config = DicomConfig(
        host="127.0.0.1",
        port=None,
        tls_port=0,
        tls_cert=str(pki.server.cert),
        tls_key=str(pki.server.key),
        tls_ca=str(pki.ca),
    )
    scp = StorageScp(config, spool.receive)
    scp.start()
    try:
        assert scp.port == scp.tls_port
        [plain, secure] = write_reports(tmp_path / "srs", 2, start=500)
        assert storescu(scp.port, [plain]).returncode != 0
        result = storescu(scp.port, [secure], extra=dcmtk_tls_flags(pki.client, pki.ca))
        assert result.returncode == 0, result.stderr
        assert [job.sop_instance_uid for job in spool.jobs.list_jobs()] == [
            sop_instance_uid(secure)
        ]
    finally:
        scp.stop(grace=1)
        spool.close()
