"""Single-value checks of config keys: each returns why a value is wrong, or None.

Pure functions, named beside the fields they check (schema.py `setting(..., check=...)`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

Check = Callable[[Any], "str | None"]

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # DICOM AE: no backslash, <= 16 chars
_UTC_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")
_HTTP_URL = re.compile(r"^https?://[^/\s]+")


class HasHosts(Protocol):
    @property
    def ae_title(self) -> str: ...

    @property
    def hosts(self) -> tuple[str, ...]: ...


def positive(value: float | None) -> str | None:
    return None if value is not None and value > 0 else "must be greater than 0"


def positive_or_null(value: float | None) -> str | None:
    return None if value is None else positive(value)


def not_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def tcp_port(value: int | None) -> str | None:
    if value is None or 0 <= value <= 65535:  # None: that listener is off
        return None
    return "must be a TCP port 0-65535 (0 = any free port)"


def pdu_size(value: int) -> str | None:
    return None if value == 0 or 4096 <= value <= 2**32 - 1 else "must be 0 or 4096..2^32-1"


def request_size(value: int) -> str | None:
    return None if 4096 <= value <= 2**32 - 1 else "must be 4096..2^32-1"


def nice(value: int) -> str | None:
    return None if 0 <= value <= 19 else "must be 0 (same priority as receiving) to 19"


def utc_offset(value: str) -> str | None:
    return None if _UTC_OFFSET.match(value) else "must look like +01:00 or -05:00"


def http_url(value: str | None) -> str | None:
    if value is None or _HTTP_URL.match(value):
        return None
    return "must be an http:// or https:// URL"


def postgres_url(value: str | None) -> str | None:
    """A libpq URL without a password (that comes from a variable or a file, never the
    config, which is logged). The value itself is never quoted back."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return "must be a postgresql://user@host:port/database URL"
    if parts.scheme not in ("postgresql", "postgres"):
        return "must be a postgresql://user@host:port/database URL"
    if password is not None or "password" in parse_qs(parts.query):
        return (
            "must not hold a password: use spool.database_password_env or "
            "spool.database_password_file"
        )
    return None


def ae_title(value: str) -> str | None:
    ok = _AE_TITLE.match(value) and value.strip()
    return None if ok else "must be 1-16 printable characters, no backslash"


def callers(value: tuple[HasHosts, ...]) -> str | None:
    bad = [c.ae_title for c in value if ae_title(c.ae_title)]
    if bad:
        return f"invalid AE title(s): {bad}"
    for host in (h for caller in value for h in caller.hosts):
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            return f"not an IP address or network: {host!r}"
    return None
