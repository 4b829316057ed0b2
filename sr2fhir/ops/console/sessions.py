"""Console login: the API token (http.api_token_file / http.api_token_env, read at start
like the queue API's) checked in constant time, then a session cookie (HttpOnly,
SameSite=Strict, Secure over TLS) with its own CSRF token that every POST must carry.

Sessions live in the gateway's memory: a restart (which also takes a new token) logs
everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "sr2fhir_console"
LOGIN_COOKIE = "sr2fhir_console_login"  # the login form's CSRF token (double submit)
COOKIE_PATH = "/console"
SESSION_IDLE = 8 * 3600.0  # seconds without a request before a session ends
MAX_SESSIONS = 1000  # the oldest go first


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(slots=True)
class Session:
    """One logged-in browser (mutable: its last request and its messages change)."""

    csrf: str
    last_seen: float
    flash: list[str] = field(default_factory=list)  # messages for the next page


class Sessions:
    """Open sessions by cookie value; thread-safe (one thread per request)."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self._token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, Session] = {}

    def login(self, given: str) -> str | None:
        """A new session id when `given` is the configured token, else None."""
        if not self._token or not same(given.strip(), self._token):
            return None
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._open) >= MAX_SESSIONS:
                oldest = min(self._open, key=lambda sid: self._open[sid].last_seen)
                del self._open[oldest]
            self._open[session_id] = Session(secrets.token_urlsafe(32), self._clock())
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        """The open session of this cookie value, its idle time reset; None when unknown or
        idle too long."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._open.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > SESSION_IDLE:
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
