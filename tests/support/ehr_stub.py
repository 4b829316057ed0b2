"""A stand-in EHR on 127.0.0.1 (port 0) for the auth and TLS tests.

One HTTP(S) server, three roles:
- `/fhir/.well-known/smart-configuration` names the token endpoint;
- `/oauth/token` checks a SMART Backend Services client assertion (signature with the
  registered public key, alg, kid, iss, sub, aud, exp, jti unused) and issues short-lived
  tokens;
- `/fhir/...` demands a token it issued and that has not expired (or a fixed bearer token,
  or basic credentials): 401 otherwise. Authorised requests get a minimal FHIR answer, or,
  with `upstream`, are forwarded there (a token-checking proxy in front of a real server).

The verification here is written from the specs (RFC 7515/7518/7523, SMART Backend
Services), independently of sr2fhir.delivery.fhir.auth.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # SMART: exp no more than five minutes in the future
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StubEhr:
    """See the module docstring. Use as a context manager: it serves until the `with` ends."""

    def __init__(
        self,
        *,
        public_key: PublicKey | None = None,
        client_id: str = "sr2fhir-test-client",
        key_id: str | None = None,
        expires_in: int = 60,
        clock: Callable[[], float] = time.time,
        bearer_tokens: tuple[str, ...] = (),
        basic: tuple[str, str] | None = None,
        upstream: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.public_key = public_key
        self.client_id = client_id
        self.key_id = key_id
        self.expires_in = expires_in
        self.clock = clock
        self.bearer_tokens = set(bearer_tokens)
        self.basic = basic
        self.upstream = upstream.rstrip("/") if upstream else None
        self.token_status: int | None = None  # answer every token request with this status
        self.issued: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self.jtis: set[str] = set()
        self.scopes: list[str] = []
        self.assertion_problems: list[str] = []
        self.fhir_requests: list[tuple[str, str, int]] = []  # method, path, status
        self.authorizations: list[str] = []  # Authorization header of each FHIR request
        self.transactions: list[dict[str, Any]] = []
        self.tls_errors: list[str] = []
        self.lock = threading.Lock()
        self._server = _Server(self, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="stub-ehr"
        )
        scheme = "https" if tls else "http"
        self.root = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base(self) -> str:
        return f"{self.root}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root}/oauth/token"

    @property
    def token_requests(self) -> int:
        return len(self.scopes) + len(self.assertion_problems)

    def revoke_all(self) -> None:
        """Forget every issued token (the server restarted, or the tokens were revoked)."""
        with self.lock:
            self.issued.clear()

    def __enter__(self) -> StubEhr:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()  # joins the handler threads
        self._thread.join()

    # ---------------------------------------------------------------- token endpoint

    def token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if self.token_status is not None:
            return self.token_status, {"error": "temporarily_unavailable"}
        problem = self._assertion_problem(form)
        with self.lock:
            if problem:
                self.assertion_problems.append(problem)
                return 401, {"error": "invalid_client", "error_description": problem}
            scope = form["scope"][0]
            self.scopes.append(scope)
            token = f"at-{secrets.token_hex(12)}"
            self.issued[token] = self.clock() + self.expires_in
        answer = {"access_token": token, "token_type": "bearer", "scope": scope}
        return 200, answer | {"expires_in": self.expires_in}

    def _assertion_problem(self, form: dict[str, list[str]]) -> str | None:
        def one(name: str) -> str:
            return form.get(name, [""])[0]

        if one("grant_type") != "client_credentials":
            return "grant_type is not client_credentials"
        if one("client_assertion_type") != JWT_BEARER:
            return "client_assertion_type is not jwt-bearer"
        if not one("scope"):
            return "no scope"
        parts = one("client_assertion").split(".")
        if len(parts) != 3:
            return "client_assertion is not a compact JWS"
        header, claims = (json.loads(_b64url_decode(p)) for p in parts[:2])
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        problem = self._signature_problem(header.get("alg"), signed, _b64url_decode(parts[2]))
        if problem:
            return problem
        if self.key_id is not None and header.get("kid") != self.key_id:
            return f"kid {header.get('kid')!r} is not {self.key_id!r}"
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "iss and sub must be the client_id"
        if claims.get("aud") != self.token_url:
            return f"aud {claims.get('aud')!r} is not the token endpoint"
        now, exp = self.clock(), claims.get("exp")
        if not isinstance(exp, int) or not now < exp <= now + MAX_ASSERTION_LIFETIME + 1:
            return f"exp {exp!r} is not within five minutes from now ({int(now)})"
        jti = claims.get("jti")
        with self.lock:
            if not isinstance(jti, str) or not jti or jti in self.jtis:
                return "jti missing or used before"
            self.jtis.add(jti)
        return None

    def _signature_problem(self, alg: Any, signed: bytes, signature: bytes) -> str | None:
        key = self.public_key
        try:
            if alg == "RS384" and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA384())
            elif alg == "ES384" and isinstance(key, ec.EllipticCurvePublicKey):
                if len(signature) != 96:  # RFC 7518 3.4: R || S, 48 bytes each, not DER
                    return f"ES384 signature of {len(signature)} bytes, not 96"
                r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
                key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
            else:
                return f"alg {alg!r} does not fit the registered key"
        except InvalidSignature:
            return "bad signature"
        return None

    # ---------------------------------------------------------------- FHIR endpoint

    def authorised(self, header: str) -> bool:
        scheme, _, credential = header.partition(" ")
        with self.lock:
            if scheme.lower() == "bearer":
                expiry = self.issued.get(credential)
                fresh = expiry is not None and self.clock() < expiry
                return fresh or credential in self.bearer_tokens
        if scheme.lower() == "basic" and self.basic is not None:
            return _b64url_decode_std(credential) == ":".join(self.basic)
        return False

    def fhir(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """An authorised FHIR request: forwarded upstream, or answered minimally here."""
        if self.upstream is not None:
            response = requests.request(
                method,
                self.upstream + path,
                data=body or None,
                headers={
                    "Accept": "application/fhir+json",
                    "Content-Type": "application/fhir+json",
                },
                timeout=120,
            )
            return response.status_code, response.json()
        if method == "POST" and path in ("", "/"):
            bundle = json.loads(body)
            with self.lock:
                self.transactions.append(bundle)
            entries = [{"response": {"status": "201 Created"}} for _ in bundle.get("entry", [])]
            return 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        if method == "GET" and path.startswith("/metadata"):
            return 200, {"resourceType": "CapabilityStatement", "status": "active"}
        if method == "GET":
            return 200, {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
        return 405, _outcome("not supported by the stub")

    def smart_configuration(self) -> dict[str, Any]:
        return {
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        }


def _b64url_decode_std(text: str) -> str:
    with suppress(ValueError):
        return base64.b64decode(text, validate=True).decode("utf-8")
    return ""


def _outcome(text: str) -> dict[str, Any]:
    issue = {"severity": "error", "code": "security", "diagnostics": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class _Server(ThreadingHTTPServer):
    """Joins its handler threads on close; TLS per connection, in the handler thread."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, stub: StubEhr, tls: ssl.SSLContext | None) -> None:
        self.stub = stub
        self.tls = tls
        self.open: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.stub.lock:
            self.open.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                with self.stub.lock:
                    self.stub.tls_errors.append(getattr(exc, "reason", None) or repr(exc))
                return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.stub.lock:
            self.open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections so that the handler threads return."""
        with self.stub.lock:
            for conn in self.open:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the gateway's session uses it
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the stub's records instead."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        stub = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/oauth/token" and method == "POST":
            self._send(*stub.token(parse_qs(body.decode("ascii"))))
        elif self.path == "/fhir/.well-known/smart-configuration":
            self._send(200, stub.smart_configuration())
        elif self.path.startswith("/fhir"):
            path = self.path[len("/fhir") :]
            header = self.headers.get("Authorization", "")
            if stub.authorised(header):
                status, answer = stub.fhir(method, path, body)
            else:
                status, answer = 401, _outcome("no valid access token")
            with stub.lock:
                stub.authorizations.append(header)
                stub.fhir_requests.append((method, path.split("?", 1)[0], status))
            self._send(status, answer)
        else:
            self._send(404, _outcome("no such endpoint"))

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
        self.end_headers()
        self.wfile.write(data)
