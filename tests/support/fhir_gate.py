"""An HTTP proxy in front of a real FHIR server that can spoil transactions: while `spoil`
is set, each transaction Bundle gets an invalid status on its last entry before it is
forwarded, so the real server refuses it with its own OperationOutcome (a permanent 4xx:
the job FAILS); with `spoil` cleared, requests pass unchanged (a retry then delivers)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.fhir_stub import serving

SPOILED_STATUS = "not-a-status"
PASSED_HEADERS = ("Content-Type", "Accept", "Prefer", "Authorization")


@dataclass
class FhirGate:
    target: str  # the real server's base URL
    base: str = ""  # ours: the same path on 127.0.0.1:<port>
    spoil: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    session: requests.Session = field(default_factory=requests.Session)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST" and self.spoil and body:
            bundle = json.loads(body)
            bundle["entry"][-1]["resource"]["status"] = SPOILED_STATUS
            body = json.dumps(bundle).encode()
        target = urlsplit(self.target)
        url = f"{target.scheme}://{target.netloc}{path}"
        return self.session.request(method, url, headers=headers, data=body, timeout=120)


def _handler(gate: FhirGate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._relay(b"")

        def do_POST(self) -> None:
            self._relay(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        def do_PUT(self) -> None:
            self.do_POST()

        def _relay(self, body: bytes) -> None:
            headers = {k: v for k in PASSED_HEADERS if (v := self.headers.get(k)) is not None}
            answer = gate.forward(self.command, self.path, headers, body)
            payload = answer.content
            self.send_response(answer.status_code)
            for name in ("Content-Type", "Location", "Retry-After"):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a probe gave up
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def running_fhir_gate(target: str) -> Iterator[FhirGate]:
    gate = FhirGate(target.rstrip("/"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gate))
    server.daemon_threads = True
    with serving(server, "fhir-gate") as port:
        gate.base = f"http://127.0.0.1:{port}{urlsplit(gate.target).path}"
        yield gate
