"""A FHIR server's OperationOutcome as a list a person reads: each issue's severity, code,
what the server said and where in the Bundle (expression / location)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sr2fhir.ops.console.markup import Html, h


def issue_item(issue: Mapping[str, Any]) -> Html:
    severity = str(issue.get("severity") or "issue")
    code = str(issue.get("code") or "")
    details = issue.get("details") or {}
    said = issue.get("diagnostics") or details.get("text") or ""
    if not said and details.get("coding"):
        said = details["coding"][0].get("display") or details["coding"][0].get("code") or ""
    where = [str(w) for w in (issue.get("expression") or issue.get("location") or [])]
    return h(
        "li",
        {"class": f"sev-{severity}"},
        h("strong", None, severity.upper()),
        f" [{code}] " if code else " ",
        str(said),
        h("div", {"class": "muted"}, "at " + ", ".join(where)) if where else None,
    )


def outcome_list(outcome: Mapping[str, Any] | None) -> Html:
    """The issues as a list; an answer that is not an OperationOutcome is shown as is."""
    if not outcome:
        return h("p", {"class": "muted"}, "The server sent no OperationOutcome.")
    issues = outcome.get("issue")
    if outcome.get("resourceType") != "OperationOutcome" or not isinstance(issues, list):
        return h("pre", {"class": "bundle"}, str(outcome))
    return h("ul", {"class": "issues"}, [issue_item(i) for i in issues if isinstance(i, Mapping)])
