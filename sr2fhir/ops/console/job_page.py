"""The Job page: the report's header facts, its content outline, each attempt with the
server's answer (its OperationOutcome as a list), the Bundle that was or would be sent (with
a download link) and, once delivered, links to the resources on the FHIR server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sr2fhir.ops.console.jobs_page import Action, state_badge, when
from sr2fhir.ops.console.layout import post_form
from sr2fhir.ops.console.markup import Html, h
from sr2fhir.ops.console.outcome import outcome_list
from sr2fhir.ops.console.outline import outline
from sr2fhir.ops.queue_api import Attempt, JobDetail
from sr2fhir.spool import JobStatus

HEADER_WORDS = {
    "patient_name": "Patient name",
    "patient_id": "Patient ID",
    "accession_number": "Accession number",
    "study_instance_uid": "Study Instance UID",
    "series_instance_uid": "Series Instance UID",
    "modality": "Modality",
    "study_date": "Study date",
    "content_date": "Content date",
    "content_time": "Content time",
    "series_description": "Series description",
    "manufacturer": "Manufacturer",
}


def facts(element_id: str, pairs: list[tuple[str, str]]) -> Html:
    items = [(h("dt", None, k), h("dd", None, v)) for k, v in pairs]
    return h("dl", {"class": "facts", "id": element_id}, items)


def resource_link(base_url: str | None, location: str) -> Html:
    """A link to a delivered resource (entry.response.location is relative to the base)."""
    if location.startswith(("http://", "https://")):
        return h("a", {"href": location, "rel": "noreferrer"}, location)
    if not base_url:
        return h("code", None, location)
    href = f"{base_url.rstrip('/')}/{location.lstrip('/')}"
    return h("a", {"href": href, "rel": "noreferrer"}, location)


def attempt_item(attempt: Attempt, base_url: str | None) -> Html:
    status = f"HTTP {attempt.http_status}" if attempt.http_status is not None else "no answer"
    node = f" on {attempt.node}" if attempt.node else ""
    parts: list[object] = [h("strong", None, f"{when(attempt.at)}{node}: {status}")]
    if attempt.error:
        parts.append(h("p", {"class": "error-text"}, attempt.error))
    if attempt.outcome is not None:
        parts += [h("p", None, "The server's OperationOutcome:"), outcome_list(attempt.outcome)]
    if attempt.locations:
        links = [h("li", None, resource_link(base_url, loc)) for loc in attempt.locations]
        parts.append(
            h(
                "details",
                None,
                h("summary", None, f"{len(links)} resource(s)"),
                h("ul", None, links),
            )
        )
    return h("li", {"class": "attempt"}, parts)


def actions(detail: JobDetail, csrf: str) -> Html | None:
    if detail.summary.state is not JobStatus.FAILED:
        return None
    job_id = detail.summary.id
    back = f"/console/jobs/{job_id}"
    return post_form(
        "/console/jobs/action",
        csrf,
        h("input", {"type": "hidden", "name": "ids", "value": job_id}),
        h("input", {"type": "hidden", "name": "back", "value": back}),
        h(
            "div",
            {"class": "actions"},
            h(
                "button",
                {"type": "submit", "name": "action", "value": Action.RETRY, "class": "primary"},
                "Retry",
            ),
            h(
                "button",
                {"type": "submit", "name": "action", "value": Action.DISCARD, "class": "danger"},
                "Discard",
            ),
        ),
    )


def delivered_links(detail: JobDetail, base_url: str | None) -> Html | None:
    """The resources of the last delivery (DONE jobs)."""
    if detail.summary.state is not JobStatus.DONE:
        return None
    locations = next((a.locations for a in reversed(detail.attempts) if a.locations), ())
    if not locations:
        return None
    links = [h("li", None, resource_link(base_url, loc)) for loc in locations]
    return h(
        "section",
        {"id": "delivered"},
        h("h2", None, "On the FHIR server"),
        h("ul", {"class": "resources"}, links),
    )


def warning_items(warnings: tuple[Mapping[str, Any], ...]) -> Html:
    if not warnings:
        return h("p", {"class": "muted"}, "None.")
    items = []
    for warning in warnings:
        where = warning.get("item_path") or warning.get("path") or ""
        text = warning.get("message") or warning.get("text") or json.dumps(warning)
        items.append(h("li", None, f"{where}: {text}" if where else str(text)))
    return h("ul", None, items)


def kept_answer(detail: JobDetail) -> Html | None:
    """A FAILED job: what the server answered last (its OperationOutcome, or the start of an
    answer that was none), and whether the bytes were set aside as not a usable report."""
    if detail.summary.state is not JobStatus.FAILED:
        return None
    parts: list[object] = [h("h2", None, "Why it failed")]
    if detail.quarantined:
        parts.append(h("p", None, "Not a usable report: its file was moved to the quarantine."))
    if detail.outcome is not None:
        parts += [h("p", None, "The FHIR server's OperationOutcome:"), outcome_list(detail.outcome)]
    elif detail.answer:
        parts += [
            h("p", None, "The server's answer:"),
            h("pre", {"class": "bundle"}, detail.answer),
        ]
    elif detail.summary.last_error:
        parts.append(h("p", {"class": "error-text"}, detail.summary.last_error))
    return h("section", {"id": "failure"}, parts)


def job_content(
    detail: JobDetail,
    bundle: Mapping[str, Any] | None,
    bundle_missing: str,
    csrf: str,
    base_url: str | None,
) -> list[Html]:
    """`bundle_missing`: why there is no Bundle to show (when `bundle` is None)."""
    job = detail.summary
    overview = facts(
        "job-facts",
        [
            ("State", state_badge(job.state)),
            ("Received", when(job.received_at)),
            ("Last change", when(job.updated_at)),
            ("Calling AE", job.calling_ae),
            ("SOP Class UID", job.sop_class_uid),
            ("SOP Instance UID", job.sop_instance_uid),
            ("Attempts", str(job.attempts)),
            *([("Next attempt", when(detail.next_attempt_at))] if detail.next_attempt_at else []),
            *([("Held by", job.held_by)] if job.held_by else []),
            *([("Last error", job.last_error)] if job.last_error else []),
        ],
    )
    header = facts("report-facts", [(HEADER_WORDS.get(k, k), v) for k, v in detail.header.items()])
    attempts = [attempt_item(a, base_url) for a in reversed(detail.attempts)]
    parts: list[Html | None] = [
        overview,
        actions(detail, csrf),
        kept_answer(detail),
        delivered_links(detail, base_url),
        h("h2", None, "Report"),
        header if detail.header else h("p", {"class": "muted"}, "Not mapped yet."),
        outline(bundle) if bundle else None,
        h("h2", None, "Attempts (newest first)"),
        h("ul", {"class": "attempts"}, attempts)
        if attempts
        else h("p", {"class": "muted"}, "None yet."),
        h("h2", None, "Mapping warnings"),
        warning_items(detail.warnings),
        h("h2", None, "Bundle"),
    ]
    if bundle is None:
        parts.append(h("p", {"class": "muted"}, bundle_missing))
    else:
        download = f"/console/jobs/{job.id}/bundle.json"
        entries = len(bundle.get("entry") or [])
        parts += [
            h(
                "p",
                None,
                h("a", {"href": download, "download": True}, "Download the Bundle (JSON)"),
            ),
            h(
                "details",
                None,
                h("summary", None, f"Show the Bundle ({entries} entries)"),
                h("pre", {"class": "bundle"}, json.dumps(bundle, indent=1)),
            ),
        ]
    return [part for part in parts if part is not None]
