"""Crash safety: SIGKILL the whole gateway mid-stream; after a restart nothing acked is lost."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.support.processes import stop_process, wait_until
from tests.support.scu import sending_in_background
from tests.support.serve import outbox_uids, running_gateway, start_gateway
from tests.support.sr.benchmark import write_reports

pytestmark = pytest.mark.integration

SENT = 150
KILL_AFTER = 40


def test_sigkill_mid_stream_loses_no_acknowledged_sr(tmp_path: Path) -> None:
    files = write_reports(tmp_path / "srs", SENT, start=1000)
    data_dir = tmp_path / "data"
    acknowledged: list[str] = []

    # One worker validating every Bundle (~40 ms each) is slower than the sender, so some
    # acknowledged SRs are still queued when the kill lands; the default workers keep up.
    gateway = start_gateway(data_dir, "--workers", "1", env={"SR2FHIR_DELIVERY_VALIDATE": "true"})
    try:
        sender = sending_in_background(gateway.port, files, acknowledged, KILL_AFTER)
    finally:
        stop_process(gateway.proc, signal.SIGKILL)  # the SCP, its workers: all at once
    sender.join(60)
    acked = set(acknowledged)
    assert KILL_AFTER <= len(acked) < SENT, "the kill should land mid-stream"
    assert not acked <= outbox_uids(data_dir / "outbox"), "some acked SRs were still queued"

    with running_gateway(data_dir, log_name="restart.log") as restarted:
        outbox = restarted.outbox
        wait_until(lambda: acked <= outbox_uids(outbox), 120, "every acknowledged SR's Bundle")

    for uid in acked:
        bundles = list(outbox.glob(f"{uid}*.json"))
        assert [b.name for b in bundles] == [f"{uid}.json"]
        assert json.loads(bundles[0].read_bytes())["resourceType"] == "Bundle"
    assert not list(outbox.glob(".*.tmp")), "half-written Bundles were left behind"
