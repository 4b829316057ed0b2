"""The operations endpoint of a running gateway: /healthz, /readyz, /metrics."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import Config
from sr2fhir.daemon import Gateway
from sr2fhir.delivery import build_sink
from sr2fhir.ops.http import OpsServer, start_ops_server
from sr2fhir.ops.service import GatewayOps
from tests.support.in_process import gateway_config
from tests.support.processes import wait_until
from tests.support.scu import send_files
from tests.support.serve import outbox_uids
from tests.support.sr.benchmark import write_reports

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? -?[0-9.e+]+$')


def get(port: int, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def parse_metrics(text: str) -> dict[str, float]:
    """{'name{labels}': value}; every sample line must be valid exposition format and every
    metric must have HELP and TYPE before its samples."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        assert SAMPLE.match(line), f"not exposition format: {line!r}"
        name = line.split("{")[0].split(" ")[0]
        assert re.sub(r"_(bucket|sum|count)$", "", name) in typed or name in typed, line
        key, value = line.rsplit(" ", 1)
        samples[key] = float(value)
    return samples


def test_a_running_gateway_reports_alive_ready_and_what_it_did(
    tmp_path: Path, spool_config: Config, started: Callable[[Gateway], Gateway]
) -> None:
    """On each spool back end: /readyz and /metrics work unchanged."""
    gateway = started(Gateway(gateway_config(tmp_path, spool=spool_config)))
    assert gateway.http is not None
    port = gateway.http.port
    files = write_reports(tmp_path / "srs", 3)
    acked: list[str] = []
    send_files(gateway.port, files, acked)
    wait_until(lambda: set(acked) <= outbox_uids(tmp_path / "data" / "outbox"), 60, "Bundles")

    assert get(port, "/healthz")[::2] == (200, '{\n "status": "alive"\n}')
    status, content_type, body = get(port, "/readyz")
    assert (status, content_type) == (200, "application/json")
    checks = json.loads(body)["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "scp": True,
        "spool": True,
        "workers": True,
        "sink": True,
    }
    status, content_type, _ = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")

    def metrics_with_latency() -> dict[str, float]:  # workers save counters every 0.5 s
        found = parse_metrics(get(port, "/metrics")[2])
        return found if found["sr2fhir_delivery_latency_seconds_count"] == 3 else {}

    metrics = wait_until(metrics_with_latency, 10, "the workers' counters")
    received = (
        f'sr2fhir_instances_received_total{{sop_class_uid="{COMPREHENSIVE_SR}",'
        'calling_ae="PYSCU",result="stored"}'
    )
    assert metrics[received] == 3
    assert metrics['sr2fhir_associations_total{result="accepted"}'] == 1
    assert metrics['sr2fhir_associations_total{result="rejected"}'] == 0
    assert metrics['sr2fhir_jobs{state="DONE"}'] == 3
    assert metrics['sr2fhir_deliveries{outcome="delivered"}'] == 3
    assert metrics["sr2fhir_delivery_latency_seconds_count"] == 3
    assert metrics['sr2fhir_delivery_latency_seconds_bucket{le="+Inf"}'] == 3
    assert 0 < metrics["sr2fhir_delivery_latency_seconds_sum"] < 60
    assert metrics['sr2fhir_spool_files{folder="files"}'] == 0
    assert metrics['sr2fhir_workers{state="alive"}'] == 2
    assert metrics['sr2fhir_jobs{state="LOCKED"}'] == 0
    if spool_config.spool.database_url is None:  # the data folder holds the instances
        assert metrics["sr2fhir_spool_min_free_bytes"] == 100_000_000  # the default limit
        assert metrics["sr2fhir_spool_free_bytes"] > 0
    else:  # the database does: no local limit (its server refuses a commit when full)
        assert metrics["sr2fhir_spool_min_free_bytes"] == 0
        assert "sr2fhir_spool_free_bytes" not in metrics
    assert get(port, "/nothing-here")[0] == 404


def test_a_caller_outside_the_allow_list_is_counted_as_a_rejected_association(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    config = gateway_config(tmp_path, {"dicom.allowed_callers": ["OTHER"]})
    gateway = started(Gateway(config))
    acked: list[str] = []
    send_files(gateway.port, write_reports(tmp_path / "srs", 1), acked)
    assert acked == []
    assert gateway.http is not None

    def rejected() -> float:
        metrics = parse_metrics(get(gateway.http.port, "/metrics")[2])  # type: ignore[union-attr]
        return metrics['sr2fhir_associations_total{result="rejected"}']

    wait_until(lambda: rejected() == 1, 10, "the rejection to be counted")
    text = get(gateway.http.port, "/metrics")[2]
    assert 'sr2fhir_associations_total{result="accepted"} 0' in text


def test_readyz_answers_503_naming_each_failed_check(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, {"delivery.outbox_dir": str(tmp_path / "gone")})
    sink = build_sink(config)
    (tmp_path / "gone").rmdir()  # gone after the gateway started
    ops = GatewayOps(config, scp_ports=lambda: [], workers=lambda: (1, 2), sink=sink)
    server = OpsServer("127.0.0.1", 0, ops)
    server.start()
    try:
        status, _, body = get(server.port, "/readyz")
        answer = json.loads(body)
        assert status == 503 and answer["status"] == "not ready"
        assert answer["failed"] == ["scp", "workers", "sink"]
        assert answer["checks"]["workers"]["detail"] == "1 of 2 alive"
        assert "gone" in answer["checks"]["sink"]["detail"]
        assert answer["checks"]["spool"]["ok"] is True

        ops.mark_stopping()

        assert get(server.port, "/healthz")[::2] == (503, '{\n "status": "stopping"\n}')
        assert json.loads(get(server.port, "/readyz")[2])["failed"] == ["gateway"]
    finally:
        server.stop()
        ops.close()


def test_a_failing_page_answers_500_and_the_server_goes_on(tmp_path: Path) -> None:
    class Broken:
        def alive(self) -> bool:
            return True

        def readiness(self) -> list[Any]:
            raise RuntimeError("boom")

        def metrics(self) -> str:
            return "x 1\n"

    server = OpsServer("127.0.0.1", 0, Broken())
    server.start()
    try:
        assert get(server.port, "/readyz")[::2] == (500, '{\n "error": "RuntimeError"\n}')
        assert get(server.port, "/metrics")[::2] == (200, "x 1\n")
    finally:
        server.stop()


def test_a_taken_port_leaves_the_endpoint_off_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = gateway_config(tmp_path, {"http.port": taken.getsockname()[1]})
        ops = GatewayOps(config, lambda: [], lambda: (0, 0), sink=build_sink(config))
        assert start_ops_server(config.http, ops) is None
    assert "operations endpoint NOT started" in caplog.text
    disabled = gateway_config(tmp_path, {"http.enabled": False})
    assert start_ops_server(disabled.http, ops) is None
