"""The one place a spool back end is chosen (spool.backend) and opened for a role.

The PostgreSQL modules (and psycopg) are imported only when spool.backend is postgresql.
"""

from __future__ import annotations

from sr2fhir.config.schema import Config, SpoolBackend
from sr2fhir.spool.model import Spool, SpoolRole
from sr2fhir.spool.spool import DB_NAME, open_spool
from sr2fhir.spool.sqlite_jobs import SCHEMA_VERSION, SqliteJobStore, table_version


def open_configured_spool(config: Config, role: SpoolRole) -> Spool:
    """The configured back end, opened for `role`; SpoolError when it cannot be used."""
    spool = config.spool
    if spool.backend is SpoolBackend.POSTGRESQL:
        from sr2fhir.spool.pg_open import open_postgres_spool

        return open_postgres_spool(config, role)
    return open_spool(
        spool.path,
        spool.db_timeout,
        exclusive=role is SpoolRole.GATEWAY,
        durable=role is not SpoolRole.WORKER,
        min_free_bytes=spool.min_free_bytes,
        lease=config.workers.lease,
    )


def missing_spool(config: Config) -> str | None:
    """Why there is no spool to read where the configuration points (a reader must not make
    one), or None. postgresql: the database is the spool (check_database says if it answers)."""
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        return None
    path = config.spool.path
    if not path.is_dir():
        return f"no data folder at {path}"
    if not (path / DB_NAME).is_file():
        return f"{path} is not a gateway's data folder (it holds no {DB_NAME})"
    return None


def check_database(config: Config) -> None:
    """postgresql: the database answers (a SpoolError says why not; ConfigError for the
    password keys). Nothing to check for sqlite: the data folder is checked as a folder."""
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        from sr2fhir.spool.pg_open import probe_database

        probe_database(config.spool)


def database_versions(config: Config) -> tuple[int, int]:
    """(the job database's schema version, the version this sr2fhir needs)."""
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        from sr2fhir.spool.pg_open import database_versions as postgres_versions

        return postgres_versions(config.spool)
    return table_version(config.spool.path / DB_NAME), SCHEMA_VERSION


def upgrade_database(config: Config) -> tuple[int, int]:
    """Create the job database's schema or upgrade it; (version before, after)."""
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        from sr2fhir.spool.pg_open import upgrade_database as upgrade_postgres

        return upgrade_postgres(config.spool)
    path = config.spool.path / DB_NAME
    before = table_version(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    SqliteJobStore(path, timeout=config.spool.db_timeout).close()  # opening upgrades
    return before, SCHEMA_VERSION
