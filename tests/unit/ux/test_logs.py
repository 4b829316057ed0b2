"""What the gateway's log says at start and stop, and the JSON lines' timestamps."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from sr2fhir.config import load_config
from sr2fhir.daemon import Gateway
from sr2fhir.log import JsonFormatter, utc_timestamp


def test_json_log_times_are_rfc3339_utc_with_milliseconds() -> None:
    record = logging.LogRecord("sr2fhir.x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1_795_000_000.1234

    entry = json.loads(JsonFormatter().format(record))

    assert entry["time"] == "2026-11-18T11:06:40.123Z"
    assert utc_timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def test_start_logs_one_summary_line_the_whole_configuration_only_at_debug_and_stop_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        env={"SR2FHIR_WORKERS_COUNT": "1"},
        overrides={
            "spool.data_dir": str(tmp_path / "data"),
            "dicom.port": 0,
            "dicom.host": "127.0.0.1",
            "workers.mode": "thread",
            "http.enabled": False,
        },
    )
    caplog.set_level(logging.INFO)
    gateway = Gateway(config)
    gateway.start()
    gateway.stop()
    gateway.stop()  # `serve` stops again in its finally: nothing more is said

    messages = [r.getMessage() for r in caplog.records if r.name == "sr2fhir.daemon"]
    summary = [m for m in messages if m.startswith("starting sr2fhir")]
    assert len(summary) == 1 and "\n" not in summary[0]
    assert re.search(
        r"AE SR2FHIR on 127\.0\.0\.1:0; data folder .*data; 1 thread worker", summary[0]
    )
    assert "1 environment variable(s)" in summary[0]
    assert not any("effective configuration" in m for m in messages)
    assert messages.count("gateway stopped") == 1
