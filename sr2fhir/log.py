"""The only module that installs log handlers: plain text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def utc_timestamp(epoch: float) -> str:
    """RFC 3339 in UTC with milliseconds: `2026-11-28T04:01:02.345Z` (log lines, audit)."""
    whole = int(epoch)
    millis = int((epoch - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log shippers (time, level, logger, process, message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Install one stderr handler on the root logger; quiet pynetdicom's own handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _quiet_libraries()


# Libraries whose INFO/DEBUG lines can carry patient data: pynetdicom dumps PDUs and
# datasets; urllib3 logs every URL with its query (a Patient search names the Patient ID).
PHI_PRONE_LOGGERS = ("pynetdicom", "urllib3", "requests", "fhirclient")


def _quiet_libraries() -> None:
    """Keep the PHI-prone libraries at WARNING whatever our own level (no PHI in logs)."""
    from pynetdicom import _config

    _config.LOG_HANDLER_LEVEL = "none"
    for name in PHI_PRONE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # psycopg's pool warns on every failed reconnection, over several lines; what fails
    # while the job database is away is said once by the SCP, the workers and supervision.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
