"""What every sink is: the Sink Protocol and the answer of its readiness probe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sr2fhir.mapping import MappingWarning
from sr2fhir.spool import InstanceInfo


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a Bundle went (str(): for the log and the audit trail), and the server's answer
    the job's attempt history keeps: its HTTP status and the entry.response.location list."""

    where: str
    http_status: int | None = None
    locations: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.where


@dataclass(frozen=True, slots=True)
class SinkCheck:
    """Can Bundles be delivered right now, and why (not)."""

    ok: bool
    detail: str


class Sink(Protocol):
    """Delivers one Bundle; raises TransientDeliveryError or PermanentDeliveryError (or
    DiskFullError: no room to write it locally, which is not the report's fault)."""

    def deliver(
        self,
        bundle: dict[str, Any],
        instance: InstanceInfo,
        warnings: tuple[MappingWarning, ...] = (),
    ) -> Receipt:
        """Deliver (with what the mapping left out, where the sink keeps it); the receipt."""

    def recover(self, pid: int | None = None) -> None:
        """Clean up interrupted deliveries: all of them once at gateway start, before any
        worker runs (pid None); those of one worker process that died (its pid)."""

    def probe(self, timeout: float) -> SinkCheck:
        """Whether a delivery could succeed now (for /readyz), within `timeout` seconds."""
