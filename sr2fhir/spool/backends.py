"""The one place a spool back end is chosen (spool.backend) and opened for a role.

The PostgreSQL modules (and psycopg) are imported only when spool.backend is postgresql.
"""

from __future__ import annotations

from sr2fhir.config.schema import Config, SpoolBackend
from sr2fhir.spool.model import Spool, SpoolRole
from sr2fhir.spool.spool import open_spool


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


def check_database(config: Config) -> None:
    """postgresql: the database answers (a SpoolError says why not; ConfigError for the
    password keys). Nothing to check for sqlite: the data folder is checked as a folder."""
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        from sr2fhir.spool.pg_open import probe_database

        probe_database(config.spool)
