"""Where Bundles go: the Sink Protocol, and build_sink, the one place a sink is chosen.

Sinks: the outbox folder (outbox.py) and a FHIR server (fhir/). The retry rules every
delivery follows -- the gateway's workers and `convert --push` -- are in retry.py.
"""

from __future__ import annotations

from typing import Any

from sr2fhir.config import Config, FhirVersion, SinkKind
from sr2fhir.delivery.fhir.sink import FhirSink, build_fhir_sink
from sr2fhir.delivery.outbox import OutboxSink
from sr2fhir.delivery.sink import Receipt, Sink, SinkCheck
from sr2fhir.events import SILENT, Emitter
from sr2fhir.mapping.r4 import to_r4

__all__ = [
    "FhirSink",
    "OutboxSink",
    "Receipt",
    "Sink",
    "SinkCheck",
    "SinkKind",
    "as_sent",
    "build_sink",
]


def as_sent(config: Config, bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle in the form the configured sink sends (fhir with fhir.version R4: R4),
    before the fhir sink resolves references on the server."""
    if config.delivery.sink is SinkKind.FHIR and config.fhir.version is FhirVersion.R4:
        return to_r4(bundle)
    return bundle


def build_sink(config: Config, kind: SinkKind | None = None, events: Emitter = SILENT) -> Sink:
    """The sink `delivery.sink` (or `kind`: `convert --push` always sends to the FHIR
    server) names: the outbox folder, or the FHIR server of the `fhir` section, which
    tells `events` of each answer of the server."""
    if (kind or config.delivery.sink) is SinkKind.FHIR:
        return build_fhir_sink(config.fhir, events)
    return OutboxSink(config.outbox_path)
