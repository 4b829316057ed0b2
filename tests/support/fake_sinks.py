"""Fake delivery sinks for worker and retry tests: one base with the Sink Protocol's
signature, and a sink that answers from a script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sr2fhir.config import UnresolvedReference
from sr2fhir.delivery import Receipt, Sink, SinkCheck
from sr2fhir.mapping import MappingWarning
from sr2fhir.spool import InstanceInfo


@dataclass(frozen=True, slots=True)
class Delivery:
    """The arguments of one Sink.deliver call."""

    bundle: dict[str, Any]
    instance: InstanceInfo
    warnings: tuple[MappingWarning, ...]
    unresolved: UnresolvedReference | None


class FakeSink:
    """A Sink whose delivery is `answer` (what a test's subclass says); nothing to recover,
    always ready."""

    def deliver(
        self,
        bundle: dict[str, Any],
        instance: InstanceInfo,
        warnings: tuple[MappingWarning, ...] = (),
        unresolved: UnresolvedReference | None = None,
    ) -> Receipt:
        return self.answer(Delivery(bundle, instance, warnings, unresolved))

    def answer(self, delivery: Delivery) -> Receipt:
        raise NotImplementedError("a FakeSink says what one delivery does")

    def recover(self, pid: int | None = None) -> None:
        """Nothing to clean."""

    def probe(self, timeout: float) -> SinkCheck:
        return SinkCheck(True, "fake")


class ScriptedSink(FakeSink):
    """Answers each delivery with the next step of `script` (an exception to raise, or a
    Receipt), then hands the rest to `then`; with no `then`, a delivery past the script is
    the test's mistake. `calls` counts deliveries."""

    def __init__(self, *script: Exception | Receipt, then: Sink | None = None) -> None:
        self.script = list(script)
        self.then = then
        self.calls = 0

    def answer(self, delivery: Delivery) -> Receipt:
        self.calls += 1
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if self.then is None:
            raise AssertionError("the sink's script has no answer left")
        return self.then.deliver(
            delivery.bundle, delivery.instance, delivery.warnings, delivery.unresolved
        )

    def recover(self, pid: int | None = None) -> None:
        if self.then is not None:
            self.then.recover(pid)
