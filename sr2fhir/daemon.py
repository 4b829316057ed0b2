"""The gateway: spool + start-up recovery + workers + Storage SCP, and a graceful stop.

Start order: lock and recover the spool, start the workers, then listen. Stop order: stop
listening, tell the workers to stop, let running associations and jobs finish (bounded),
then close the spool. Signal handlers only set a flag.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sr2fhir import __version__
from sr2fhir.audit import AuditLog, AuditTrail
from sr2fhir.config import Config, WorkerMode, config_summary, dump_config
from sr2fhir.delivery import build_sink
from sr2fhir.delivery.retry import HoldPolicy, RetryPolicy
from sr2fhir.errors import SpoolError
from sr2fhir.events import EventBus
from sr2fhir.exits import ExitStatus
from sr2fhir.log import setup_logging
from sr2fhir.mapping import MappingOptions
from sr2fhir.ops.console.app import build_console
from sr2fhir.ops.http import OpsServer, read_api_token, start_ops_server
from sr2fhir.ops.metrics import MetricsRecorder
from sr2fhir.ops.notify import SystemdNotifier
from sr2fhir.ops.service import GatewayOps, scp_ports, worker_stats
from sr2fhir.ops.stats import Stats
from sr2fhir.runtime import tune_garbage_collector
from sr2fhir.scp import StorageScp
from sr2fhir.scp.handlers import refusing_larger_than
from sr2fhir.spool import LargeJobs, Spool, SpoolRole, open_configured_spool
from sr2fhir.validation import StructuralValidator, validating_converter
from sr2fhir.worker import Converter, StopFlag, Worker, make_converter

log = logging.getLogger(__name__)

ConverterFactory = Callable[[MappingOptions], Converter]
"""Builds the converter inside each worker; must be a module-level function (pickled)."""

ASSOCIATION_GRACE = 5.0  # seconds running associations get to finish at stop
WORKER_GRACE = 3.0  # seconds a worker gets to finish its job at stop
SUPERVISE_EVERY = 1.0  # seconds: dead workers replaced, leases renewed and expired ones released


def build_events(config: Config, stats: Stats | None) -> EventBus:
    """The listeners of one process: its metrics (when it has a counters file) and the
    audit trail (when enabled)."""
    bus = EventBus()
    if stats is not None:
        bus.subscribe(MetricsRecorder(stats))
    if config.audit.enabled:
        bus.subscribe(AuditTrail(AuditLog(config.audit_path)))
    return bus


def build_worker(
    config: Config,
    spool: Spool,
    worker_id: str,
    converter_factory: ConverterFactory,
    stats: Stats | None = None,
) -> Worker:
    convert = converter_factory(config.mapping_options)
    if config.delivery.validate:
        convert = validating_converter(convert, StructuralValidator())
    events = build_events(config, stats)
    return Worker(
        spool,
        convert,
        build_sink(config, events=events),
        worker_id,
        RetryPolicy.from_config(config.workers),
        events=events,
        large_jobs=LargeJobs(config.workers.large_job_bytes, config.workers.large_job_workers),
        hold=HoldPolicy.from_config(config.fhir),
        retention=config.lifecycle.retention_expired,
    )


def run_worker_process(
    config: Config,
    worker_id: str,
    stop: StopFlag,
    converter_factory: ConverterFactory,
    seat: int | None = None,
) -> None:
    """Entry point of a worker process: its own spool connection, its own mapper.

    Ctrl-C reaches the whole process group: the daemon decides when workers stop. SIGTERM
    (a service manager stopping the group, or the daemon giving up waiting) ends the loop
    after the job at hand; so does the daemon's death.
    """
    terminated = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    os.nice(config.workers.nice)  # receiving (the durability promise) goes first
    setup_logging(config.logging.level.value, config.logging.format.value)
    spool = open_configured_spool(config, SpoolRole.WORKER)
    parent = multiprocessing.parent_process()
    stats = worker_stats(config, seat) if seat is not None else None
    worker = build_worker(config, spool, worker_id, converter_factory, stats)
    tune_garbage_collector()
    log.info("worker %s started (pid %d)", worker_id, os.getpid())
    try:
        worker.run(
            stop,
            config.workers.poll_interval,
            alive=lambda: not terminated.is_set() and (parent is None or parent.is_alive()),
        )
    finally:
        spool.close()
        if stats is not None:
            stats.close()  # its last counts


@dataclass
class _Slot:
    """One worker seat; `generation` grows each time a dead worker is replaced.

    Job locks are taken as `<owner_prefix><generation>`, so the seat's jobs can be released.
    """

    index: int
    owner_prefix: str
    generation: int = 0
    runner: Any = None


class WorkerPool:
    """Worker processes (default: mapping runs beside the SCP, not under its GIL) or threads."""

    def __init__(
        self,
        config: Config,
        spool: Spool,
        instance_id: str,
        converter_factory: ConverterFactory,
        recover_sink: Callable[[int], None] = lambda pid: None,
    ) -> None:
        """`recover_sink(pid)` cleans up what a dead worker process left half-delivered."""
        self.config = config
        self.spool = spool
        self.converter_factory = converter_factory
        self.recover_sink = recover_sink
        self._use_processes = config.workers.mode is WorkerMode.PROCESS
        self._mp = multiprocessing.get_context("spawn")
        self.stop_flag: Any = self._mp.Event() if self._use_processes else threading.Event()
        self.slots = [_Slot(i, f"{instance_id}/w{i}.") for i in range(config.workers.count)]

    def start(self) -> None:
        for slot in self.slots:
            self._launch(slot)

    def _launch(self, slot: _Slot) -> None:
        slot.generation += 1
        worker_id = f"{slot.owner_prefix}{slot.generation}"
        if self._use_processes:
            slot.runner = self._mp.Process(
                target=run_worker_process,
                args=(self.config, worker_id, self.stop_flag, self.converter_factory, slot.index),
                name=f"sr2fhir-worker-{slot.index}",
                daemon=True,
            )
        else:
            stats = worker_stats(self.config, slot.index)
            worker = build_worker(self.config, self.spool, worker_id, self.converter_factory, stats)
            slot.runner = threading.Thread(
                target=worker.run,
                args=(self.stop_flag, self.config.workers.poll_interval),
                name=f"sr2fhir-worker-{slot.index}",
                daemon=True,
            )
        slot.runner.start()

    def alive(self) -> tuple[int, int]:
        """(workers alive, workers configured) for /readyz and /metrics."""
        return sum(s.runner.is_alive() for s in self.slots), len(self.slots)

    def supervise(self) -> None:
        """Replace a worker that died (its claimed job goes back to READY first)."""
        for slot in self.slots:
            if slot.runner.is_alive() or self.stop_flag.is_set():
                continue
            released = self.spool.release_worker(slot.owner_prefix)
            self._clean_up_after(slot)
            log.error(
                "worker %d died (exit code %s); %d job(s) released; restarting it",
                slot.index,
                getattr(slot.runner, "exitcode", None),
                released,
            )
            self._launch(slot)

    def _clean_up_after(self, slot: _Slot) -> None:
        """A dead worker process's half-written outbox files (a thread cannot die mid-write:
        its temp file is removed on the way out)."""
        pid = getattr(slot.runner, "pid", None)
        if self._use_processes and pid is not None:
            try:
                self.recover_sink(pid)
            except OSError as exc:
                log.warning("worker %d: temp files not removed: %s", slot.index, exc)

    def stop(self, deadline: float) -> None:
        """Ask every worker to stop after its current job; kill what is still busy at deadline."""
        self.stop_flag.set()
        for slot in self.slots:
            slot.runner.join(max(0.1, deadline - time.monotonic()))
        for slot in self.slots:
            if slot.runner.is_alive() and self._use_processes:
                log.warning("worker %d did not stop in time; killing it", slot.index)
                slot.runner.kill()  # its job stays LOCKED and is released below
                slot.runner.join(1.0)
                self._clean_up_after(slot)
            if not slot.runner.is_alive():  # anything it still held goes back to the queue
                self._release_at_stop(slot)

    def _release_at_stop(self, slot: _Slot) -> None:
        try:
            self.spool.release_worker(slot.owner_prefix)
        except SpoolError as exc:  # the next start's recovery releases them
            log.warning("worker %d: its jobs stay LOCKED until the next start: %s", slot.index, exc)


class Gateway:
    """One running sr2fhir node: call start(), then stop() (or run_until_signalled())."""

    def __init__(self, config: Config, converter_factory: ConverterFactory = make_converter):
        self.config = config
        self.converter_factory = converter_factory
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}"
        self.spool: Spool | None = None
        self.scp: StorageScp | None = None
        self.pool: WorkerPool | None = None
        self._stop_requested = threading.Event()
        self._supervision_failing = False  # the last tick could not update the job database
        self._short_of_space = False  # below spool.min_free_bytes at the last look
        self.notifier = SystemdNotifier.from_environment()
        self.ops: GatewayOps | None = None
        self.http: OpsServer | None = None

    def start(self) -> None:
        log.info("starting sr2fhir %s: %s", __version__, config_summary(self.config))
        log.debug("effective configuration:\n%s", dump_config(self.config).rstrip())
        if self.config.delivery.validate:  # fails here, not in every worker, without the package
            log.info(
                "every Bundle is checked before delivery with %s", StructuralValidator().description
            )
        self.spool = open_configured_spool(self.config, SpoolRole.GATEWAY)
        self.spool.recover()
        self._watch_space()
        sink = build_sink(self.config)  # here: start-up clean-up and the readiness probe
        sink.recover()
        self.ops = GatewayOps(
            self.config,
            lambda: scp_ports(self.scp),
            lambda: self.pool.alive() if self.pool is not None else (0, self.config.workers.count),
            sink,
        )
        self.pool = WorkerPool(
            self.config, self.spool, self.instance_id, self.converter_factory, sink.recover
        )
        self.pool.start()
        receive = refusing_larger_than(self.config.dicom.max_dataset_bytes, self.spool.receive)
        events = build_events(self.config, self.ops.scp_stats)
        self.scp = StorageScp(self.config.dicom, receive, events)
        try:
            self.scp.start()
        except OSError:
            self.stop()
            raise
        token = read_api_token(self.config.http)  # preflight made sure it can be read
        console = build_console(self.config, self.ops, token)
        self.http = start_ops_server(self.config.http, self.ops, self.ops.queue_api, console)
        self.notifier.ready(f"listening on port {self.port}")  # systemd Type=notify

    @property
    def port(self) -> int:
        assert self.scp is not None, "start() first"
        return self.scp.port

    def request_stop(self, signum: int = 0, frame: object = None) -> None:
        """Signal-safe: only sets a flag."""
        self._stop_requested.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT only set the stop flag; call it before start(), so that a signal
        arriving while the gateway starts still ends in a graceful stop."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run_until_signalled(self) -> int:
        """Supervise workers until a signal (or request_stop) asks to stop; then stop
        gracefully."""
        self.install_signal_handlers()
        watchdog = self.notifier.watchdog_interval  # WatchdogSec= in the unit
        every = min(SUPERVISE_EVERY, watchdog) if watchdog else SUPERVISE_EVERY
        while not self._stop_requested.wait(every):
            if watchdog:
                self.notifier.watchdog()
            self._watch_space()
            self._supervise()
            if self.ops is not None:
                self.ops.publish()
        log.info("stop requested; draining")
        self.stop()
        return ExitStatus.OK

    def _supervise(self) -> None:
        """Replace dead workers, renew this node's leases and release expired ones (a dead
        node's, a stuck worker's). The job database may be unwritable (a full disk) or away:
        then say so once and try again on the next tick."""
        assert self.pool is not None and self.spool is not None
        try:
            self.pool.supervise()
            released = self.spool.tend_leases(f"{self.instance_id}/")
            if released:
                log.warning("%d job(s) whose lease ran out went back to the queue", released)
        except SpoolError as exc:
            if not self._supervision_failing:
                log.error("supervision cannot update the job database: %s", exc)
            self._supervision_failing = True
            return
        if self._supervision_failing:
            log.info("supervision updates the job database again")
            self._supervision_failing = False

    def _watch_space(self) -> None:
        """Warn once when the data folder drops below spool.min_free_bytes, once when it is back."""
        assert self.spool is not None
        shortage = self.spool.shortage()
        if shortage is not None and not self._short_of_space:
            log.warning("%s: C-STOREs are refused (0xA700) until there is room", shortage)
        elif shortage is None and self._short_of_space:
            log.info("data folder has room again (spool.min_free_bytes): receiving")
        self._short_of_space = shortage is not None

    def stop(self) -> None:
        """Stop listening, let in-flight work end (bounded), close the spool. Idempotent."""
        deadline = time.monotonic() + ASSOCIATION_GRACE + WORKER_GRACE
        parts = (self.spool, self.scp, self.pool, self.ops, self.http)
        running = any(part is not None for part in parts)
        if self.spool is not None:  # the first stop of a started gateway
            self.notifier.stopping("draining")
        if self.ops is not None:
            self.ops.mark_stopping()  # /readyz answers 503 while draining
        if self.pool is not None:
            self.pool.stop_flag.set()  # workers stop while associations drain
        if self.scp is not None:
            self.scp.stop(ASSOCIATION_GRACE)
            self.scp = None
        if self.pool is not None:
            self.pool.stop(deadline)
            self.pool = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        if self.ops is not None:
            self.ops.close()
            self.ops = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        if running:  # said once, by the stop that stopped something
            log.info("gateway stopped")
