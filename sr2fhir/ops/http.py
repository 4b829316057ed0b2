"""The operations endpoint: a stdlib HTTP server in a thread with /healthz, /readyz, /metrics
and, when http.console is on, the web console under /console (sr2fhir.ops.console).

/healthz, /readyz and /metrics: GET, no authentication: it binds to loopback by default
(`http.host`). Answers are computed per request; a slow check never blocks another request
(one thread per request).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from sr2fhir.config import HttpConfig
from sr2fhir.ops.console.app import PREFIX, Console
from sr2fhir.ops.console.web import MAX_FORM_BYTES, SECURITY_HEADERS, Response, parse_request
from sr2fhir.ops.health import Check
from sr2fhir.ops.prometheus import CONTENT_TYPE

log = logging.getLogger(__name__)


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

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        source = self.server.source
        try:
            if self._is_console(path):
                self._console("GET", b"")
            elif path == "/healthz":
                ok = source.alive()
                self._json(200 if ok else 503, {"status": "alive" if ok else "stopping"})
            elif path == "/readyz":
                self._json(*readiness_body(source.readiness()))
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE, source.metrics().encode("utf-8"))
            else:
                self._json(
                    404, {"error": "not found", "paths": ["/healthz", "/readyz", "/metrics"]}
                )
        except Exception as exc:  # an answer, not a dropped connection; details in the log
            log.warning("GET %s failed: %s", path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self._json(500, {"error": type(exc).__name__})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._is_console(path):
            self._json(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FORM_BYTES:
            self.close_connection = True
            self._json(413, {"error": "form too large"})
            return
        try:
            self._console("POST", self.rfile.read(length))
        except Exception as exc:  # an answer, not a dropped connection; details in the log
            log.warning("POST %s failed: %s", path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self._json(500, {"error": type(exc).__name__})

    def _is_console(self, path: str) -> bool:
        console = self.server.console
        return console is not None and (path == PREFIX or path.startswith(PREFIX + "/"))

    def _console(self, method: str, body: bytes) -> None:
        console = self.server.console
        assert console is not None
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = parse_request(method, self.path, headers, body, tls=False)
        self._answer(console.handle(request))

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

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body, indent=1).encode("utf-8"))

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Without the query string: a console search may hold a Patient ID (PHI)."""
        path = self.path.split("?", 1)[0]
        log.debug("%s %s %s %s", self.address_string(), self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    source: OpsSource
    console: Console | None = None


class _Server6(_Server):
    address_family = socket.AF_INET6


class OpsServer:
    """Binds in start() (an OSError if the port is taken), serves in a daemon thread."""

    def __init__(
        self, host: str, port: int, source: OpsSource, console: Console | None = None
    ) -> None:
        self.host = host
        self.requested_port = port
        self.source = source
        self.console = console
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.requested_port), _Handler)
        server.source = self.source
        server.console = self.console
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sr2fhir-http"
        )
        self._thread.daemon = True
        self._thread.start()
        paths = "/healthz /readyz /metrics" + (" /console" if self.console else "")
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
    config: HttpConfig, source: OpsSource, console: Console | None = None
) -> OpsServer | None:
    """The endpoint as configured, or None (disabled, or its port is taken: the gateway still
    receives; the error is logged, and /readyz probes failing to connect show it)."""
    if not config.enabled:
        return None
    server = OpsServer(config.host, config.port, source, console)
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
