"""/readyz and /metrics of a gateway delivering to the HAPI test server through a TCP proxy:
the sink check follows the server's reachability, and the server's response codes are counted
by the worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr2fhir.ops.probe import fetch
from tests.integration.fhir_peer import TcpProxy, fhir_base, unique_report
from tests.support.dcmtk import storescu
from tests.support.processes import wait_until
from tests.support.serve import running_gateway
from tests.support.sr.reports import qualifier_report

pytestmark = pytest.mark.integration


def readiness(port: int) -> tuple[int | None, dict[str, object]]:
    status, text = fetch("127.0.0.1", port, "readyz")
    return status, json.loads(text) if status is not None else {}


def test_readiness_follows_the_fhir_server_and_its_answers_are_counted(tmp_path: Path) -> None:
    proxy = TcpProxy(fhir_base())  # not started: the server is unreachable
    env = {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": proxy.base,
        "SR2FHIR_FHIR_CONNECT_TIMEOUT": "2",
        "SR2FHIR_HTTP_PORT": "0",
        "SR2FHIR_WORKERS_BACKOFF_INITIAL": "0.5",
    }
    try:
        with running_gateway(tmp_path / "data", env=env) as gateway:
            found = gateway.wait_for_log(r"operations endpoint on http://[^:]+:(\d+)")
            port = int(found.group(1))
            status, body = readiness(port)
            assert status == 503 and body["failed"] == ["sink"], body
            assert fetch("127.0.0.1", port, "healthz")[0] == 200  # alive: it still receives

            report = tmp_path / "sr.dcm"
            unique_report(qualifier_report, "P-OPS-1", "2.25.1").save_as(
                report, enforce_file_format=True
            )
            assert storescu(gateway.port, [report]).returncode == 0
            proxy.start()

            def ready() -> bool:  # the sink check's answer is reused for 5 s
                return readiness(port)[0] == 200

            wait_until(ready, 30, "/readyz to pass once the server is reachable", every=0.5)

            def delivered() -> str:
                text = fetch("127.0.0.1", port, "metrics")[1]
                return text if 'sr2fhir_deliveries{outcome="delivered"} 1' in text else ""

            text = wait_until(delivered, 120, "the delivery", every=0.5)
            wait_until(
                lambda: (
                    'fhir_responses_total{method="POST",code="200"}'
                    in fetch("127.0.0.1", port, "metrics")[1]
                ),
                10,
                "the transaction's 200 in /metrics",
            )
            assert "sr2fhir_delivery_latency_seconds_count" in text
    finally:
        proxy.stop()
