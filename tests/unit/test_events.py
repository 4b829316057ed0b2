"""The event bus: every listener hears every event in order; a failing one harms nobody."""

from __future__ import annotations

import pytest

from sr2fhir.events import SILENT, Event, EventBus, GatewayEvent


def test_each_listener_gets_each_event_in_the_order_emitted() -> None:
    first: list[Event] = []
    second: list[Event] = []
    bus = EventBus([first.append])
    bus.subscribe(second.append)
    bus.emit(GatewayEvent.INSTANCE_STORED, job_id=1, calling_ae="CT1")
    bus.emit(GatewayEvent.JOB_DELIVERED, job_id=1, resources=["Observation/x"])
    expected = [
        Event(GatewayEvent.INSTANCE_STORED, {"job_id": 1, "calling_ae": "CT1"}),
        Event(GatewayEvent.JOB_DELIVERED, {"job_id": 1, "resources": ["Observation/x"]}),
    ]
    assert first == second == expected
    assert expected[0].text("calling_ae") == "CT1" and expected[0].text("peer") == ""


def test_a_listener_that_raises_is_logged_and_breaks_neither_emitter_nor_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[GatewayEvent] = []

    def broken(event: Event) -> None:
        raise OSError("audit disk gone")

    bus = EventBus([broken, lambda event: heard.append(event.kind)])
    bus.emit(GatewayEvent.JOB_FAILED, job_id=2, reason="refused")  # does not raise
    assert heard == [GatewayEvent.JOB_FAILED]
    assert "job-failed: a listener failed: OSError: audit disk gone" in caplog.text


def test_silent_hears_nothing() -> None:
    SILENT.emit(GatewayEvent.FHIR_RESPONSE, method="GET", code="200")
