"""Classification of FHIR server answers into transient and permanent delivery errors."""

from __future__ import annotations

import json

import pytest

from sr2fhir.delivery.fhir.outcome import (
    check_transaction_response,
    raise_for_status,
    retry_after_seconds,
)
from sr2fhir.errors import PermanentDeliveryError, TransientDeliveryError

OUTCOME = json.dumps(
    {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad status"}],
    }
).encode()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    with pytest.raises(TransientDeliveryError, match=f"HTTP {status}"):
        raise_for_status(status, b"", None, "transaction")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 422])
def test_client_errors_are_permanent_and_keep_the_outcome(status: int) -> None:
    with pytest.raises(PermanentDeliveryError, match="bad status") as caught:
        raise_for_status(status, OUTCOME, None, "transaction")
    assert caught.value.outcome is not None
    assert caught.value.outcome["resourceType"] == "OperationOutcome"
    assert caught.value.status == status


def test_success_raises_nothing() -> None:
    raise_for_status(200, b"{}", None, "transaction")


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None
    with pytest.raises(TransientDeliveryError) as caught:
        raise_for_status(503, b"", "7", "transaction")
    assert caught.value.retry_after == 7.0


def _response(*statuses: str) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": s}} for s in statuses],
    }


def test_a_200_with_a_failed_entry_is_a_failure() -> None:
    check_transaction_response(_response("201 Created", "200 OK"), 2)
    with pytest.raises(PermanentDeliveryError, match="entry 1 failed: 400"):
        check_transaction_response(_response("201 Created", "400 Bad Request"), 2)
    with pytest.raises(PermanentDeliveryError, match="1 entries for 2 sent"):
        check_transaction_response(_response("201 Created"), 2)
