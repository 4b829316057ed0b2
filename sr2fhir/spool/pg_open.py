"""Opening the PostgreSQL back end: the pool a role needs, the schema version check, and
what `sr2fhir db` and preflight ask of the database."""

from __future__ import annotations

import psycopg

from sr2fhir.config.schema import Config, SpoolConfig
from sr2fhir.errors import SpoolError
from sr2fhir.spool import pg_schema
from sr2fhir.spool.model import SpoolRole
from sr2fhir.spool.pg_connect import Database, connect_once, spool_error
from sr2fhir.spool.postgres import PostgresSpool
from sr2fhir.spool.space import storage_error
from sr2fhir.spool.spool import lock_folder


def open_postgres_spool(config: Config, role: SpoolRole) -> PostgresSpool:
    """`gateway`: a pool of spool.pool_size durable connections, the node's data folder
    locked (its counters and audit trail are its own), the schema checked now. A worker
    (one connection, commits that do not wait for the disk) neither checks nor waits: while
    the database is away its claims fail and it pauses."""
    spool = config.spool
    gateway = role is SpoolRole.GATEWAY
    lock_fd = None
    if gateway:
        try:
            spool.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(f"cannot use data folder {spool.path}", exc) from exc
        lock_fd = lock_folder(spool.path)
    size = spool.pool_size if gateway else 1
    db = Database(spool, role.value, size, durable=role is not SpoolRole.WORKER)
    opened = PostgresSpool(db, spool.lease_timeout, config.workers.lease, lock_fd)
    if role is not SpoolRole.WORKER:
        try:
            with db.transaction("cannot read the schema version") as conn:
                pg_schema.check_schema(conn)
        except SpoolError:
            opened.close()
            raise
    return opened


def probe_database(spool: SpoolConfig) -> None:
    """One connection and one query, now (preflight: `serve`, `check-config`)."""
    with connect_once(spool, "preflight") as conn:
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise spool_error("the job database does not answer", exc) from exc


def database_versions(spool: SpoolConfig) -> tuple[int, int]:
    """(the database's schema version, the version this sr2fhir needs)."""
    with connect_once(spool, "db") as conn:
        try:
            return pg_schema.schema_version(conn), pg_schema.SCHEMA_VERSION
        except psycopg.Error as exc:
            raise spool_error("cannot read the schema version", exc) from exc


def upgrade_database(spool: SpoolConfig) -> tuple[int, int]:
    """Create or upgrade the schema in one transaction; (version before, after)."""
    with connect_once(spool, "db upgrade") as conn:
        try:
            with conn.transaction():
                return pg_schema.upgrade(conn)
        except SpoolError:
            raise
        except psycopg.Error as exc:
            raise spool_error("cannot upgrade the schema", exc) from exc
