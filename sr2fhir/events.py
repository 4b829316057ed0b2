"""What happened in the gateway, and who hears about it.

The SCP, the workers and the FHIR client say what happened with `events.emit(kind,
**fields)`; the audit trail and the metrics subscribe to an EventBus as listeners. As with
pynetdicom's notification events (as opposed to its intervention events), a listener
cannot change what the emitter does: one that raises is logged and the emitter goes on.
Log lines stay with the module that knows the context (its own logger, its own level).

Fields are plain values -- UIDs, job ids, AE titles, addresses, status codes, times --
never patient data.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

EventValue = str | int | float | list[str] | None


class GatewayEvent(enum.Enum):
    """Each kind with the fields its emitter gives."""

    ASSOCIATION_ACCEPTED = "association-accepted"  # calling_ae, called_ae, peer
    ASSOCIATION_REJECTED = "association-rejected"  # calling_ae, called_ae, peer
    CALLED_AE_MISMATCH = "called-ae-mismatch"  # calling_ae, called_ae (not ours), peer
    INSTANCE_STORED = "instance-stored"  # job_id, sop_instance_uid, sop_class_uid, calling_ae
    INSTANCE_REFUSED = "instance-refused"  # the same but job_id: 0xA700, the spool could not
    JOB_DELIVERED = "job-delivered"  # job_id, sop_instance_uid, calling_ae, sink, resources,
    #                                  received_at (when the C-STORE was answered)
    JOB_RETRY_SCHEDULED = "job-retry-scheduled"  # job_id, ..., attempt, delay, reason
    JOB_HELD = "job-held"  # job_id, ..., reason: what the server does not have yet
    JOB_FAILED = "job-failed"  # job_id, ..., reason: refused by the sink, or out of attempts
    JOB_REJECTED = "job-rejected"  # job_id, ..., reason: not a usable report (quarantined)
    FHIR_RESPONSE = "fhir-response"  # method, code: every answer of the FHIR server


@dataclass(frozen=True, slots=True)
class Event:
    kind: GatewayEvent
    fields: Mapping[str, EventValue]

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None else str(value)


class Listener(Protocol):
    def __call__(self, event: Event) -> None: ...


class Emitter(Protocol):
    """What an emitter is given: a bus, or SILENT."""

    def emit(self, kind: GatewayEvent, **fields: EventValue) -> None: ...


class EventBus:
    """Hands each event to every listener, in the order they subscribed."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners = tuple(listeners)

    def subscribe(self, listener: Listener) -> None:
        self._listeners = (*self._listeners, listener)  # emitters in flight keep their tuple

    def emit(self, kind: GatewayEvent, **fields: EventValue) -> None:
        event = Event(kind, fields)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception as exc:  # a listener never breaks the emitter
                log.error("%s: a listener failed: %s: %s", kind.value, type(exc).__name__, exc)


class Silent:
    """An emitter nobody listens to (code run without a gateway: tests, tools)."""

    def emit(self, kind: GatewayEvent, **fields: EventValue) -> None:
        """Nothing hears it."""


SILENT = Silent()
