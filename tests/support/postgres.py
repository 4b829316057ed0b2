"""The throw-away PostgreSQL cluster of tests/postgres/run.sh, one fresh database per test,
and spool configurations for both back ends (the spool tests run against each)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sr2fhir.config import Config, load_config
from sr2fhir.spool import Spool, SpoolRole, open_configured_spool
from tests.support.paths import REPO

ENV = "SR2FHIR_TEST_POSTGRES_URL"
RUN_SH = REPO / "tests" / "postgres" / "run.sh"
BACKENDS = ("sqlite", "postgresql")


def cluster_url() -> str:
    """The cluster's admin URL; skip without one (fail in CI, where .ci/run starts it)."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        message = (
            f"{ENV} is not set: start a cluster with `tests/postgres/run.sh start` and run "
            f"the tests with {ENV}=$(tests/postgres/run.sh url)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def database_url(base: str, name: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + name


@contextmanager
def fresh_database(upgrade: bool = True) -> Iterator[str]:
    """A new database in the cluster (schema created by `upgrade`), dropped afterwards."""
    import psycopg

    base = cluster_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = database_url(base, name)
    try:
        if upgrade:
            from sr2fhir.spool.pg_open import upgrade_database

            upgrade_database(spool_config(Path("."), "postgresql", url).spool)
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def spool_env(backend: str, url: str | None) -> dict[str, str]:
    """SR2FHIR_SPOOL_* variables selecting `backend` (for a gateway subprocess or the CLI)."""
    env = {"SR2FHIR_SPOOL_BACKEND": backend}
    if url is not None:
        env["SR2FHIR_SPOOL_DATABASE_URL"] = url
    return env


def spool_config(data_dir: Path, backend: str, url: str | None, **env: str) -> Config:
    """A Config whose spool is `backend` (data folder `data_dir`); more keys as variables."""
    variables = {"SR2FHIR_SPOOL_DATA_DIR": str(data_dir), **spool_env(backend, url), **env}
    return load_config(env=variables)


def write_config(path: Path, config: Config) -> Path:
    """The spool keys of `config` as a YAML file, for `sr2fhir ... --config FILE`."""
    spool = config.spool
    lines = ["spool:", f"  backend: {spool.backend.value}", f"  data_dir: {spool.data_dir}"]
    if spool.database_url:
        lines.append(f"  database_url: {spool.database_url}")
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def backend_config(backend: str, data_dir: Path) -> Iterator[Config]:
    """A Config for `backend` with its own database (postgresql) or data folder (sqlite)."""
    if backend == "sqlite":
        yield spool_config(data_dir, backend, None)
        return
    with fresh_database() as url:
        yield spool_config(data_dir, backend, url)


def open_for(config: Config, role: SpoolRole = SpoolRole.GATEWAY) -> Spool:
    return open_configured_spool(config, role)


def set_times(config: Config, job_id: int, received_at: float, updated_at: float) -> None:
    """A job as if received and last updated (delivered, when DONE) at these epoch times."""
    sql = "UPDATE {} SET received_at = {m}, updated_at = {m} WHERE id = {m}"
    values = (received_at, updated_at, job_id)
    if config.spool.database_url is None:
        with sqlite3.connect(config.spool.path / "jobs.sqlite3") as db:
            db.execute(sql.format("jobs", m="?"), values)
        return
    import psycopg

    with psycopg.connect(config.spool.database_url, autocommit=True) as db:
        db.execute(sql.format("sr2fhir_jobs", m="%s"), values)


def make_due(config: Config, job_id: int) -> None:
    """Time passes for a job waiting for its retry: it is due now."""
    if config.spool.database_url is None:
        with sqlite3.connect(config.spool.path / "jobs.sqlite3") as db:
            db.execute("UPDATE jobs SET next_attempt_at = 0 WHERE id = ?", (job_id,))
        return
    import psycopg

    with psycopg.connect(config.spool.database_url, autocommit=True) as db:
        db.execute("UPDATE sr2fhir_jobs SET next_attempt_at = 0 WHERE id = %s", (job_id,))
