"""The `sr2fhir serve` process: SIGTERM under load, and a full spool answered with 0xA700."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.dcmtk import storescu
from tests.support.processes import stop_process, wait_until
from tests.support.scu import sending_in_background
from tests.support.serve import outbox_uids, running_gateway, start_gateway
from tests.support.sr.benchmark import write_reports
from tests.support.sr.part10 import sop_instance_uid

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("whole_group", [False, True], ids=["daemon", "process-group"])
def test_sigterm_under_load_exits_0_quickly_and_loses_nothing(
    tmp_path: Path, whole_group: bool
) -> None:
    """SIGTERM to the daemon, or to its whole process group as a service manager does."""
    files = write_reports(tmp_path / "srs", 100, start=3000)
    data_dir = tmp_path / "data"
    acknowledged: list[str] = []
    gateway = start_gateway(data_dir)
    try:
        sender = sending_in_background(gateway.port, files, acknowledged, 30)
        began = time.monotonic()
        if whole_group:
            os.killpg(gateway.proc.pid, signal.SIGTERM)
        else:
            gateway.proc.send_signal(signal.SIGTERM)
        code = gateway.proc.wait(15)
        took = time.monotonic() - began
    finally:
        stop_process(gateway.proc, signal.SIGKILL)
    sender.join(30)

    assert code == 0, gateway.log_text()[-2000:]
    assert took < 10, f"graceful stop took {took:.1f}s"
    assert "gateway stopped" in gateway.log_text()
    acked = set(acknowledged)
    with running_gateway(data_dir, log_name="restart.log") as restarted:
        wait_until(lambda: acked <= outbox_uids(restarted.outbox), 120, "every acked Bundle")


def test_an_unwritable_spool_answers_a700_and_the_resend_succeeds(tmp_path: Path) -> None:
    files = write_reports(tmp_path / "srs", 2, start=4000)
    with running_gateway(tmp_path / "data") as gateway:
        spool_files = gateway.data_dir / "files"
        spool_files.rename(tmp_path / "away")
        spool_files.write_bytes(b"")  # every spool write now fails

        refused = storescu(gateway.port, files, extra=["-v"])

        answers = refused.stdout + refused.stderr
        assert "Received Store Response (Refused: OutOfResources)" in answers
        assert "C-STORE refused (0xA700)" in gateway.log_text()
        spool_files.unlink()
        (tmp_path / "away").rename(spool_files)

        resent = storescu(gateway.port, files)

        assert resent.returncode == 0, resent.stderr
        uids = {sop_instance_uid(p) for p in files}
        wait_until(lambda: uids <= outbox_uids(gateway.outbox), 60, "the resent Bundles")
