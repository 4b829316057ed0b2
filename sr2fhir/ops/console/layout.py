"""The page chrome every console page shares: head, navigation, messages, forms with CSRF."""

from __future__ import annotations

from collections.abc import Sequence

from sr2fhir.ops.console.markup import Html, h, raw

STATIC = "/console/static"
NAV = (
    ("overview", "/console/", "Overview"),
    ("jobs", "/console/jobs", "Jobs"),
    ("config", "/console/config", "Configuration"),
)


def document(title: str, *body: object, refresh: int = 0) -> Html:
    head = h(
        "head",
        None,
        raw('<meta charset="utf-8">'),
        h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        h("title", None, f"{title} · sr2fhir"),
        h("link", {"rel": "stylesheet", "href": f"{STATIC}/console.css"}),
        h("script", {"src": f"{STATIC}/console.js", "defer": True}),
    )
    attrs = {"data-refresh": refresh or None}
    return h("html", {"lang": "en"}, head, h("body", attrs, *body))


def page(
    title: str, active: str, csrf: str, messages: list[str], *content: object, refresh: int = 0
) -> Html:
    """A page for a logged-in user: the navigation, a log-out button, flash messages."""
    links = [
        h("a", {"href": href, "aria-current": "page" if key == active else None}, label)
        for key, href, label in NAV
    ]
    logout = post_form("/console/logout", csrf, h("button", {"type": "submit"}, "Log out"))
    header = h(
        "header",
        {"class": "top"},
        h("a", {"class": "brand", "href": "/console/"}, "sr2fhir"),
        h("nav", None, links),
        logout,
    )
    notes = [h("p", {"class": "flash", "role": "status"}, text) for text in messages]
    main = h("main", None, notes, h("h1", None, title), *content)
    return document(title, header, main, refresh=refresh)


def post_form(action: str, csrf: str, *fields: object, css: str | None = None) -> Html:
    """A POST form carrying the session's CSRF token."""
    token = h("input", {"type": "hidden", "name": "csrf", "value": csrf})
    return h("form", {"method": "post", "action": action, "class": css}, token, *fields)


def table(headings: Sequence[str | Html], rows: list[Html], css: str = "grid") -> Html:
    """A table that scrolls sideways inside its own box on a narrow screen, not the page."""
    head = h("thead", None, h("tr", None, [h("th", {"scope": "col"}, t) for t in headings]))
    return h(
        "div", {"class": "table-wrap"}, h("table", {"class": css}, head, h("tbody", None, rows))
    )
