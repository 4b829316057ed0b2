"""build_sink is the one place a sink is chosen; readiness asks that sink's own probe."""

from __future__ import annotations

from pathlib import Path

from sr2fhir.config import load_config
from sr2fhir.delivery import FhirSink, OutboxSink, SinkKind, build_sink
from sr2fhir.delivery.sink import Receipt, SinkCheck
from sr2fhir.ops.health import SinkProbe
from sr2fhir.ops.service import GatewayOps
from tests.support.fake_sinks import Delivery, FakeSink


def test_the_configured_kind_is_built(tmp_path: Path) -> None:
    outbox = load_config(env={}, overrides={"delivery.outbox_dir": str(tmp_path / "out")})
    assert isinstance(build_sink(outbox), OutboxSink)
    fhir = load_config(
        env={}, overrides={"delivery.sink": "fhir", "fhir.base_url": "http://127.0.0.1:9/f"}
    )
    assert isinstance(build_sink(fhir), FhirSink)
    both = load_config(env={}, overrides={"fhir.base_url": "http://127.0.0.1:9/f"})
    assert isinstance(build_sink(both, SinkKind.FHIR), FhirSink)  # convert --push


class Probed(FakeSink):
    """A sink that only says it is not ready."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def answer(self, delivery: Delivery) -> Receipt:
        raise AssertionError("readiness never delivers")

    def probe(self, timeout: float) -> SinkCheck:
        self.timeouts.append(timeout)
        return SinkCheck(False, "probed by the sink itself")


def test_readiness_asks_the_gateway_s_sink_and_reuses_its_answer_briefly(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"spool.data_dir": str(tmp_path / "data")})
    sink = Probed()
    ops = GatewayOps(config, lambda: [], lambda: (1, 1), sink)
    try:
        checks = {check.name: check for check in ops.readiness()}
        ops.readiness()
    finally:
        ops.close()
    assert checks["sink"].detail == "probed by the sink itself" and not checks["sink"].ok
    assert sink.timeouts == [config.http.check_timeout]


def test_the_outbox_probe_says_whether_its_folder_takes_files(tmp_path: Path) -> None:
    sink = OutboxSink(tmp_path / "out")
    assert SinkProbe(sink, 1.0)().ok
    (tmp_path / "out").rmdir()
    check = SinkProbe(sink, 1.0)()
    assert not check.ok and "out is missing or not writable" in check.detail
