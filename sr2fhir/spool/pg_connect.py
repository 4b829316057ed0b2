"""Connections to the PostgreSQL job database: one pool per process, every driver error a
SpoolError (DiskFullError when the database server's disk is full).

psycopg 3 and psycopg-pool are imported only here and in the modules that use this one, so
the embedded SQLite path never loads them (`pip install 'sr2fhir[postgresql]'`). The
password never comes from the URL (config.checks.postgres_url refuses one there): it is read
from the variable spool.database_password_env names or the file spool.database_password_file
names, or left to libpq (PGPASSWORD, ~/.pgpass). Neither the password nor the URL is logged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from sr2fhir.config.schema import SpoolConfig
from sr2fhir.errors import ConfigError, DiskFullError, SpoolError

Row = tuple[Any, ...]
Connection = psycopg.Connection[Row]
RECONNECT_FOR = 5.0  # seconds of connection retries before a pool starts over
DISK_FULL = "53100"  # SQLSTATE disk_full: the server could not extend a file


class Conflict(SpoolError):
    """Another transaction took what this one wanted (a unique index): try again."""


def read_password(spool: SpoolConfig) -> str | None:
    """The password from spool.database_password_env or _file; None: libpq's own sources."""
    if spool.database_password_env:
        name = spool.database_password_env
        value = os.environ.get(name)
        if not value:
            key = "spool.database_password_env"
            raise ConfigError(f"{key}: the environment variable {name} is not set", key)
        return value
    if spool.database_password_file:
        key, path = "spool.database_password_file", spool.database_password_file
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}", key) from exc
        if not text:
            raise ConfigError(f"{key}: {path} is empty", key)
        return text
    return None


def connection_kwargs(spool: SpoolConfig, name: str, durable: bool) -> dict[str, Any]:
    """libpq parameters beside the URL: timeouts from spool.db_timeout, keepalives so a
    vanished server is noticed, and (`durable=False`) commits that do not wait for the
    server's disk -- for workers, whose lost commit only means a job runs again."""
    millis = int(spool.db_timeout * 1000)
    options = f"-c lock_timeout={millis}"
    if not durable:
        options += " -c synchronous_commit=off"
    kwargs: dict[str, Any] = {
        "application_name": f"sr2fhir {name}",
        "connect_timeout": max(2, math.ceil(spool.db_timeout)),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": max(millis, 1000),
        "options": options,
    }
    password = read_password(spool)
    if password is not None:
        kwargs["password"] = password
    return kwargs


def spool_error(what: str, exc: BaseException) -> SpoolError:
    """A driver error as the SpoolError the SCP answers 0xA700 for; its first line only."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return SpoolError(f"{what}: no connection to the job database: {_first_line(exc)}")
    if isinstance(exc, pg_errors.UniqueViolation):
        return Conflict(f"{what}: {_first_line(exc)}")
    full = isinstance(exc, psycopg.Error) and exc.sqlstate == DISK_FULL
    return (DiskFullError if full else SpoolError)(f"{what}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class Database:
    """A pool of connections to the job database; `transaction()` is one transaction."""

    def __init__(self, spool: SpoolConfig, name: str, size: int, durable: bool) -> None:
        """Connections are made in the background (a database down at start is no error
        here: each transaction waits up to spool.db_timeout for one, then fails)."""
        self.timeout = spool.db_timeout
        self._pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
            spool.database_url or "",
            kwargs=connection_kwargs(spool, name, durable),
            min_size=1,
            max_size=size,
            timeout=spool.db_timeout,
            check=psycopg_pool.ConnectionPool.check_connection,  # drops a restarted
            # server's connections. While the server is away the pool retries with a
            # doubling delay and gives up after reconnect_timeout; the next transaction
            # starts over at once, so a server that is back is found within seconds.
            reconnect_timeout=max(RECONNECT_FOR, spool.db_timeout),
            name=f"sr2fhir-{name}",
            open=False,
        )
        self._pool.open(wait=False)

    @contextmanager
    def transaction(self, what: str = "job database") -> Iterator[Connection]:
        """Commit on leaving, roll back on an error; driver errors become SpoolError."""
        try:
            with self._pool.connection(timeout=self.timeout) as conn:
                yield conn
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise spool_error(what, exc) from exc

    def close(self) -> None:
        self._pool.close(timeout=self.timeout)


def connect_once(spool: SpoolConfig, name: str) -> Connection:
    """One connection outside any pool (preflight, `sr2fhir db`); SpoolError if it fails."""
    try:
        return psycopg.connect(
            spool.database_url or "", **connection_kwargs(spool, name, durable=True)
        )
    except psycopg.Error as exc:
        raise spool_error("cannot connect to the job database", exc) from exc
