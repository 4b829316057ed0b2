"""Console login: the API token (http.api_token_file / http.api_token_env) checked in
constant time, then a session cookie (HttpOnly, SameSite=Strict, Secure over TLS) with its
own CSRF token that every POST must carry.

Sessions live in the gateway's memory: a restart logs everyone out, and a session ends when
the token it was opened with is no longer the configured one (a changed token file).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sr2fhir.config import HttpConfig

COOKIE = "sr2fhir_console"
LOGIN_COOKIE = "sr2fhir_console_login"  # the login form's CSRF token (double submit)
COOKIE_PATH = "/console"
SESSION_IDLE = 8 * 3600.0  # seconds without a request before a session ends
MAX_SESSIONS = 1000  # the oldest go first


def read_api_token(http: HttpConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The configured token (the file wins over the variable), or None when none is set,
    the file cannot be read, or it is empty."""
    if http.api_token_file:
        try:
            with open(http.api_token_file, encoding="utf-8") as handle:
                token = handle.readline().strip()
        except OSError:
            return None
        return token or None
    if http.api_token_env:
        token = (os.environ if env is None else env).get(http.api_token_env, "").strip()
        return token or None
    return None


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(slots=True)
class Session:
    csrf: str
    token_fingerprint: str
    last_seen: float
    flash: list[str] = field(default_factory=list)  # messages for the next page


class Sessions:
    """Open sessions by cookie value; thread-safe (one thread per request)."""

    def __init__(
        self, token: Callable[[], str | None], clock: Callable[[], float] = time.time
    ) -> None:
        self._token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, Session] = {}

    def login(self, given: str) -> str | None:
        """A new session id when `given` is the configured token, else None."""
        token = self._token()
        if token is None or not same(given.strip(), token):
            return None
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._open) >= MAX_SESSIONS:
                oldest = min(self._open, key=lambda sid: self._open[sid].last_seen)
                del self._open[oldest]
            self._open[session_id] = Session(
                secrets.token_urlsafe(32), fingerprint(token), self._clock()
            )
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        """The open session of this cookie value, its idle time reset; None when unknown,
        idle too long, or opened with a token that is no longer the configured one."""
        if not session_id:
            return None
        token = self._token()
        now = self._clock()
        with self._lock:
            session = self._open.get(session_id)
            if session is None:
                return None
            stale = now - session.last_seen > SESSION_IDLE
            if stale or token is None or not same(session.token_fingerprint, fingerprint(token)):
                del self._open[session_id]
                return None
            session.last_seen = now
            return session

    def logout(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    """A Set-Cookie value for the console's path: HttpOnly, SameSite=Strict, Secure over TLS."""
    parts = [f"{name}={value}", f"Path={COOKIE_PATH}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
