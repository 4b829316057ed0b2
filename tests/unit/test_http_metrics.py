"""The pieces behind /metrics and /readyz: counter files, exposition text, probes, hooks."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import Config, load_config
from sr2fhir.delivery import build_sink
from sr2fhir.events import EventBus, GatewayEvent
from sr2fhir.ops import metrics, prometheus
from sr2fhir.ops.health import SinkProbe, check_listening, listening_ports
from sr2fhir.ops.metrics import MetricsRecorder
from sr2fhir.ops.queue_view import FolderSize, QueueView
from sr2fhir.ops.stats import MAX_LABEL_SETS, OTHER, Histogram, Snapshot, Stats, read_stats
from sr2fhir.spool import JobStatus
from tests.support.processes import wait_until


def test_a_new_process_for_the_same_seat_continues_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "stats" / "worker-0.json"
    first = Stats(path, save_every=60)
    first.inc(metrics.FHIR_RESPONSES, ("POST", "200"))
    first.observe(metrics.LATENCY, 0.3)
    first.close()  # a worker's last counts are written when it ends
    second = Stats(path, save_every=0.05)  # the replacement worker
    second.inc(metrics.FHIR_RESPONSES, ("POST", "200"))
    second.observe(metrics.LATENCY, 7.0)
    other = Stats(tmp_path / "stats" / "worker-1.json", save_every=0.05)
    other.inc(metrics.FHIR_RESPONSES, ("POST", "503"))
    wait_until(lambda: not second._dirty and not other._dirty, 10, "the saver threads")

    total = read_stats(tmp_path / "stats")

    assert total.counter(metrics.FHIR_RESPONSES) == {("POST", "200"): 2, ("POST", "503"): 1}
    latency = total.histograms[metrics.LATENCY]
    assert latency.count == 2 and latency.total == pytest.approx(7.3)
    assert dict(latency.cumulative())["0.5"] == 1 and dict(latency.cumulative())["10"] == 2


def test_unsaved_counts_stay_in_memory_until_save(tmp_path: Path) -> None:
    stats = Stats(tmp_path / "scp.json")
    stats.inc(metrics.ASSOCIATIONS, ("accepted",))
    assert not (tmp_path / "scp.json").exists()
    stats.save()
    assert read_stats(tmp_path).counter(metrics.ASSOCIATIONS) == {("accepted",): 1}


def test_an_unreadable_counters_file_starts_from_zero(tmp_path: Path) -> None:
    (tmp_path / "worker-0.json").write_text("{not json")
    assert Stats(tmp_path / "worker-0.json").snapshot().counters == {}


def test_label_sets_are_bounded() -> None:
    stats = Stats()
    for index in range(MAX_LABEL_SETS + 5):
        stats.inc(metrics.RECEIVED, ("1.2", f"AE{index}", "stored"))
    values = stats.snapshot().counter(metrics.RECEIVED)
    assert len(values) == MAX_LABEL_SETS + 1
    assert values[(OTHER, OTHER, OTHER)] == 5


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    hist = Histogram((1.0, 5.0))
    for value in (0.5, 1.0, 3.0, 100.0):
        hist.observe(value)
    assert hist.cumulative() == [("1", 2), ("5", 3), ("+Inf", 4)]


def queue_view() -> QueueView:
    counts = dict.fromkeys(JobStatus, 0)
    counts[JobStatus.DONE] = 4
    outcomes = {"delivered": 4, "retrying": 0, "rejected": 0, "failed": 0}
    return QueueView(counts, outcomes, {"files": FolderSize(2, 300)}, [])


def test_label_values_are_escaped_in_the_exposition_text() -> None:
    scp = Snapshot({metrics.RECEIVED: {("1.2.3", 'A"B\\C', "stored"): 2}})
    text = prometheus.render(scp, Snapshot(), queue_view(), 2, 2)
    assert 'calling_ae="A\\"B\\\\C"' in text
    assert "# TYPE sr2fhir_delivery_latency_seconds histogram" in text
    assert 'sr2fhir_spool_bytes{folder="files"} 300' in text
    assert text.endswith("\n")


def test_check_listening_reads_listen_sockets_without_connecting(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not check_listening([port]).ok  # bound, not yet listening
        server.listen()
        found = listening_ports()
        assert found is not None and port in found
        assert check_listening([port]).ok
    assert not check_listening([]).ok
    fake = tmp_path / "net"
    fake.mkdir()
    (fake / "tcp").write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:2B68 00000000:0000 0A 0\n"
        "   1: 0100007F:0068 0100007F:9C40 01 0\n"
    )
    assert listening_ports(fake) == {11112}
    assert listening_ports(tmp_path / "no-proc") is None


class _Metadata(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.server.status if self.path.endswith("metadata") else 404)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fhir_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def fhir_config(tmp_path: Path, port: int) -> Config:
    overrides = {
        "spool.data_dir": str(tmp_path / "data"),
        "delivery.sink": "fhir",
        "fhir.base_url": f"http://127.0.0.1:{port}/fhir",
    }
    return load_config(env={}, overrides=overrides)


def fhir_probe(tmp_path: Path, port: int, clock: Any = None) -> SinkProbe:
    sink = build_sink(fhir_config(tmp_path, port))
    return SinkProbe(sink, timeout=2.0, **({"clock": clock} if clock else {}))


def test_the_sink_check_asks_the_fhir_server_and_reuses_the_answer_briefly(
    tmp_path: Path, fhir_server: ThreadingHTTPServer
) -> None:
    now = [0.0]
    probe = fhir_probe(tmp_path, fhir_server.server_address[1], clock=lambda: now[0])
    assert probe().ok
    fhir_server.status = 503  # type: ignore[attr-defined]
    assert probe().ok  # cached
    now[0] = 10.0
    check = probe()
    assert not check.ok and check.detail == "FHIR server answers HTTP 503"


def test_an_unreachable_fhir_server_fails_the_sink_check(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    check = fhir_probe(tmp_path, port)()
    assert not check.ok and "unreachable" in check.detail


def test_fhir_response_codes_are_counted_from_the_sinks_events(
    tmp_path: Path, fhir_server: ThreadingHTTPServer
) -> None:
    from sr2fhir.delivery.fhir.sink import build_fhir_sink

    config = fhir_config(tmp_path, fhir_server.server_address[1])
    stats = Stats()
    sink = build_fhir_sink(config.fhir, EventBus([MetricsRecorder(stats)]))
    sink.http.request("GET", "metadata")
    sink.http.request("GET", "Patient")
    counted = stats.snapshot().counter(metrics.FHIR_RESPONSES)
    assert counted == {("GET", "200"): 1, ("GET", "404"): 1}


def test_received_instances_are_counted_stored_or_refused() -> None:
    stats = Stats()
    bus = EventBus([MetricsRecorder(stats)])
    info = {"sop_class_uid": "1.2.840.10008.5.1.4.1.1.88.22", "calling_ae": "CT1"}
    bus.emit(GatewayEvent.INSTANCE_STORED, job_id=7, sop_instance_uid="1.2.3", **info)
    bus.emit(GatewayEvent.INSTANCE_REFUSED, sop_instance_uid="1.2.4", **info)
    assert stats.snapshot().counter(metrics.RECEIVED) == {
        ("1.2.840.10008.5.1.4.1.1.88.22", "CT1", "stored"): 1,
        ("1.2.840.10008.5.1.4.1.1.88.22", "CT1", "refused"): 1,
    }


def test_the_latency_runs_from_the_c_store_response_to_delivered() -> None:
    stats = Stats()
    bus = EventBus([MetricsRecorder(stats, clock=lambda: 1000.0)])
    bus.emit(GatewayEvent.JOB_DELIVERED, job_id=1, received_at=997.5, sink="x", resources=[])
    bus.emit(GatewayEvent.JOB_FAILED, job_id=2, reason="refused")  # no latency
    latency = stats.snapshot().histograms[metrics.LATENCY]
    assert (latency.count, latency.total) == (1, 2.5)


def test_the_saver_thread_ends_with_its_counters(tmp_path: Path) -> None:
    stats = Stats(tmp_path / "worker-0.json", save_every=0.01)
    saver = stats.saver
    assert saver is not None and saver.is_alive()
    stats.inc(metrics.FHIR_RESPONSES, ("POST", "201"))
    wait_until(lambda: (tmp_path / "worker-0.json").exists(), 5, "the first save")
    del stats
    saver.join(5)
    assert not saver.is_alive()


def test_metrics_name_the_node_holding_locked_jobs() -> None:
    """Several nodes on one database: /metrics shows which node holds how many jobs."""
    view = dataclasses.replace(queue_view(), holders={"node-b:22": 1, "node-a:11": 2})
    text = prometheus.render(Snapshot(), Snapshot(), view, 2, 2)
    assert "# TYPE sr2fhir_jobs_locked gauge" in text
    assert (
        'sr2fhir_jobs_locked{node="node-a:11"} 2\nsr2fhir_jobs_locked{node="node-b:22"} 1' in text
    )
