"""dcmtk as the sender, over plain DICOM and over TLS (storescu/echoscu +tls): storescu -R,
echoscu, refused SOP classes, the calling-AE allow-list, client certificates that are not
accepted, a sender that does not trust the gateway, a listener that speaks TLS only.

One gateway for the module listens on both ports; what holds for either transport is one
test run once per transport. Certificates are made per run in-process
(tests/support/pki.py); no key is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sr2fhir.config import DicomConfig
from sr2fhir.scp import StorageScp
from sr2fhir.spool import open_spool
from tests.support.dcmtk import dcmtk_tls_flags, echoscu, output, storescu
from tests.support.pki import Pki, make_pki
from tests.support.processes import wait_until
from tests.support.serve import (
    GatewayProcess,
    gateway_tls_env,
    gateway_tls_port,
    outbox_uids,
    running_gateway,
)
from tests.support.sr.bad_inputs import basic_text_sr_bytes, ct_image_bytes
from tests.support.sr.benchmark import benchmark_report, write_reports
from tests.support.sr.documents import as_sop_class
from tests.support.sr.identity import SOP_CLASSES, make_uid
from tests.support.sr.part10 import from_bytes, sop_instance_uid, to_bytes
from tests.support.sr.volumetric import volumetric_report

pytestmark = pytest.mark.integration

ALLOWED = "TESTSCU"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[GatewayProcess]:
    """One gateway for the module: plain port and TLS port (client certificates required),
    workers in processes, accepting only calling AE TESTSCU."""
    data_dir = tmp_path_factory.mktemp("dcmtk") / "data"
    env = {
        **gateway_tls_env(pki),
        "SR2FHIR_DICOM_ALLOWED_CALLERS": f"[{ALLOWED}]",
        "SR2FHIR_WORKERS_MODE": "process",
        "SR2FHIR_HTTP_PORT": "0",
    }
    with running_gateway(data_dir, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def tls_port(gateway: GatewayProcess) -> int:
    return gateway_tls_port(gateway)


@dataclass(frozen=True, slots=True)
class Transport:
    """How dcmtk reaches the gateway: the port, its options, the first report index to send
    (each transport sends reports of its own to the one gateway)."""

    name: str
    port: int
    flags: tuple[str, ...]
    first_report: int


@pytest.fixture(params=["plain", "tls"])
def transport(
    request: pytest.FixtureRequest, gateway: GatewayProcess, tls_port: int, pki: Pki
) -> Transport:
    if request.param == "plain":
        return Transport("plain", gateway.port, (), 0)
    return Transport("tls", tls_port, tuple(dcmtk_tls_flags(pki.client, pki.ca)), 100)


def audit_rejections(gateway: GatewayProcess) -> list[str]:
    """The audit trail's association-rejected lines, oldest first."""
    audit = "".join(p.read_text() for p in sorted((gateway.data_dir / "audit").glob("*.jsonl")))
    return [line for line in audit.splitlines() if '"event":"association-rejected"' in line]


# ---------------------------------------------------------------- either transport


def test_storescu_sends_a_folder_of_srs_including_comprehensive_3d(
    gateway: GatewayProcess, transport: Transport, tmp_path: Path
) -> None:
    folder = tmp_path / "srs"
    files = write_reports(folder, 4, start=transport.first_report)
    volumetric = volumetric_report(f"dcmtk-{transport.name}-3d")
    assert volumetric.SOPClassUID == SOP_CLASSES["comprehensive3d"]
    enhanced = as_sop_class(
        benchmark_report(transport.first_report + 90),
        "enhanced",
        sop_instance_uid=make_uid("enh", transport.name),
    )
    for name, ds in (("3d.dcm", volumetric), ("enhanced.dcm", enhanced)):
        (folder / name).write_bytes(to_bytes(ds))
        files.append(folder / name)
    expected = {from_bytes(p.read_bytes()).SOPInstanceUID for p in files}

    result = storescu(transport.port, files, extra=transport.flags)

    assert result.returncode == 0, result.stderr
    wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")
    status = gateway.queue("status")
    assert "FAILED  0" in status


def test_echoscu_gets_a_verification_answer(transport: Transport) -> None:
    result = echoscu(transport.port, calling=ALLOWED, extra=transport.flags)
    assert result.returncode == 0, result.stderr


def test_an_unknown_calling_ae_is_rejected(
    gateway: GatewayProcess, transport: Transport, tmp_path: Path
) -> None:
    before = len(audit_rejections(gateway))
    result = echoscu(transport.port, calling="INTRUDER", extra=transport.flags)
    assert result.returncode != 0
    assert "calling ae title not recognized" in output(result)
    [report] = write_reports(tmp_path, 1, start=500 + transport.first_report)
    sent = storescu(transport.port, [report], calling="INTRUDER", extra=transport.flags)
    assert sent.returncode != 0
    gateway.wait_for_log("INTRUDER")

    def rejections() -> list[str]:  # recorded when the connection closes, after the A-ASSOC-RJ
        lines = audit_rejections(gateway)[before:]
        return lines if len(lines) >= 2 else []

    rejected = wait_until(rejections, 30, "both rejections in the audit trail")
    assert all('"calling_ae":"INTRUDER"' in line for line in rejected)
    assert '"peer":"127.0.0.1:' in rejected[0]


# ---------------------------------------------------------------- plain DICOM


def test_a_ct_image_is_refused_at_negotiation(gateway: GatewayProcess, tmp_path: Path) -> None:
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(ct_image_bytes())
    before = gateway.queue("list")

    result = storescu(gateway.port, [ct])

    assert result.returncode != 0
    assert "no acceptable presentation contexts" in output(result)
    assert gateway.queue("list") == before


def test_a_non_tid1500_sr_is_acknowledged_then_quarantined(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    path = tmp_path / "basic.dcm"
    path.write_bytes(basic_text_sr_bytes())
    uid = str(from_bytes(path.read_bytes()).SOPInstanceUID)

    result = storescu(gateway.port, [path])

    assert result.returncode == 0, result.stderr
    failed = wait_until(lambda: uid in gateway.queue("list", "--state", "FAILED"), 60, "FAILED")
    assert failed
    job_id = next(
        line.split()[0]
        for line in gateway.queue("list", "--state", "FAILED").splitlines()
        if uid in line
    )
    shown = gateway.queue("show", job_id)
    assert "quarantine/" in shown and "last_error:" in shown
    assert uid not in outbox_uids(gateway.outbox)


# ---------------------------------------------------------------- TLS


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
    result = echoscu(tls_port, extra=dcmtk_tls_flags(pki.client, pki.foreign_ca))
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
