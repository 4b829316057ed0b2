"""The metrics listener: gateway events -> the counters and histograms of one Stats.

The gateway process's listener counts what the SCP sees (associations, instances stored or
refused); each worker's counts what only it sees (the FHIR server's answers, the latency
from C-STORE response to delivered). Labels are AE titles, SOP Class UIDs, methods and
status codes: never patient data.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sr2fhir.events import Event, GatewayEvent
from sr2fhir.ops.stats import Stats

ASSOCIATIONS = "associations_total"  # labels: result (accepted | rejected)
RECEIVED = "instances_received_total"  # labels: sop_class_uid, calling_ae, result
FHIR_RESPONSES = "fhir_responses_total"  # labels: method, code
WRONG_CALLED_AE = "associations_wrong_called_ae_total"  # labels: calling_ae, called_ae
LATENCY = "delivery_latency_seconds"  # histogram

_RESULTS = {
    GatewayEvent.ASSOCIATION_ACCEPTED: "accepted",
    GatewayEvent.ASSOCIATION_REJECTED: "rejected",
    GatewayEvent.INSTANCE_STORED: "stored",
    GatewayEvent.INSTANCE_REFUSED: "refused",  # 0xA700: the spool could not store it
}


class MetricsRecorder:
    """Counts the events of its process into `stats` (see module)."""

    def __init__(self, stats: Stats, clock: Callable[[], float] = time.time) -> None:
        self.stats = stats
        self.clock = clock

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind in (GatewayEvent.ASSOCIATION_ACCEPTED, GatewayEvent.ASSOCIATION_REJECTED):
            self.stats.inc(ASSOCIATIONS, (_RESULTS[kind],))
        elif kind in (GatewayEvent.INSTANCE_STORED, GatewayEvent.INSTANCE_REFUSED):
            labels = (event.text("sop_class_uid"), event.text("calling_ae"), _RESULTS[kind])
            self.stats.inc(RECEIVED, labels)
        elif kind is GatewayEvent.CALLED_AE_MISMATCH:
            self.stats.inc(WRONG_CALLED_AE, (event.text("calling_ae"), event.text("called_ae")))
        elif kind is GatewayEvent.FHIR_RESPONSE:
            self.stats.inc(FHIR_RESPONSES, (event.text("method"), event.text("code")))
        elif kind is GatewayEvent.JOB_DELIVERED:
            received_at = event.fields.get("received_at")
            if isinstance(received_at, int | float):
                self.stats.observe(LATENCY, max(0.0, self.clock() - received_at))
