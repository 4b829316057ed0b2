"""The web console over plain HTTP (no browser): a client with its own cookie jar that logs in
with the API token and posts forms with the page's CSRF token."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.serve import GatewayProcess

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    url: str
    body: str
    headers: dict[str, str]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class ConsoleClient:
    """`follow=False`: a redirect is an Answer (3xx), not followed."""

    port: int
    follow: bool = True
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def _opener(self) -> urllib.request.OpenerDirector:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not self.follow:
            handlers.append(_NoRedirect())
        return urllib.request.build_opener(*handlers)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> Answer:
        return self._open(urllib.request.Request(self.url(path)))

    def post(self, path: str, fields: dict[str, str | list[str]], **headers: str) -> Answer:
        """POST a form; `headers` by their HTTP names with _ for - (`Origin=`,
        `X_Forwarded_Proto=`)."""
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        request = urllib.request.Request(self.url(path), data=body, method="POST")
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        return self._open(request)

    def _open(self, request: urllib.request.Request) -> Answer:
        try:
            with self._opener().open(request, timeout=30) as answer:
                body = answer.read().decode()
                return Answer(answer.status, answer.url, body, dict(answer.headers))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.url or "", exc.read().decode(), dict(exc.headers))

    def csrf(self, path: str = "/console/") -> str:
        """The CSRF token of the form on `path` (the login page's when logged out)."""
        match = CSRF.search(self.get(path).body)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, token: str) -> Answer:
        csrf = self.csrf("/console/login")
        return self.post("/console/login", {"csrf": csrf, "token": token, "next": "/console/"})


OPS_LISTENING = r"operations endpoint on http://[^:]+:(\d+) \([^)]*/console\)"


def console_env(folder: Path, token: str = "browser-test-token") -> dict[str, str]:
    """SR2FHIR_* for a gateway subprocess with the console on, its API token in a file."""
    token_file = folder / "api-token"
    token_file.write_text(token + "\n")
    return {
        "SR2FHIR_HTTP_PORT": "0",
        "SR2FHIR_HTTP_CONSOLE": "true",
        "SR2FHIR_HTTP_API_TOKEN_FILE": str(token_file),
    }


def console_port(gateway: GatewayProcess) -> int:
    """The operations port the gateway logged at start (http.port 0 = any free port)."""
    return int(gateway.wait_for_log(OPS_LISTENING).group(1))
