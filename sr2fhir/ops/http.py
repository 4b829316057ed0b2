"""The operations endpoint: a stdlib HTTP server in a thread with /healthz, /readyz, /metrics
and, when a token is configured, the queue API under /api (sr2fhir.ops.api_routes) and, with
http.console on too, the web console under /console (sr2fhir.ops.console).

It binds to loopback by default (`http.host`). /healthz, /readyz and /metrics are GET without
authentication; every /api request needs `Authorization: Bearer <token>` (compared in constant
time), and without a configured token /api answers 404 as any unknown path. Request bodies
are capped (MAX_BODY). Answers are computed per request; a slow check never blocks another
request (one thread per request).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from sr2fhir.config import HttpConfig
from sr2fhir.errors import ConfigError
from sr2fhir.ops.api_routes import ApiRequest, handle
from sr2fhir.ops.console.app import PREFIX, Console
from sr2fhir.ops.console.web import SECURITY_HEADERS, Response, parse_request
from sr2fhir.ops.health import Check
from sr2fhir.ops.prometheus import CONTENT_TYPE
from sr2fhir.ops.queue_api import QueueApi

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes of a request body (a bulk request of 1000 ids is ~10 kB)
OPS_PATHS = ["/healthz", "/readyz", "/metrics"]


def read_api_token(config: HttpConfig) -> str | None:
    """The queue API's token (http.api_token_file wins over http.api_token_env); None when
    neither is set (the API is off); ConfigError naming the key when it cannot be read."""
    if config.api_token_file:
        key, path = "http.api_token_file", config.api_token_file
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(f"{key}: cannot read {path}: {why}", key) from exc
        if not token:
            raise ConfigError(f"{key}: {path} is empty", key)
        return token
    if config.api_token_env:
        key, name = "http.api_token_env", config.api_token_env
        token = os.environ.get(name, "").strip()
        if not token:
            raise ConfigError(f"{key}: the environment variable {name} is not set", key)
        return token
    return None


class OpsSource(Protocol):
    """What the endpoint reports on (the running gateway)."""

    def alive(self) -> bool: ...

    def readiness(self) -> list[Check]: ...

    def metrics(self) -> str: ...


def readiness_body(checks: list[Check]) -> tuple[int, dict[str, Any]]:
    """200 when every check passed, else 503; the body names each check and what failed."""
    failed = [check.name for check in checks if not check.ok]
    body = {
        "status": "ready" if not failed else "not ready",
        "failed": failed,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    return (503 if failed else 200), body


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if self._is_console(path):
            self._console("POST")
            return
        if not path.startswith("/api/") or self.server.api is None:
            self._discard_body()
            self._not_found()
            return
        self._api("POST", path)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        source = self.server.source
        if (path == "/api" or path.startswith("/api/")) and self.server.api is not None:
            self._api("GET", path)
            return
        if self._is_console(path):
            self._console("GET")
            return
        try:
            if path == "/healthz":
                ok = source.alive()
                self._json(200 if ok else 503, {"status": "alive" if ok else "stopping"})
            elif path == "/readyz":
                self._json(*readiness_body(source.readiness()))
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE, source.metrics().encode("utf-8"))
            else:
                self._not_found()
        except Exception as exc:  # an answer, not a dropped connection; details in the log
            log.warning("GET %s failed: %s", path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self._json(500, {"error": type(exc).__name__})

    def _not_found(self) -> None:
        paths = OPS_PATHS + (["/api/..."] if self.server.api is not None else [])
        paths += [PREFIX + "/"] if self.server.console is not None else []
        self._json(404, {"error": "not found", "paths": paths})

    def _is_console(self, path: str) -> bool:
        return self.server.console is not None and (path == PREFIX or path.startswith(PREFIX + "/"))

    def _console(self, method: str) -> None:
        """One console request: its form body capped, answered by sr2fhir.ops.console."""
        console = self.server.console
        assert console is not None
        body = self._read_body()
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            answer = console.handle(parse_request(method, self.path, headers, body, tls=False))
        except Exception as exc:  # an answer, not a dropped connection; details in the log
            path = urlsplit(self.path).path
            log.warning(
                "%s %s failed: %s", method, path, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )
            answer = Response(500, b"the console failed; see the gateway log\n", "text/plain")
        self._answer(answer)

    def _answer(self, response: Response) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in (*response.headers, *SECURITY_HEADERS):
            self.send_header(name, value)
        if "cache-control" not in names:
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _api(self, method: str, path: str) -> None:
        """One /api request: authenticated, its body capped, answered by api_routes."""
        body = self._read_body()
        if body is None:
            return
        if not self._authenticated():
            self.close_connection = True
            self._json(401, {"error": "missing or wrong bearer token"}, authenticate=True)
            return
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        request = ApiRequest(method, path, query, body, with_phi=True)
        api = self.server.api
        assert api is not None
        try:
            status, answer = handle(api, request)
        except Exception as exc:  # an answer, not a dropped connection; details in the log
            log.warning(
                "%s %s failed: %s", method, path, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )
            status, answer = 500, {"error": type(exc).__name__}
        self._json(status, answer)

    def _authenticated(self) -> bool:
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        expected = self.server.token.encode("utf-8")
        ok = hmac.compare_digest(token.strip().encode("utf-8"), expected)
        return scheme.lower() == "bearer" and ok

    def _read_body(self) -> bytes | None:
        """The request body (b"" without one); None once a 400/413 has been sent."""
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._json(400, {"error": "send the body with a Content-Length, not chunked"})
            return None
        if length_text is None:
            return b""
        if not length_text.isdigit():
            self.close_connection = True
            self._json(400, {"error": "Content-Length is not a number"})
            return None
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read: this connection is done
            self._json(413, {"error": f"request body of {length} bytes, more than {MAX_BODY}"})
            return None
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) <= MAX_BODY:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _json(self, status: int, body: dict[str, Any], authenticate: bool = False) -> None:
        payload = json.dumps(body, indent=1).encode("utf-8")
        self._send(status, "application/json", payload, authenticate)

    def _send(
        self, status: int, content_type: str, payload: bytes, authenticate: bool = False
    ) -> None:
        self.send_response(status)
        if authenticate:
            self.send_header("WWW-Authenticate", 'Bearer realm="sr2fhir"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Without the query string: a search (/api/jobs?q=, /console/jobs?q=) may hold a
        Patient ID (PHI)."""
        path = urlsplit(self.path).path
        log.debug("%s %s %s %s", self.address_string(), self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    source: OpsSource
    api: Callable[[], QueueApi] | None = None  # the queue API, when a token is configured
    token: str = ""
    console: Console | None = None  # the web console, when http.console is on


class _Server6(_Server):
    address_family = socket.AF_INET6


class OpsServer:
    """Binds in start() (an OSError if the port is taken), serves in a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        source: OpsSource,
        api: Callable[[], QueueApi] | None = None,
        token: str | None = None,
        console: Console | None = None,
    ) -> None:
        """`api` and `token`: the queue API is served under /api (both given), else off;
        `console`: the web console under /console, else off."""
        self.host = host
        self.requested_port = port
        self.source = source
        self.api = api if token else None
        self.token = token or ""
        self.console = console
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.requested_port), _Handler)
        server.source = self.source
        server.api, server.token = self.api, self.token
        server.console = self.console
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sr2fhir-http"
        )
        self._thread.daemon = True
        self._thread.start()
        paths = " ".join(OPS_PATHS) + (" /api" if self.api is not None else "")
        paths += f" {PREFIX}" if self.console is not None else ""
        log.info("operations endpoint on http://%s:%d (%s)", self.host, self.port, paths)

    @property
    def port(self) -> int:
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)


def start_ops_server(
    config: HttpConfig,
    source: OpsSource,
    api: Callable[[], QueueApi] | None = None,
    console: Console | None = None,
) -> OpsServer | None:
    """The endpoint as configured, or None (disabled, or its port is taken: the gateway still
    receives; the error is logged, and /readyz probes failing to connect show it). The queue
    API (`api`) is served when http.api_token_file or _env gives a token (checked by
    preflight before start: a ConfigError here too)."""
    if not config.enabled:
        return None
    server = OpsServer(config.host, config.port, source, api, read_api_token(config), console)
    try:
        server.start()
    except OSError as exc:
        log.error(
            "operations endpoint NOT started on %s:%d: %s (set http.port, or http.enabled: false)",
            config.host,
            config.port,
            exc.strerror or exc,
        )
        return None
    return server
