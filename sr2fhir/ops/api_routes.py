"""The /api routes of the operations endpoint: requests in, QueueApi calls, JSON out.

The HTTP server (sr2fhir.ops.http) authenticates first and caps the body; here, every path
and parameter is checked before the spool is asked, and a bad one is a 400 with one line.
`ROUTES` lists every route as docs/api/openapi.yaml names it (a test compares the two).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sr2fhir.ops.queue_api import ActionReport, JobQuery, QueueApi, Unavailable
from sr2fhir.spool import JobStatus

MAX_IDS = 1000  # job ids in one bulk request
MAX_TEXT = 200  # characters of a text parameter
MAX_ID = 2**63 - 1
BULK = frozenset({"retry", "discard"})  # /api/jobs/<these> are routes, not job ids
QUERY_KEYS = frozenset({"state", "since", "q", "ae", "limit", "before_id"})

Json = dict[str, Any]


class ApiError(Exception):
    """An answer other than 200: the HTTP status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: bytes
    with_phi: bool  # an authenticated caller (every /api request is one)


Handler = Callable[[QueueApi, ApiRequest, int | None], Json]


def _list_jobs(api: QueueApi, request: ApiRequest, _: int | None) -> Json:
    return api.jobs(parse_query(request.query), with_phi=request.with_phi).to_json()


def _one_job(api: QueueApi, request: ApiRequest, job_id: int | None) -> Json:
    detail = api.job(_id(job_id), with_phi=request.with_phi)
    if detail is None:
        raise ApiError(404, f"no job {job_id}")
    return detail.to_json()


def _bundle(api: QueueApi, request: ApiRequest, job_id: int | None) -> Json:
    try:
        bundle = api.bundle(_id(job_id))
    except Unavailable as exc:
        raise ApiError(409, str(exc)) from None
    if bundle is None:
        raise ApiError(404, f"no job {job_id}")
    return bundle


def _one_action(action: str) -> Handler:
    def act(api: QueueApi, request: ApiRequest, job_id: int | None) -> Json:
        report: ActionReport = getattr(api, action)([_id(job_id)])
        for skipped, reason in report.skipped.items():
            raise ApiError(404 if reason == "no such job" else 409, f"job {skipped}: {reason}")
        return report.to_json()

    return act


def _bulk_action(action: str) -> Handler:
    def act(api: QueueApi, request: ApiRequest, _: int | None) -> Json:
        report: ActionReport = getattr(api, action)(parse_ids(request.body))
        return report.to_json()

    return act


def _stats(api: QueueApi, request: ApiRequest, _: int | None) -> Json:
    return api.stats().to_json()


# (method, path as in the OpenAPI file, handler)
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/api/jobs", _list_jobs),
    ("GET", "/api/jobs/{id}", _one_job),
    ("GET", "/api/jobs/{id}/bundle", _bundle),
    ("POST", "/api/jobs/{id}/retry", _one_action("retry")),
    ("POST", "/api/jobs/{id}/discard", _one_action("discard")),
    ("POST", "/api/jobs/retry", _bulk_action("retry")),
    ("POST", "/api/jobs/discard", _bulk_action("discard")),
    ("GET", "/api/stats", _stats),
)
_PATTERNS = tuple(
    (method, re.compile("^" + path.replace("{id}", "([^/]+)") + "$"), handler)
    for method, path, handler in ROUTES
)


def handle(api: Callable[[], QueueApi], request: ApiRequest) -> tuple[int, Json]:
    """(status, JSON body) for one authenticated /api request."""
    try:
        handler, job_id = _route(request.method, request.path)
        if request.method == "GET" and request.path != "/api/jobs" and request.query:
            raise ApiError(400, f"{request.path} takes no query parameters")
        return 200, handler(api(), request, job_id)
    except ApiError as exc:
        return exc.status, {"error": str(exc)}


def _route(method: str, path: str) -> tuple[Handler, int | None]:
    allowed = []
    for route_method, pattern, handler in _PATTERNS:
        match = pattern.match(path)
        if match is None or (match.groups() and match.group(1) in BULK):
            continue  # /api/jobs/retry is the bulk route, not job "retry"
        if route_method != method:
            allowed.append(route_method)
            continue
        return handler, parse_id(match.group(1)) if match.groups() else None
    if allowed:
        raise ApiError(405, f"{method} not allowed on {path} (only {', '.join(allowed)})")
    raise ApiError(404, f"no such API path: {path[:100]}")


def parse_id(text: str) -> int:
    if not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
        raise ApiError(400, f"not a job id: {text[:40]!r}")
    return int(text)


def _id(job_id: int | None) -> int:
    if job_id is None:  # pragma: no cover - the id routes always match one
        raise ApiError(400, "no job id")
    return job_id


def parse_query(query: Mapping[str, list[str]]) -> JobQuery:
    """GET /api/jobs parameters; ApiError 400 naming the first bad one."""
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        raise ApiError(
            400, f"unknown parameter {unknown[0][:40]!r} (known: {', '.join(sorted(QUERY_KEYS))})"
        )
    values = {}
    for key, given in query.items():
        if len(given) != 1:
            raise ApiError(400, f"parameter {key} given {len(given)} times")
        if len(given[0]) > MAX_TEXT:
            raise ApiError(400, f"parameter {key} longer than {MAX_TEXT} characters")
        values[key] = given[0]
    try:
        return JobQuery(
            state=_state(values.get("state")),
            since=_since(values.get("since")),
            q=values.get("q") or None,
            calling_ae=values.get("ae") or None,
            limit=_int("limit", values.get("limit"), 50) or 0,
            before_id=_int("before_id", values.get("before_id"), None),
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _state(text: str | None) -> JobStatus | None:
    if not text:
        return None
    try:
        return JobStatus(text.upper())
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise ApiError(400, f"state must be one of {names}, not {text[:20]!r}") from None


def _since(text: str | None) -> float | None:
    """Epoch seconds, or an ISO-8601 time with its offset (2026-11-30T08:00:00Z)."""
    if not text:
        return None
    try:
        return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else _iso(text)
    except ValueError:
        raise ApiError(
            400, f"since must be epoch seconds or an ISO-8601 time, not {text[:40]!r}"
        ) from None


def _iso(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.timestamp()


def _int(name: str, text: str | None, default: int | None) -> int | None:
    if text is None or text == "":
        return default
    if not re.fullmatch(r"\d{1,19}", text):
        raise ApiError(400, f"{name} must be a whole number, not {text[:40]!r}")
    return int(text)


def parse_ids(body: bytes) -> list[int]:
    """A bulk request's body: {"ids": [1, 2, ...]} (1 to MAX_IDS job ids)."""
    try:
        document = json.loads(body)
    except ValueError:
        raise ApiError(400, 'the body is not JSON: send {"ids": [job ids]}') from None
    ids = document.get("ids") if isinstance(document, dict) else None
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, 'the body must be {"ids": [job ids]} with at least one id')
    if len(ids) > MAX_IDS:
        raise ApiError(400, f"at most {MAX_IDS} ids in one request, not {len(ids)}")
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise ApiError(400, f"not a job id: {json.dumps(value)[:40]}")
    return list(ids)
