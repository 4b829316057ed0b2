"""The console's view of HTTP: a parsed Request in, a Response out (the server in
sr2fhir.ops.http does the socket side), and the answers every page shares."""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote

from sr2fhir.ops.console.markup import Html

HTML = "text/html; charset=utf-8"
# Every asset comes from the gateway itself (no CDN: hospital networks have no internet);
# no inline script or style, so an injected tag could not run.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on a form
    # POST, which the Origin check must refuse; a URL (a search may hold a Patient ID) still
    # never leaves for another site.
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    cookies: dict[str, str]
    tls: bool  # over TLS, or behind a proxy that says so (X-Forwarded-Proto: https)
    same_origin: bool  # no Origin header, or one naming this host

    def arg(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or [default])[0].strip()

    def field(self, name: str) -> str:
        return (self.form.get(name) or [""])[0]

    @property
    def target(self) -> str:
        """Path and query, for a redirect back after login."""
        if not self.query:
            return self.path
        pairs = "&".join(f"{quote(k)}={quote(v)}" for k, vs in self.query.items() for v in vs)
        return f"{self.path}?{pairs}"


def parse_request(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    tls: bool,
) -> Request:
    """`headers`: names lower-cased. The body is read as a urlencoded form."""
    path, _, query = raw_path.partition("?")
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    cookies: dict[str, str] = {}
    try:
        jar = SimpleCookie(headers.get("cookie", ""))
        cookies = {name: morsel.value for name, morsel in jar.items()}
    except CookieError:
        pass
    origin = headers.get("origin")
    host = headers.get("host", "")
    fetch_site = headers.get("sec-fetch-site", "same-origin")
    same_origin = (origin is None or origin.split("://", 1)[-1] == host) and fetch_site in (
        "same-origin",
        "none",
    )
    forwarded_tls = headers.get("x-forwarded-proto", "").lower() == "https"
    return Request(method, path, parse_qs(query), form, cookies, tls or forwarded_tls, same_origin)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


def html_page(
    markup: Html, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return Response(status, ("<!doctype html>\n" + markup).encode("utf-8"), HTML, headers)


def redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """303 See Other: after a POST, the browser GETs the page (no form re-sent on reload)."""
    return Response(303, b"", "text/plain", (("Location", location), *headers))


def plain(status: int, text: str) -> Response:
    return Response(status, (text + "\n").encode("utf-8"), "text/plain; charset=utf-8")
