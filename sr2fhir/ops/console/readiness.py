"""/readyz's checks (sr2fhir.ops.health) in plain words for the Overview page."""

from __future__ import annotations

from sr2fhir.ops.console.markup import Html, h
from sr2fhir.ops.health import Check

# check name -> (what it means when it passes, what it means when it fails)
WORDS = {
    "scp": (
        "Receiving: senders can connect",
        "Not receiving: senders cannot connect",
    ),
    "spool": (
        "Storing: received reports are written to disk",
        "Cannot store: received reports are refused (the sender keeps them and retries)",
    ),
    "workers": (
        "Working: every worker is running",
        "Workers missing: reports wait in the queue until they are back",
    ),
    "sink": (
        "Delivering: the destination answers",
        "Cannot deliver: the destination does not answer; reports wait and are retried",
    ),
    "gateway": ("Running", "Stopping: finishing what it holds, taking nothing new"),
}


def sentence(check: Check) -> tuple[str, str]:
    """(headline, detail) of one check."""
    passed, failed = WORDS.get(check.name, (check.name, f"{check.name} failed"))
    return (passed if check.ok else failed), check.detail


def readiness_list(checks: list[Check]) -> Html:
    """A list, failed checks first, each with its state in words (not only a colour)."""
    ordered = sorted(checks, key=lambda check: check.ok)
    items = []
    for check in ordered:
        headline, detail = sentence(check)
        state = "ok" if check.ok else "failed"
        items.append(
            h(
                "li",
                {"class": f"check {state}", "data-check": check.name},
                h("span", {"class": "badge"}, "OK" if check.ok else "PROBLEM"),
                h("strong", None, headline),
                h("span", {"class": "detail"}, f" ({detail})" if detail else ""),
            )
        )
    ready = all(check.ok for check in checks)
    summary = "Ready: taking and delivering reports." if ready else "Not ready."
    return h(
        "section",
        {"class": "readiness"},
        h("h2", None, "Readiness"),
        h("p", {"class": "ready" if ready else "not-ready"}, summary),
        h("ul", {"class": "checks"}, items),
    )
