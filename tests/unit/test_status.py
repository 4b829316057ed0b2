"""`sr2fhir status`: the picture for a person, from the data folder; --probe for HEALTHCHECK."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.daemon import Gateway
from sr2fhir.ops import probe
from sr2fhir.ops.service import HISTORY
from sr2fhir.spool import InstanceInfo, JobStatus, open_spool
from tests.support.in_process import gateway_config
from tests.support.processes import wait_until
from tests.support.scu import send_files
from tests.support.serve import outbox_uids
from tests.support.sr.benchmark import write_reports


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["status", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_status_while_the_gateway_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = Gateway(gateway_config(tmp_path))
    gateway.start()
    try:
        files = write_reports(tmp_path / "srs", 3)
        acked: list[str] = []
        send_files(gateway.port, files, acked)
        outbox = tmp_path / "data" / "outbox"
        wait_until(lambda: set(acked) <= outbox_uids(outbox), 60, "three Bundles")
        gateway.ops.publish()  # the supervision tick of run_until_signalled

        def shown() -> str:  # workers write their counters at most every 0.5 s
            code, out, _ = status(capsys, "--data-dir", str(tmp_path / "data"))
            assert code == 0
            return out if "(3 deliveries)" in out else ""

        out = wait_until(shown, 10, "the workers' counters")
        assert "gateway:        running" in out
        assert "queue:          READY 0  LOCKED 0  DONE 3  FAILED 0" in out
        assert "associations accepted 1, rejected 0; instances stored 3" in out
        assert "by calling AE:  PYSCU 3" in out
        assert "last errors: none" in out
    finally:
        gateway.stop()
    code, out, _ = status(capsys, "--data-dir", str(tmp_path / "data"), "--json")
    assert code == 0
    picture = json.loads(out)
    assert picture["gateway"]["state"] == "stopped"
    assert picture["deliveries"]["delivered"] == 3
    assert picture["latency_seconds"]["count"] == 3


def test_status_shows_the_latest_errors_and_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    spool = open_spool(data)
    info = InstanceInfo("1.2.840.10008.5.1.4.1.1.88.33", "1.2.3.4", "MODALITY1")
    job_id = spool.receive(b"not dicom", info)
    job = spool.claim("n/w")
    assert job is not None and job.id == job_id
    spool.reject(job, "not a usable SR: no file meta")
    spool.close()
    now = time.time()
    samples = [
        {"t": now - 600, "received": 0, "delivered": 0},
        {"t": now - 60, "received": 90, "delivered": 80},
        {"t": now, "received": 96, "delivered": 86},
    ]
    (data / "stats").mkdir()
    (data / "stats" / HISTORY).write_text(json.dumps(samples))

    code, out, _ = status(capsys, "--data-dir", str(data))

    assert code == 0
    assert "gateway:        running (last report 0 s ago)" in out
    assert "rejected 1" in out and "FAILED 1" in out
    assert "quarantine/ 1 files (9 B)" in out
    assert "6.0/min in, 6.0/min delivered (1 min)" in out
    assert "9.6/min in, 8.6/min delivered (15 min)" in out
    assert f"job {job_id} FAILED" in out and "MODALITY1: not a usable SR: no file meta" in out
    assert JobStatus.FAILED.value in out


def test_status_of_a_missing_data_folder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = status(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "no data folder" in err
    assert not (tmp_path / "nowhere").exists()


@pytest.fixture
def probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: Callable[[Gateway], Gateway]
) -> Gateway:
    """A running gateway whose HTTP port SR2FHIR_HTTP_PORT names, as the probes read it."""
    gateway = started(Gateway(gateway_config(tmp_path)))
    assert gateway.http is not None
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", str(gateway.http.port))
    return gateway


def test_probe_exits_0_only_when_the_endpoint_answers_200(
    probed: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = status(capsys, "--probe", "healthz")
    assert code == 0 and json.loads(out) == {"status": "alive"}
    code, out, _ = status(capsys, "--probe", "readyz")
    assert code == 0 and json.loads(out)["status"] == "ready"
    probed.ops.mark_stopping()
    code, out, _ = status(capsys, "--probe", "readyz")
    assert code == 1 and json.loads(out)["failed"] == ["gateway"]
    probed.stop()
    code, _, err = status(capsys, "--probe", "healthz")
    assert code == 1 and "Connection refused" in err
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", "0")
    code, _, err = status(capsys, "--probe", "healthz")
    assert code == 1 and "port 0" in err


def test_probe_of_a_wildcard_host_asks_loopback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("SR2FHIR_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", str(port))
    code, _, err = status(capsys, "--probe", "healthz")
    assert code == 1 and f"http://127.0.0.1:{port}/healthz" in err


def test_the_light_probe_reads_the_http_settings_like_the_gateway(tmp_path: Path) -> None:
    config = tmp_path / "sr2fhir.yaml"
    config.write_text("http:\n  host: 0.0.0.0\n  port: 9200\n")
    assert probe.endpoint(None, {}) == ("127.0.0.1", 9112)
    assert probe.endpoint(str(config), {}) == ("127.0.0.1", 9200)
    assert probe.endpoint(str(config), {"SR2FHIR_HTTP_PORT": "9300"}) == ("127.0.0.1", 9300)
    assert probe.endpoint(None, {"SR2FHIR_HTTP_HOST": "::"}) == ("::1", 9112)


def test_the_light_probe_exits_0_only_on_200(
    probed: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert probe.main(["healthz"]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "alive"}
    probed.ops.mark_stopping()
    assert probe.main(["readyz"]) == 1
    probed.stop()
    assert probe.main(["healthz"]) == 1
    assert "Connection refused" in capsys.readouterr().err
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", "0")
    assert probe.main(["healthz"]) == 1


def test_status_shows_which_node_holds_which_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    spool = open_spool(data)
    for n in range(3):
        spool.receive(b"x", InstanceInfo("1.2.840.10008.5.1.4.1.1.88.33", f"1.2.9.{n}", "CT"))
    assert spool.claim("node-a:11/w0.1") is not None and spool.claim("node-a:11/w1.1")
    assert spool.claim("node-b:22/w0.1") is not None
    spool.close()
    code, out, _ = status(capsys, "--data-dir", str(data))
    assert code == 0
    assert "LOCKED by:      node-a:11 2, node-b:22 1" in out
    code, out, _ = status(capsys, "--data-dir", str(data), "--json")
    assert json.loads(out)["locked_by_node"] == {"node-a:11": 2, "node-b:22": 1}
