"""Classify FHIR server answers: transient (retry later) or permanent (keep the outcome)."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from sr2fhir.errors import PermanentDeliveryError, TransientDeliveryError

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CONFLICT_STATUS = frozenset({409, 412})  # a conditional race: worth one immediate retry


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_outcome(body: bytes) -> dict[str, Any] | None:
    """The OperationOutcome a server sent, if the body is one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
        return data
    return None


def outcome_summary(outcome: dict[str, Any] | None, limit: int = 300) -> str:
    """The first issues' diagnostics, for one log line (servers do not echo PHI there)."""
    if not outcome:
        return ""
    texts = []
    for issue in outcome.get("issue", [])[:3]:
        text = issue.get("diagnostics") or issue.get("details", {}).get("text") or issue.get("code")
        if text:
            texts.append(f"{issue.get('severity', 'error')}: {text}")
    return "; ".join(texts)[:limit]


def raise_for_status(status: int, body: bytes, retry_after: str | None, what: str) -> None:
    """Raise the delivery error a non-2xx answer means; return quietly on 2xx."""
    if 200 <= status < 300:
        return
    outcome = parse_outcome(body)
    detail = outcome_summary(outcome)
    message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in TRANSIENT_STATUS or (status >= 500 and status != 501):
        raise TransientDeliveryError(message, retry_after_seconds(retry_after))
    raise PermanentDeliveryError(message, outcome, status)


def check_transaction_response(response: dict[str, Any], expected_entries: int) -> None:
    """A 200 whose entries are not all 2xx is a failure (and so is a short response)."""
    if response.get("resourceType") != "Bundle" or response.get("type") != "transaction-response":
        raise PermanentDeliveryError("transaction answer is not a transaction-response Bundle")
    entries = response.get("entry", [])
    if len(entries) != expected_entries:
        raise PermanentDeliveryError(
            f"transaction-response has {len(entries)} entries for {expected_entries} sent"
        )
    for n, entry in enumerate(entries):
        status = str(entry.get("response", {}).get("status", ""))
        if status[:1] != "2":
            outcome = entry.get("response", {}).get("outcome")
            raise PermanentDeliveryError(
                f"transaction entry {n} failed: {status or 'no status'} "
                f"{outcome_summary(outcome)}".strip(),
                outcome,
            )
