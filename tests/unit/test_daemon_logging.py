"""log.setup_logging: one handler, text or one JSON object per line, pynetdicom kept quiet."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sr2fhir.log import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_object_per_line(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", stream=stream)
    logging.getLogger("sr2fhir.worker").info("job %d DONE: sop_instance_uid=%s", 7, "1.2.3")
    logging.getLogger("sr2fhir.worker").debug("not at INFO")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "sr2fhir.worker"
    assert entry["message"] == "job 7 DONE: sop_instance_uid=1.2.3"


def test_setup_replaces_handlers_and_quiets_pynetdicom(restore_root: None) -> None:
    setup_logging("INFO", "text", stream=io.StringIO())
    stream = io.StringIO()
    setup_logging("INFO", "text", stream=stream)
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("pynetdicom.assoc").info("A-ASSOCIATE-RQ PDU dump")
    logging.getLogger("sr2fhir.scp").info("listening")
    assert "PDU dump" not in stream.getvalue()
    assert "INFO MainProcess sr2fhir.scp: listening" in stream.getvalue()
