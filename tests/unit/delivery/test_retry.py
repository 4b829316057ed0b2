"""One set of retry rules for every delivery: the workers and `convert --push`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr2fhir.commands import convert
from sr2fhir.config import load_config
from sr2fhir.delivery.retry import GaveUp, RetryPolicy, deliver_with_retries, failure_of
from sr2fhir.delivery.sink import Receipt
from sr2fhir.errors import PermanentDeliveryError, TransientDeliveryError
from sr2fhir.spool import InstanceInfo
from tests.support.fake_sinks import ScriptedSink

INSTANCE = InstanceInfo("1.2.840.10008.5.1.4.1.1.88.22", "1.2.3", "convert")


def flaky(*failures: Exception) -> ScriptedSink:
    """A sink that fails with each of `failures` in turn, then delivers."""
    return ScriptedSink(*failures, Receipt("delivered"))


def test_transient_failures_are_retried_after_the_backoff_or_retry_after() -> None:
    sink = flaky(TransientDeliveryError("503"), TransientDeliveryError("429", retry_after=7.0))
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, initial=2.0, cap=30.0)
    receipt = deliver_with_retries(sink, {}, INSTANCE, policy, sleeps.append, rng=lambda: 1.0)
    assert (str(receipt), sink.calls, sleeps) == ("delivered", 3, [2.0, 7.0])


def test_a_permanent_refusal_is_not_retried_and_keeps_the_outcome() -> None:
    outcome = {"resourceType": "OperationOutcome"}
    sink = flaky(PermanentDeliveryError("HTTP 422", outcome=outcome, status=422))
    with pytest.raises(GaveUp) as gave_up:
        deliver_with_retries(sink, {}, INSTANCE, RetryPolicy(3), lambda s: None)
    assert sink.calls == 1 and gave_up.value.failure.permanent
    assert gave_up.value.failure.kept == '{"resourceType": "OperationOutcome"}'


def test_attempts_end_at_the_policy_s_maximum() -> None:
    sink = flaky(*(OSError("connection reset") for _ in range(5)))
    with pytest.raises(GaveUp, match="OSError: connection reset") as gave_up:
        deliver_with_retries(sink, {}, INSTANCE, RetryPolicy(2), lambda s: None)
    assert (sink.calls, gave_up.value.attempts) == (2, 2)


def test_an_unexpected_error_is_retried_without_its_message() -> None:
    failure = failure_of(KeyError("PHI-4711"))
    assert not failure.permanent and failure.reason == "internal delivery error: KeyError"


def test_convert_push_uses_the_gateway_s_retry_rules(tmp_path: Path) -> None:
    config = load_config(
        env={},
        overrides={
            "fhir.base_url": "http://127.0.0.1:9/fhir",
            "workers.backoff_initial": 3.0,
            "workers.backoff_max": 40.0,
        },
    )
    pusher = convert._pusher(config)
    assert pusher.policy == RetryPolicy(convert.PUSH_ATTEMPTS, 3.0, 40.0)
    pusher.sink = sink = flaky(TransientDeliveryError("503", retry_after=5.0))
    sleeps: list[float] = []
    pusher.sleep, pusher.rng = sleeps.append, lambda: 0.0
    pusher.push("a.dcm", convert.Converted("1.2.3", {"entry": []}))
    assert (pusher.sent, pusher.failed, sink.calls, sleeps) == (1, 0, 2, [5.0])
