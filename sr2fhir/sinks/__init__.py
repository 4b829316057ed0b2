"""Where delivered Bundles go: the Sink Protocol and the outbox folder (FHIR server: fhir/)."""

from sr2fhir.sinks.outbox import OutboxSink, Sink

__all__ = ["OutboxSink", "Sink"]
