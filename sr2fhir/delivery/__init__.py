"""Where Bundles go: the Sink Protocol, and build_sink, the one place a sink is chosen.

Sinks: the outbox folder (outbox.py) and a FHIR server (fhir/). The retry rules every
delivery follows -- the gateway's workers and `convert --push` -- are in retry.py.
"""

from __future__ import annotations

from sr2fhir.config import Config, SinkKind
from sr2fhir.delivery.fhir.sink import FhirSink, build_fhir_sink
from sr2fhir.delivery.outbox import OutboxSink
from sr2fhir.delivery.sink import Receipt, Sink, SinkCheck
from sr2fhir.events import SILENT, Emitter

__all__ = ["FhirSink", "OutboxSink", "Receipt", "Sink", "SinkCheck", "SinkKind", "build_sink"]


def build_sink(config: Config, kind: SinkKind | None = None, events: Emitter = SILENT) -> Sink:
    """The sink `delivery.sink` (or `kind`: `convert --push` always sends to the FHIR
    server) names: the outbox folder, or the FHIR server of the `fhir` section, which
    tells `events` of each answer of the server."""
    if (kind or config.delivery.sink) is SinkKind.FHIR:
        return build_fhir_sink(config.fhir, events)
    return OutboxSink(config.outbox_path)
