"""Workers: claim job -> parse -> map -> deliver -> done / retry / held / failed.

A worker is a loop over one Spool, one Converter and one Sink, all injected. Mapping rejections
fail the job at once (file quarantined); sink errors retry with capped exponential backoff and
jitter; references the server does not have yet (fhir.unresolved_reference hold) make the job
HELD, tried again every fhir.hold_retry seconds (HoldPolicy). Whatever one report does, the
loop goes on with the next. When the spool itself fails (a full disk, a database busy too
long) the job in hand goes back to the queue uncounted and the worker pauses, longer each
time up to SPOOL_PAUSE_MAX, until the spool answers again. A worker that lost its job's
lease (LeaseLostError: the job went back to the queue) drops it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from sr2fhir.config.schema import RetentionExpired
from sr2fhir.delivery import Receipt, Sink
from sr2fhir.delivery.retry import Failure, HoldPolicy, RetryPolicy, failure_of
from sr2fhir.errors import (
    LeaseLostError,
    MappingError,
    ReferencesPendingError,
    SpoolError,
    SrParseError,
)
from sr2fhir.events import SILENT, Emitter, EventValue, GatewayEvent
from sr2fhir.lifecycle.bundles import (
    rejection_bundle,
    revise,
    tracked_keys,
    tracked_resources,
)
from sr2fhir.lifecycle.notes import (
    KEY_OBJECT_SELECTION,
    RETENTION_EXPIRED,
    read_links,
    read_rejection_note,
)
from sr2fhir.mapping import bundle_sop_instance_uid
from sr2fhir.report_facts import Converter, MappedReport, make_converter
from sr2fhir.spool import (
    AttemptRecord,
    Job,
    JobStatus,
    LargeJobs,
    LifecycleDecision,
    LifecycleUpdate,
    RejectionClaim,
    ReportClaim,
    Spool,
    TrackedResource,
    short_error,
)

log = logging.getLogger(__name__)

SPOOL_PAUSE_MAX = 5.0  # seconds between tries while the spool keeps failing
NOT_A_REJECTION = "key object selection, not a rejection note: stored and ignored"
NO_SR_REJECTED = "rejection note that references no SR instance: stored and ignored"

__all__ = ["Converter", "StopFlag", "Worker", "make_converter"]


class StopFlag(Protocol):
    """threading.Event and multiprocessing.Event both fit."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Worker:
    """Drains the spool one job at a time."""

    def __init__(
        self,
        spool: Spool,
        convert: Converter,
        sink: Sink,
        worker_id: str,
        policy: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
        events: Emitter = SILENT,
        large_jobs: LargeJobs | None = None,
        hold: HoldPolicy | None = None,
        clock: Callable[[], float] = time.time,
        retention: RetentionExpired = RetentionExpired.ENTERED_IN_ERROR,
    ) -> None:
        self.spool = spool
        self.convert = convert
        self.sink = sink
        self.worker_id = worker_id
        self.policy = policy or RetryPolicy()
        self._rng = rng
        self.events = events  # JOB_* events: the audit trail and the metrics listen
        self._held: Job | None = None  # claimed, then stranded by a spool failure
        self.large_jobs = large_jobs
        self.hold = hold or HoldPolicy()  # fhir.unresolved_reference hold (the sink decides)
        self._clock = clock
        self.retention = retention  # lifecycle.retention_expired

    def run(
        self, stop: StopFlag, poll_interval: float, alive: Callable[[], bool] = lambda: True
    ) -> None:
        """Work until `stop` is set (or `alive()` turns false); an idle worker polls, and a
        worker whose spool fails pauses (logged once when it starts, once when it ends)."""
        failures = 0
        while not stop.is_set() and alive():
            try:
                self._give_back_held()
                worked = self.run_once()
            except SpoolError as exc:
                failures += 1
                if failures == 1:
                    log.warning("worker %s paused: %s", self.worker_id, exc)
                stop.wait(min(SPOOL_PAUSE_MAX, poll_interval * 2 ** min(failures, 16)))
                continue
            if failures:
                log.info("worker %s resumed after %d failed tries", self.worker_id, failures)
                failures = 0
            if not worked:
                stop.wait(poll_interval)

    def run_once(self) -> bool:
        """Claim and process one job; False when nothing was due."""
        job = self.spool.claim(self.worker_id, self.large_jobs)
        if job is None:
            return False
        log.debug("job %d LOCKED by %s (attempt %d)", job.id, self.worker_id, job.attempts)
        try:
            self.process(job)
        except LeaseLostError as exc:  # its node stopped renewing; it may run elsewhere now
            log.warning("job %d dropped by worker %s: %s", job.id, self.worker_id, exc)
        except SpoolError:
            self._held = job  # still LOCKED: given back before the next claim
            raise
        return True

    def _give_back_held(self) -> None:
        """The job a spool failure stranded goes back to READY; the attempt does not count."""
        if self._held is not None:
            self.spool.release(self._held)
            self._held = None

    def process(self, job: Job) -> JobStatus:
        """Take one claimed job to DONE, FAILED or back to READY (retry)."""
        if job.attempts > self.policy.attempts:  # claimed again and again: workers crashed
            return self._give_up(job, f"claimed {job.attempts} times without finishing")
        try:
            data = self.spool.read(job)
        except OSError as exc:
            return self._give_up(job, f"spool file unreadable: {exc.strerror or exc}")
        if job.instance.sop_class_uid == KEY_OBJECT_SELECTION:
            return self._guarded(job, lambda: self._key_objects(job, data))
        mapped = self._map(job, data)
        if mapped is None:
            return JobStatus.FAILED
        newer = self.spool.supersede_if_newer(job)  # checked last thing before delivering
        if newer is not None:
            self._log_state(job, JobStatus.DONE, f"not delivered: {newer.last_error}")
            return JobStatus.DONE
        return self._guarded(job, lambda: self._deliver_report(job, data, mapped))

    def _guarded(self, job: Job, step: Callable[[], JobStatus]) -> JobStatus:
        """`step`, whose own bug fails this job (bytes kept for `queue retry`) instead of
        killing the worker again at every claim; the spool's errors still pause it."""
        try:
            return step()
        except SpoolError:
            raise
        except Exception as exc:
            log.debug("job %d: unexpected lifecycle error", job.id, exc_info=True)
            return self._give_up(job, f"internal lifecycle error: {type(exc).__name__}")

    def _deliver_report(self, job: Job, data: bytes, mapped: MappedReport) -> JobStatus:
        """The SR as the latest of its chain (lifecycle.bundles.revise), or recorded only."""
        links = read_links(data)
        uid = job.sop_instance_uid
        claim = ReportClaim(uid, links.predecessors, links.identical, tracked_keys(mapped.bundle))
        view = self.spool.begin_report(job, claim)
        if view.decision is LifecycleDecision.WAIT:
            self._log_state(job, JobStatus.READY, view.detail)
            return JobStatus.READY
        if view.decision is not LifecycleDecision.DELIVER:
            return self._record(job, LifecycleUpdate(uid, note=view.detail))
        revised = revise(mapped.bundle, view)
        as_revised = dataclasses.replace(mapped, bundle=revised.bundle)
        return self._deliver(job, as_revised, revised.retired)

    def _key_objects(self, job: Job, data: bytes) -> JobStatus:
        """A KOS: an IOCM rejection note retires what its SRs produced; any other is kept
        out of the way with a clear outcome, never an error."""
        try:
            note = read_rejection_note(data)
        except SrParseError as exc:
            return self._reject(job, _describe_rejection(exc))
        uid = job.sop_instance_uid
        if note is None:
            return self._record(job, LifecycleUpdate(uid, note=NOT_A_REJECTION))
        if not note.targets:
            return self._record(job, LifecycleUpdate(uid, note=NO_SR_REJECTED))
        view = self.spool.begin_rejection(job, RejectionClaim(uid, note.code, note.targets))
        if view.decision is LifecycleDecision.WAIT:
            self._log_state(job, JobStatus.READY, view.detail)
            return JobStatus.READY
        if not view.retire:
            return self._record(job, LifecycleUpdate(uid, note=view.detail))
        delete = note.code == RETENTION_EXPIRED and self.retention is RetentionExpired.DELETE
        revised = rejection_bundle(uid, view, delete)
        return self._deliver(job, MappedReport(revised.bundle), revised.retired, view.detail)

    def _record(self, job: Job, update: LifecycleUpdate) -> JobStatus:
        """Nothing to deliver: DONE with the reason as its outcome."""
        self.spool.finish_report(job, update)
        self._log_state(job, JobStatus.DONE, str(update.note))
        return JobStatus.DONE

    def _map(self, job: Job, data: bytes) -> MappedReport | None:
        """The mapped report, or None once the job is rejected (FAILED, file quarantined)."""
        try:
            mapped = self.convert(data)
        except (SrParseError, MappingError) as exc:
            self._reject(job, _describe_rejection(exc))
            return None
        except Exception as exc:  # a mapping bug must not stop the other reports
            # The message may quote data: the traceback only at DEBUG, never by default.
            log.debug("job %d: unexpected mapping error", job.id, exc_info=True)
            self._reject(job, f"internal mapping error: {type(exc).__name__}")
            return None
        found = bundle_sop_instance_uid(mapped.bundle)
        if found != job.sop_instance_uid:  # the outbox file is named after the job's UID
            shown = found[:70] if found else "none"
            self._reject(job, f"the data set's SOP Instance UID ({shown}) is not the job's")
            return None
        return mapped

    def _deliver(
        self,
        job: Job,
        mapped: MappedReport,
        retired: tuple[TrackedResource, ...] = (),
        note: str | None = None,
    ) -> JobStatus:
        unresolved = self.hold.unresolved_for(job, self._clock())
        try:
            receipt = self.sink.deliver(mapped.bundle, job.instance, mapped.warnings, unresolved)
        except SpoolError:  # the gateway's own disk (a full outbox): the worker pauses
            raise
        except ReferencesPendingError as exc:
            return self._hold(job, str(exc))
        except Exception as exc:  # the retry rules of every delivery (delivery.retry)
            failure = failure_of(exc)
            attempt = _failed_attempt(failure, mapped)
            if failure.permanent:
                return self._give_up(job, failure.reason, failure.kept, attempt)
            return self._retry(job, failure.reason, failure.retry_after, attempt)
        gone = {r.key for r in retired}
        current = tuple(r for r in tracked_resources(mapped.bundle) if r.key not in gone)
        update = LifecycleUpdate(job.sop_instance_uid, current, retired, note)
        self.spool.finish_report(job, update, _delivered_attempt(receipt, mapped))
        detail = f"delivered to {receipt}" + (f": {note}" if note else "")
        self._log_state(job, JobStatus.DONE, detail)
        resources = _resource_urls(mapped.bundle)
        self._emit(
            GatewayEvent.JOB_DELIVERED,
            job,
            sink=str(receipt),
            resources=resources,
            received_at=job.received_at,
        )
        return JobStatus.DONE

    def _reject(self, job: Job, reason: str) -> JobStatus:
        self.spool.reject(job, reason, AttemptRecord(error=reason))
        self._log_state(job, JobStatus.FAILED, f"rejected, quarantined: {reason}", logging.WARNING)
        self._emit(GatewayEvent.JOB_REJECTED, job, reason=reason)
        return JobStatus.FAILED

    def _give_up(
        self,
        job: Job,
        reason: str,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> JobStatus:
        recorded = dataclasses.replace(attempt or AttemptRecord(), error=short_error(reason))
        self.spool.give_up(job, short_error(reason), outcome, recorded)
        self._log_state(job, JobStatus.FAILED, reason, logging.WARNING)
        self._emit(GatewayEvent.JOB_FAILED, job, reason=short_error(reason))
        return JobStatus.FAILED

    def _emit(self, kind: GatewayEvent, job: Job, **fields: EventValue) -> None:
        self.events.emit(
            kind,
            job_id=job.id,
            sop_instance_uid=job.sop_instance_uid,
            calling_ae=job.instance.calling_ae,
            **fields,
        )

    def _retry(
        self, job: Job, reason: str, retry_after: float | None, attempt: AttemptRecord
    ) -> JobStatus:
        if job.attempts >= self.policy.attempts:
            text = f"gave up after {job.attempts} attempts: {reason}"
            return self._give_up(job, text, None, attempt)
        delay = self.policy.delay(job.attempts, retry_after, self._rng)
        updated = self.spool.retry_later(job, short_error(reason), delay, attempt)
        if updated.status is JobStatus.DONE:
            self._log_state(job, JobStatus.DONE, str(updated.last_error))
        else:
            detail = f"attempt {job.attempts} failed, retry in {delay:.1f}s: {reason}"
            self._log_state(job, JobStatus.READY, detail, logging.WARNING)
            self._emit(
                GatewayEvent.JOB_RETRY_SCHEDULED,
                job,
                attempt=job.attempts,
                delay=delay,
                reason=short_error(reason),
            )
        return updated.status

    def _hold(self, job: Job, reason: str) -> JobStatus:
        """HELD until the next look (hold_retry), or DONE when a newer version came."""
        updated = self.spool.hold(job, short_error(reason), self.hold.retry)
        if updated.status is JobStatus.DONE:
            self._log_state(job, JobStatus.DONE, str(updated.last_error))
        else:
            detail = f"{reason}; next look in {self.hold.retry:.0f}s"
            self._log_state(job, JobStatus.HELD, detail)
            self._emit(GatewayEvent.JOB_HELD, job, reason=short_error(reason))
        return updated.status

    def _log_state(
        self, job: Job, status: JobStatus, detail: str, level: int = logging.INFO
    ) -> None:
        log.log(
            level,
            "job %d %s: sop_instance_uid=%s calling_ae=%s worker=%s: %s",
            job.id,
            status.value,
            job.sop_instance_uid,
            job.instance.calling_ae,
            self.worker_id,
            short_error(detail, 300),
        )


def _delivered_attempt(receipt: Receipt, mapped: MappedReport) -> AttemptRecord:
    return AttemptRecord(
        http_status=receipt.http_status,
        locations=receipt.locations,
        warnings=mapped.warnings_json(),
        header=mapped.header_json(),
    )


def _failed_attempt(failure: Failure, mapped: MappedReport) -> AttemptRecord:
    return AttemptRecord(
        http_status=failure.http_status,
        error=short_error(failure.reason),
        outcome=failure.outcome,
        warnings=mapped.warnings_json(),
        header=mapped.header_json(),
    )


def _resource_urls(bundle: dict[str, Any]) -> list[str]:
    """`Type/id` of every resource of the transaction."""
    return [str(e.get("request", {}).get("url", "")) for e in bundle.get("entry", [])]


def _describe_rejection(exc: SrParseError | MappingError) -> str:
    where = f" at content item {exc.item_path}" if exc.item_path else ""
    kind = "not a usable SR" if isinstance(exc, SrParseError) else "cannot map"
    return short_error(f"{kind}{where}: {exc}")
