"""The gateway's parts in-process, set up as the unit tests run them: a Config for a whole
`Gateway` (loopback, free ports, fast polling) and a `Worker` with a fixed retry policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sr2fhir.config import Config, load_config
from sr2fhir.delivery.retry import RetryPolicy
from sr2fhir.mapping import MappingOptions
from sr2fhir.spool import Spool
from sr2fhir.worker import Worker, make_converter


def gateway_config(
    tmp_path: Path,
    settings: Mapping[str, object] | None = None,
    *,
    spool: Config | None = None,
    **workers: Any,
) -> Config:
    """Data under tmp_path/data, DICOM and HTTP on free loopback ports, thread workers that
    poll every 10 ms. `settings` override config keys ({"http.enabled": False}); `spool` (a
    config of tests.support.postgres) gives the spool section of another back end; `workers`
    replace fields of the workers config (count=2, large_job_bytes=...)."""
    config = load_config(
        env={},
        overrides={
            "spool.data_dir": str(tmp_path / "data"),
            "dicom.port": 0,
            "dicom.host": "127.0.0.1",
            "workers.mode": "thread",
            "workers.poll_interval": 0.01,
            "http.port": 0,
            **(settings or {}),
        },
    )
    if spool is not None:
        config = dataclasses.replace(config, spool=spool.spool)
    return dataclasses.replace(config, workers=dataclasses.replace(config.workers, **workers))


def worker(spool: Spool, sink: Any, convert: Any = None, attempts: int = 3) -> Worker:
    """A Worker over `spool` and `sink`: the real converter unless `convert` is given, retry
    delays from 1 s doubling to 8 s with jitter fixed at its middle."""
    return Worker(
        spool,
        convert or make_converter(MappingOptions()),
        sink,
        "test/w0.1",
        RetryPolicy(max_attempts=attempts, initial=1.0, cap=8.0),
        rng=lambda: 0.5,
    )
