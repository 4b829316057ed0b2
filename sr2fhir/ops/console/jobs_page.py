"""The Jobs page (a filtered table with bulk retry and discard) and the confirmation page
every retry or discard passes through before it runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from sr2fhir.ops.console.layout import post_form, table
from sr2fhir.ops.console.markup import Html, h
from sr2fhir.ops.queue_api import ActionReport, JobQuery, JobsPage, JobSummary
from sr2fhir.spool import JobStatus

SINCE = {"": "any time", "1h": "last hour", "24h": "last 24 h", "7d": "last 7 days"}
SINCE_SECONDS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
PAGE_SIZE = 50


class Action:
    """The two things an operator does to jobs (the values of the forms' `action`)."""

    RETRY = "retry"
    DISCARD = "discard"


ACTIONS = (Action.RETRY, Action.DISCARD)


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_badge(state: JobStatus) -> Html:
    return h("span", {"class": f"state state-{state.value}"}, state.value)


@dataclass(frozen=True, slots=True)
class Filters:
    """The Jobs page's query string, as typed; `query()` is what the queue API is asked."""

    state: str = ""
    ae: str = ""
    since: str = ""
    q: str = ""
    before_id: str = ""

    @classmethod
    def of(cls, args: dict[str, list[str]]) -> Filters:
        def arg(name: str) -> str:
            return (args.get(name) or [""])[0].strip()

        state = arg("state") if arg("state") in JobStatus.__members__ else ""
        since = arg("since") if arg("since") in SINCE else ""
        before = arg("before_id") if arg("before_id").isdigit() else ""
        return cls(state, arg("ae")[:16], since, arg("q")[:128], before)

    def query(self, now: float | None = None) -> JobQuery:
        seconds = SINCE_SECONDS.get(self.since)
        return JobQuery(
            state=JobStatus[self.state] if self.state else None,
            since=(time.time() if now is None else now) - seconds if seconds else None,
            q=self.q or None,
            calling_ae=self.ae or None,
            limit=PAGE_SIZE,
            before_id=int(self.before_id) if self.before_id else None,
        )

    def link(self, **changes: str) -> str:
        values = {
            "state": self.state,
            "ae": self.ae,
            "since": self.since,
            "q": self.q,
            "before_id": self.before_id,
            **changes,
        }
        return "/console/jobs?" + urlencode({k: v for k, v in values.items() if v})


def filter_form(filters: Filters) -> Html:
    states = [h("option", {"value": ""}, "any state")] + [
        h("option", {"value": s.name, "selected": s.name == filters.state}, s.value)
        for s in JobStatus
    ]
    since = [
        h("option", {"value": key, "selected": key == filters.since}, words)
        for key, words in SINCE.items()
    ]

    def labelled(text: str, control: Html) -> Html:
        return h("label", None, text, control)

    return h(
        "form",
        {"method": "get", "action": "/console/jobs", "class": "filters", "role": "search"},
        labelled("State", h("select", {"name": "state"}, states)),
        labelled("Calling AE", h("input", {"name": "ae", "value": filters.ae, "size": 10})),
        labelled("Received", h("select", {"name": "since"}, since)),
        labelled(
            "Search",
            h(
                "input",
                {
                    "name": "q",
                    "value": filters.q,
                    "type": "search",
                    "placeholder": "UID, job id, Patient ID, accession",
                },
            ),
        ),
        h("button", {"type": "submit"}, "Filter"),
    )


def job_row(job: JobSummary) -> Html:
    link = f"/console/jobs/{job.id}"
    box = h(
        "input",
        {"type": "checkbox", "name": "ids", "value": job.id, "aria-label": f"select job {job.id}"},
    )
    return h(
        "tr",
        {"data-job": job.id, "data-state": job.state.value},
        h("td", None, box),
        h("td", {"data-label": "Job"}, h("a", {"href": link}, f"#{job.id}")),
        h("td", {"data-label": "State"}, state_badge(job.state)),
        h("td", {"data-label": "Received"}, when(job.received_at)),
        h("td", {"data-label": "Calling AE"}, job.calling_ae),
        h("td", {"class": "uid", "data-label": "SOP Instance UID"}, job.sop_instance_uid),
        h("td", {"data-label": "Attempts"}, str(job.attempts)),
        h("td", {"class": "last-error", "data-label": "Last error"}, job.last_error or ""),
    )


def jobs_content(filters: Filters, page: JobsPage, csrf: str) -> list[Html]:
    select_all = h(
        "input", {"type": "checkbox", "data-select-all": True, "aria-label": "select all"}
    )
    headings = ["", "Job", "State", "Received", "Calling AE", "SOP Instance UID", "Attempts"]
    rows = [job_row(job) for job in page.jobs]
    listing = table([*headings, "Last error"], rows, "grid jobs")
    listing = Html(
        listing.replace('<th scope="col"></th>', f'<th scope="col">{select_all}</th>', 1)
    )
    buttons = h(
        "div",
        {"class": "actions"},
        h("button", {"type": "submit", "name": "action", "value": Action.RETRY}, "Retry selected"),
        h(
            "button",
            {"type": "submit", "name": "action", "value": Action.DISCARD, "class": "danger"},
            "Discard selected",
        ),
    )
    back = h("input", {"type": "hidden", "name": "back", "value": filters.link()})
    shown = f"{len(page.jobs)} of {page.total} job(s)"
    more = (
        h("a", {"href": filters.link(before_id=str(page.next_before_id))}, "Older jobs →")
        if page.next_before_id is not None
        else None
    )
    body = rows and post_form("/console/jobs/action", csrf, back, buttons, listing)
    return [
        filter_form(filters),
        h("p", {"class": "muted", "id": "shown"}, shown),
        body or h("p", None, "No jobs match."),
        h("p", None, more),
    ]


def confirm_content(action: str, ids: Sequence[int], back: str, csrf: str) -> list[Html]:
    """What will happen, to which jobs, and one button that does it."""
    verb = "Retry" if action == Action.RETRY else "Discard"
    if action == Action.RETRY:
        words = "Failed jobs go back to the queue and are delivered again."
    else:
        words = (
            "Failed jobs are forgotten: their rows leave the job database (a quarantined "
            "file stays in the quarantine folder, as `sr2fhir queue purge` leaves it)."
        )
    fields = [h("input", {"type": "hidden", "name": "ids", "value": i}) for i in ids]
    form = post_form(
        "/console/jobs/action",
        csrf,
        h("input", {"type": "hidden", "name": "action", "value": action}),
        h("input", {"type": "hidden", "name": "confirm", "value": "yes"}),
        h("input", {"type": "hidden", "name": "back", "value": back}),
        fields,
        h(
            "div",
            {"class": "actions"},
            h(
                "button",
                {"type": "submit", "class": "danger" if action == Action.DISCARD else "primary"},
                f"{verb} {len(ids)} job(s)",
            ),
            h("a", {"class": "button", "href": back}, "Cancel"),
        ),
    )
    listed = ", ".join(f"#{i}" for i in ids)
    return [h("p", None, words), h("p", None, f"Jobs: {listed}"), form]


def report_text(action: str, report: ActionReport) -> str:
    """One line for the page after the action: what was done, what was not and why."""
    verb = "Retried" if action == Action.RETRY else "Discarded"
    done = ", ".join(f"#{i}" for i in report.done) or "no job"
    text = f"{verb} {done}."
    if report.skipped:
        skipped = "; ".join(f"#{i}: {why}" for i, why in sorted(report.skipped.items()))
        text += f" Skipped {skipped}."
    return text
