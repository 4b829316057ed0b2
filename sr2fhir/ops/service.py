"""The running gateway as the operations endpoint and `sr2fhir status` see it.

`GatewayOps` answers /healthz, /readyz and /metrics from callables the daemon hands in, its
own connection to the spool (so a scrape never holds the lock the SCP's writes take), the
SCP's in-process counters and the workers' counter files. `publish()` runs on the daemon's
supervision tick: it saves the SCP counters and keeps `stats/history.json`, a short series of
totals from which `sr2fhir status` computes rates and tells whether a gateway is running.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sr2fhir.config import Config
from sr2fhir.delivery import Sink
from sr2fhir.errors import Sr2FhirError
from sr2fhir.fsutil import write_atomically
from sr2fhir.ops import health, metrics, prometheus
from sr2fhir.ops.health import Check
from sr2fhir.ops.queue_api import QueueApi
from sr2fhir.ops.queue_view import read_queue
from sr2fhir.ops.stats import Stats, read_stats, stats_dir
from sr2fhir.spool import Spool, SpoolRole, open_configured_spool

log = logging.getLogger(__name__)

SCP_STATS = "scp"
HISTORY = "history.json"
HISTORY_EVERY = 10.0  # seconds between samples
HISTORY_KEEP = 360  # one hour
WORKER_SAVE_EVERY = 0.5  # seconds: how stale /metrics may see a worker's counters


def scp_ports(scp: Any) -> list[int]:
    """The bound ports of a started StorageScp: plain DICOM and, when configured, TLS."""
    if scp is None:
        return []
    ports = []
    for name in ("port", "tls_port"):
        try:
            port = getattr(scp, name)
        except (LookupError, AttributeError):  # that listener is off (or not built in)
            continue
        if isinstance(port, int) and port > 0:
            ports.append(port)
    return ports


def worker_stats_name(index: int) -> str:
    return f"worker-{index}"


class GatewayOps:
    """Implements sr2fhir.ops.http.OpsSource for one Gateway."""

    def __init__(
        self,
        config: Config,
        scp_ports: Callable[[], list[int]],
        workers: Callable[[], tuple[int, int]],
        sink: Sink,
    ) -> None:
        """`sink`: the gateway's own sink (built by delivery.build_sink), probed for /readyz."""
        self.config = config
        self.folder = stats_dir(config.spool.path)
        self.scp_stats = Stats(self.folder / f"{SCP_STATS}.json")
        self._scp_ports = scp_ports
        self._workers = workers
        self._stopping = threading.Event()
        self._spool: Spool | None = None
        self._spool_lock = threading.Lock()
        self._sink = health.SinkProbe(sink, config.http.check_timeout)
        self._next_sample = 0.0

    # ------------------------------------------------------------ OpsSource

    def alive(self) -> bool:
        return not self._stopping.is_set()

    def readiness(self) -> list[Check]:
        if self._stopping.is_set():
            return [Check("gateway", False, "stopping")]
        alive, total = self._workers()
        return [
            health.check_listening(self._scp_ports()),
            self._check_spool(),
            health.check_workers(alive, total),
            self._sink(),
        ]

    def metrics(self) -> str:
        queue = read_queue(self._own_spool())
        workers = read_stats(self.folder, self._worker_names())
        alive, total = self._workers()
        return prometheus.render(self.scp_stats.snapshot(), workers, queue, alive, total)

    # ------------------------------------------------------------ daemon side

    def mark_stopping(self) -> None:
        self._stopping.set()

    def publish(self, now: float | None = None) -> None:
        """Save the SCP counters; every HISTORY_EVERY s add a sample of totals to the history."""
        self.scp_stats.save()
        now = time.time() if now is None else now
        if now < self._next_sample:
            return
        self._next_sample = now + HISTORY_EVERY
        self._append_history({"t": now, **self.totals()})

    def totals(self) -> dict[str, float]:
        workers = read_stats(self.folder, self._worker_names())
        latency = workers.histograms.get(metrics.LATENCY)
        received = self.scp_stats.snapshot().counter(metrics.RECEIVED)
        return {
            "received": sum(v for labels, v in received.items() if labels[-1] == "stored"),
            "delivered": latency.count if latency is not None else 0,
        }

    def close(self) -> None:
        """At stop: last counters and a final sample saying the gateway stopped."""
        self.scp_stats.save()
        self._append_history({"t": time.time(), **self.totals(), "stopped": True})
        with self._spool_lock:
            if self._spool is not None:
                self._spool.close()
                self._spool = None

    # ------------------------------------------------------------ helpers

    def _worker_names(self) -> list[str]:
        return [worker_stats_name(i) for i in range(self.config.workers.count)]

    def queue_api(self) -> QueueApi:
        """The queue API over the endpoint's own connection to the spool."""
        return QueueApi(self._own_spool(), self.config)

    def _own_spool(self) -> Spool:
        with self._spool_lock:
            if self._spool is None:
                self._spool = open_configured_spool(self.config, SpoolRole.READER)
            return self._spool

    def _check_spool(self) -> Check:
        try:
            return health.check_spool(self._own_spool())
        except Sr2FhirError as exc:  # cannot even open the job database (a full disk)
            return Check("spool", False, str(exc))

    def _append_history(self, sample: dict[str, Any]) -> None:
        path = self.folder / HISTORY
        samples = [*read_history(self.folder)[-(HISTORY_KEEP - 1) :], sample]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps(samples).encode("utf-8"), durable=False)
        except OSError as exc:
            log.debug("cannot write %s: %s", path, exc)


def read_history(folder: Path) -> list[dict[str, Any]]:
    """The samples the gateway wrote, oldest first ([] when there are none or unreadable)."""
    try:
        samples = json.loads((folder / HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in samples if isinstance(s, dict)] if isinstance(samples, list) else []


def worker_stats(config: Config, index: int) -> Stats:
    """The counters of worker seat `index`, saved every WORKER_SAVE_EVERY s when changed."""
    path = stats_dir(config.spool.path) / f"{worker_stats_name(index)}.json"
    return Stats(path, save_every=WORKER_SAVE_EVERY)
