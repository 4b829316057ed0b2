"""Running sr2fhir as a service: systemd notification, counters, health checks, /metrics."""
