"""Where the counters are taken: the SCP (in the gateway process) and each worker.

SCP side: association results from pynetdicom notification events, received instances by
SOP class and calling AE by wrapping the spool's `receive`. Worker side: the FHIR server's
response codes (a `requests` response hook on the fhir sink's session) and the end-to-end
latency, C-STORE response (the job row's received_at) -> delivered (the job marked DONE).
Labels are AE titles, SOP Class UIDs, methods and status codes: never patient data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pynetdicom import evt

from sr2fhir.delivery import Sink
from sr2fhir.errors import SpoolError
from sr2fhir.ops.stats import Stats
from sr2fhir.scp.handlers import Receive
from sr2fhir.spool import InstanceInfo, Job, Spool


@dataclass(frozen=True, slots=True)
class AssociationInfo:
    """Who asked, taken when the A-ASSOCIATE-RQ arrives (a rejection clears it later)."""

    calling_ae: str
    called_ae: str
    peer: str


AssociationListener = Callable[[str, AssociationInfo], None]
"""(result "accepted" | "rejected", who asked) -> None."""

ASSOCIATIONS = "associations_total"  # labels: result (accepted | rejected)
RECEIVED = "instances_received_total"  # labels: sop_class_uid, calling_ae, result
FHIR_RESPONSES = "fhir_responses_total"  # labels: method, code
LATENCY = "delivery_latency_seconds"  # histogram


class AssociationCounter:
    """accepted: A-ASSOCIATE-AC sent; rejected: requested, then closed without being accepted
    (the allow-list, too many associations, a wrong called AE title). A TCP connection that
    never asks for an association (a port probe) is not counted."""

    def __init__(self, stats: Stats, listeners: Sequence[AssociationListener] = ()) -> None:
        self.stats = stats
        self.listeners = tuple(listeners)
        self._lock = threading.Lock()
        self._pending: dict[int, AssociationInfo] = {}

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ACCEPTED, self._accepted),
            (evt.EVT_CONN_CLOSE, self._closed),
        ]

    def _requested(self, event: Any) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive  # the A-ASSOCIATE-RQ as received
        info = AssociationInfo(
            calling_ae=str(request.calling_ae_title).strip(),
            called_ae=str(request.called_ae_title).strip(),
            peer=f"{assoc.requestor.address}:{assoc.requestor.port}",
        )
        with self._lock:
            self._pending[id(assoc)] = info

    def _accepted(self, event: Any) -> None:
        with self._lock:
            info = self._pending.pop(id(event.assoc), None)
        self._count("accepted", info)

    def _closed(self, event: Any) -> None:
        with self._lock:
            info = self._pending.pop(id(event.assoc), None)
        if info is not None:
            self._count("rejected", info)

    def _count(self, result: str, info: AssociationInfo | None) -> None:
        self.stats.inc(ASSOCIATIONS, (result,))
        if info is not None:
            for listener in self.listeners:
                listener(result, info)


def counting_receive(receive: Receive, stats: Stats) -> Receive:
    """The spool's receive, counting what was stored (0x0000) and refused (0xA700)."""

    def counted(data: bytes, info: InstanceInfo) -> int:
        try:
            job_id = receive(data, info)
        except SpoolError:
            stats.inc(RECEIVED, (info.sop_class_uid, info.calling_ae, "refused"))
            raise
        stats.inc(RECEIVED, (info.sop_class_uid, info.calling_ae, "stored"))
        return job_id

    return counted


def instrument_scp(scp: Any, stats: Stats, listeners: Sequence[AssociationListener] = ()) -> None:
    """Add the association counters (and listeners, e.g. the audit trail) to a StorageScp
    before its start(), ahead of its own handlers: the allow-list rejects inside EVT_REQUESTED."""
    counter = AssociationCounter(stats, listeners)
    scp._handlers[:0] = counter.handlers()  # first: before the allow-list


class ObservedSpool(Spool):
    """A worker's view of the spool that records the latency of each delivered job."""

    def __init__(self, spool: Spool, stats: Stats) -> None:
        super().__init__(spool.jobs, spool.files, spool.space)
        self.stats = stats

    def finish(self, job: Job) -> None:
        super().finish(job)
        self.stats.observe(LATENCY, max(0.0, time.time() - job.received_at))


def observe_fhir_responses(sink: Sink, stats: Stats) -> bool:
    """Count the FHIR server's answers (transactions and searches) by method and status code."""
    session = getattr(getattr(sink, "http", None), "session", None)
    hooks = getattr(session, "hooks", None)
    if not isinstance(hooks, dict):
        return False  # not the fhir sink (the outbox has no HTTP)

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        stats.inc(FHIR_RESPONSES, (str(response.request.method), str(response.status_code)))

    hooks.setdefault("response", []).append(record)
    return True


def observe_worker(spool: Spool, sink: Sink, stats: Stats) -> Spool:
    """Wire a worker's counters: latency through the spool, response codes through the sink."""
    observe_fhir_responses(sink, stats)
    return ObservedSpool(spool, stats)
