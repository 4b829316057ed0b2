"""A FHIR server that answers what the test tells it to (HAPI never answers a transaction
with a JSON string: this one does). http on 127.0.0.1, port 0, threads; records requests.

Searches get an empty searchset Bundle; each POST (a transaction) gets the next scripted
answer, or a correct transaction-response when none is left.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMPTY_SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/fhir+json"


@dataclass
class StubFhir:
    base: str = ""
    scripted: list[Answer] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    searches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, status: int, body: bytes | str) -> None:
        raw = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.scripted.append(Answer(status, raw))

    def post(self, body: bytes) -> Answer:
        bundle = json.loads(body)
        with self.lock:
            self.transactions.append(bundle)
            if self.scripted:
                return self.scripted.pop(0)
        entries = [{"response": {"status": "200 OK"}} for _ in bundle.get("entry", [])]
        response = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        return Answer(200, json.dumps(response).encode())

    def search(self) -> Answer:
        with self.lock:
            self.searches += 1
        return Answer(200, json.dumps(EMPTY_SEARCHSET).encode())

    @property
    def posts(self) -> int:
        with self.lock:
            return len(self.transactions)


def _handler(stub: StubFhir) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(stub.search())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._send(stub.post(self.rfile.read(length)))

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on what was recorded."""

    return Handler


@contextmanager
def serving(server: ThreadingHTTPServer, name: str) -> Iterator[int]:
    """`server` answering in a thread while the block runs; yields its port."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def running_stub_fhir() -> Iterator[StubFhir]:
    stub = StubFhir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    with serving(server, "stub-fhir") as port:
        stub.base = f"http://127.0.0.1:{port}/fhir"
        yield stub
