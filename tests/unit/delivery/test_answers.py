"""Answers a FHIR server should never give: each is a PermanentDeliveryError that keeps the
answer for `queue show`, never an exception that kills a worker (hardening issue, point 6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sr2fhir.config import load_config
from sr2fhir.delivery.fhir.outcome import (
    ANSWER_KEPT,
    check_transaction_response,
    outcome_summary,
    parse_answer,
    raise_for_status,
)
from sr2fhir.delivery.fhir.resolve import matching_ids
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.errors import PermanentDeliveryError
from sr2fhir.mapping import convert_dataset
from sr2fhir.spool import InstanceInfo
from tests.support.fhir_stub import running_stub_fhir
from tests.support.sr.benchmark import benchmark_report


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'"OK"', "a JSON string"),
        (b"[]", "a JSON array"),
        (b"42", "a JSON number"),
        (b"null", "a JSON null"),
        (b"<html>Gateway login</html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_a_2xx_answer_that_is_not_a_json_object_is_kept(body: bytes, problem: str) -> None:
    with pytest.raises(PermanentDeliveryError, match=f"transaction: the answer is {problem}") as e:
        parse_answer(body, "transaction")
    assert e.value.answer == body.decode("utf-8", "replace")


def test_a_long_answer_is_kept_cut() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        parse_answer(b"x" * 100_000, "transaction")
    assert caught.value.answer is not None and len(caught.value.answer) == ANSWER_KEPT


MALFORMED_RESPONSES: dict[str, tuple[Any, str]] = {
    "batch": ({"resourceType": "Bundle", "type": "batch-response"}, "not a transaction-response"),
    "outcome": ({"resourceType": "OperationOutcome"}, "not a transaction-response"),
    "no entries": ({"resourceType": "Bundle", "type": "transaction-response"}, "0 entries"),
    "entries not a list": (
        {"resourceType": "Bundle", "type": "transaction-response", "entry": {"a": 1}},
        "no list of entries",
    ),
    "entry not an object": (
        {"resourceType": "Bundle", "type": "transaction-response", "entry": ["OK"]},
        "entry 0 has no response",
    ),
    "entry without response": (
        {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"x": 1}]},
        "entry 0 has no response",
    ),
}


@pytest.mark.parametrize(
    ("response", "problem"), MALFORMED_RESPONSES.values(), ids=list(MALFORMED_RESPONSES)
)
def test_a_malformed_transaction_response_is_kept(response: Any, problem: str) -> None:
    with pytest.raises(PermanentDeliveryError, match=problem) as caught:
        check_transaction_response(response, 1)
    assert caught.value.answer == json.dumps(response)


def test_a_failed_entry_with_a_strange_outcome_is_kept_whole() -> None:
    response = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "400", "outcome": "bad"}}],
    }
    with pytest.raises(PermanentDeliveryError, match="entry 0 failed: 400") as caught:
        check_transaction_response(response, 1)
    assert caught.value.outcome is None and caught.value.answer == json.dumps(response)


@pytest.mark.parametrize(
    "outcome",
    [
        "text",
        {"issue": "text"},
        {"issue": ["text", {"details": "text"}, {"details": {"text": "kept"}}]},
    ],
)
def test_outcome_summaries_survive_odd_shapes(outcome: Any) -> None:
    summary = outcome_summary(outcome)
    assert summary in ("", "error: kept")


def test_a_4xx_without_an_operation_outcome_keeps_the_answer() -> None:
    with pytest.raises(PermanentDeliveryError, match="HTTP 403") as caught:
        raise_for_status(403, b"<html>denied</html>", None, "transaction")
    assert caught.value.outcome is None and caught.value.answer == "<html>denied</html>"


SEARCH_ANSWERS: dict[str, tuple[Any, str]] = {
    "not a Bundle": ({"resourceType": "Patient", "id": "1"}, "not a searchset Bundle"),
    "a transaction": ({"resourceType": "Bundle", "type": "transaction"}, "not a searchset"),
    "entries not a list": (
        {"resourceType": "Bundle", "type": "searchset", "entry": "x"},
        "no list of entries",
    ),
    "entry without resource": (
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "x"}]},
        "an entry without a resource",
    ),
    "no id": (
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Patient"}}],
        },
        "a Patient without a valid id",
    ),
    "path-like id": (
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Patient", "id": "../Patient/x"}}],
        },
        "a Patient without a valid id",
    ),
}


@pytest.mark.parametrize(("answer", "problem"), SEARCH_ANSWERS.values(), ids=list(SEARCH_ANSWERS))
def test_a_malformed_search_answer_is_a_permanent_error(answer: Any, problem: str) -> None:
    with pytest.raises(PermanentDeliveryError, match=f"search Patient: the answer .*{problem}"):
        matching_ids(answer, "Patient")


def test_search_outcomes_beside_the_matches_are_skipped() -> None:
    answer = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p-1"}},
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
        ],
    }
    assert matching_ids(answer, "Patient") == ["p-1"]


def test_the_fhir_sink_turns_a_json_string_answer_into_a_kept_refusal() -> None:
    bundle = convert_dataset(benchmark_report(1))
    instance = InstanceInfo(str(benchmark_report(1).SOPClassUID), "1.2.3", "X")
    with running_stub_fhir() as stub:
        stub.answer_next(200, '"OK"')
        sink = build_fhir_sink(load_config(env={"SR2FHIR_FHIR_BASE_URL": stub.base}).fhir)
        with pytest.raises(PermanentDeliveryError, match="a JSON string") as caught:
            sink.deliver(bundle, instance)
        assert caught.value.answer == '"OK"'
        assert stub.posts == 1
        assert str(sink.deliver(bundle, instance)).endswith(f"({len(bundle['entry'])} resources)")
