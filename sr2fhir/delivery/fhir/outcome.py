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


ANSWER_KEPT = 2000  # characters of an unexpected answer kept with the job for `queue show`


def kept_answer(answer: bytes | Any) -> str:
    """The start of an answer (raw bytes, or parsed JSON) for the job's record."""
    if isinstance(answer, bytes):
        text = answer[: ANSWER_KEPT * 4].decode("utf-8", "replace")
    else:
        text = json.dumps(answer, ensure_ascii=False)
    return text if len(text) <= ANSWER_KEPT else text[: ANSWER_KEPT - 1] + "…"


def parse_answer(body: bytes, what: str) -> dict[str, Any]:
    """The JSON object a 2xx answer must carry; anything else (not JSON, a JSON string or
    list) is a PermanentDeliveryError that keeps the answer."""
    try:
        data = json.loads(body)
    except ValueError:  # UnicodeDecodeError is one too
        raise PermanentDeliveryError(
            f"{what}: the answer is not JSON", answer=kept_answer(body)
        ) from None
    if not isinstance(data, dict):
        raise PermanentDeliveryError(
            f"{what}: the answer is a JSON {_json_kind(data)}, not a resource",
            answer=kept_answer(body),
        )
    return data


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def parse_outcome(body: bytes) -> dict[str, Any] | None:
    """The OperationOutcome a server sent, if the body is one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
        return data
    return None


def outcome_summary(outcome: Any, limit: int = 300) -> str:
    """The first issues' diagnostics, for one log line (servers do not echo PHI there)."""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    if not isinstance(issues, list):
        return ""
    texts = []
    for issue in (i for i in issues[:3] if isinstance(i, dict)):
        details = issue.get("details")
        text = (
            issue.get("diagnostics")
            or (details.get("text") if isinstance(details, dict) else None)
            or issue.get("code")
        )
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
        raise TransientDeliveryError(message, retry_after_seconds(retry_after), status, outcome)
    raise PermanentDeliveryError(
        message, outcome, status, answer=None if outcome else kept_answer(body)
    )


def check_transaction_response(response: dict[str, Any], expected_entries: int) -> None:
    """A 200 whose entries are not all 2xx is a failure (and so is a short or malformed one)."""

    def malformed(problem: str) -> PermanentDeliveryError:
        return PermanentDeliveryError(f"transaction answer {problem}", answer=kept_answer(response))

    if response.get("resourceType") != "Bundle" or response.get("type") != "transaction-response":
        raise malformed("is not a transaction-response Bundle")
    entries = response.get("entry", [])
    if not isinstance(entries, list):
        raise malformed("has no list of entries")
    if len(entries) != expected_entries:
        raise malformed(f"has {len(entries)} entries for {expected_entries} sent")
    for n, entry in enumerate(entries):
        answer = entry.get("response") if isinstance(entry, dict) else None
        if not isinstance(answer, dict):
            raise malformed(f"entry {n} has no response")
        status = str(answer.get("status", ""))
        if status[:1] != "2":
            outcome = answer.get("outcome")
            outcome = outcome if isinstance(outcome, dict) else None
            raise PermanentDeliveryError(
                f"transaction entry {n} failed: {status or 'no status'} "
                f"{outcome_summary(outcome)}".strip(),
                outcome,
                answer=None if outcome else kept_answer(response),
            )
