"""What only the PostgreSQL back end has: leases renewed by the node and taken over when they
run out, one LOCKED version per instance even for claims at the same moment, the schema's
version, the password's sources, and a sqlite path that never loads the driver."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.config import load_config
from sr2fhir.config.preflight import preflight
from sr2fhir.errors import ConfigError, DiskFullError, LeaseLostError, SpoolError
from sr2fhir.spool import JobStatus, Spool, SpoolRole, open_configured_spool
from sr2fhir.spool.pg_schema import SCHEMA_VERSION as PG_VERSION
from sr2fhir.spool.sqlite_jobs import SCHEMA_VERSION as SQLITE_VERSION
from tests.support.postgres import fresh_database, spool_config, spool_env, write_config
from tests.support.sr.part10 import tiny_sr_bytes as part10
from tests.support.sr.part10 import tiny_sr_info as info


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def pg_spool(tmp_path: Path, url: str, **env: str) -> Spool:
    return open_configured_spool(
        spool_config(tmp_path / "data", "postgresql", url, **env), SpoolRole.READER
    )


def run_sql(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[call-overload]


# ---------------------------------------------------------------- leases


def test_a_lease_is_renewed_by_its_node_and_taken_over_once_it_runs_out(
    tmp_path: Path, database: str
) -> None:
    spool = pg_spool(tmp_path, database, SR2FHIR_SPOOL_LEASE_TIMEOUT="0.3")
    try:
        job_id = spool.receive(part10("30.1"), info("30.1"))
        held = spool.claim("alive:1/w0.1")
        assert held is not None
        run_sql(database, "SELECT pg_sleep(0.5)")
        assert spool.tend_leases("alive:1/") == 0  # renewed in time: its node lives
        assert spool.tend_leases("other:2/") == 0  # ... and is not another node's to take
        assert spool.supersede_if_newer(held) is None  # still held: may deliver
        run_sql(database, "SELECT pg_sleep(0.5)")  # no heartbeat now: its node died
        assert spool.tend_leases("other:2/") == 1
        again = spool.get(job_id)
        assert again is not None and again.status is JobStatus.READY and again.locked_by is None
        with pytest.raises(LeaseLostError):  # the dead worker, back: it must not deliver
            spool.supersede_if_newer(held)
        taken = spool.claim("other:2/w0.1")
        assert taken is not None and taken.id == job_id and taken.attempts == 2
    finally:
        spool.close()


def test_a_job_held_longer_than_workers_lease_is_no_longer_renewed(
    tmp_path: Path, database: str
) -> None:
    spool = pg_spool(
        tmp_path, database, SR2FHIR_SPOOL_LEASE_TIMEOUT="0.3", SR2FHIR_WORKERS_LEASE="0.2"
    )
    try:
        spool.receive(part10("31.1"), info("31.1"))
        assert spool.claim("stuck:1/w0.1") is not None
        run_sql(database, "SELECT pg_sleep(0.5)")
        assert spool.tend_leases("stuck:1/") == 1  # its own node lets it go: a stuck worker
    finally:
        spool.close()


def test_start_up_recovery_releases_only_leases_that_ran_out(tmp_path: Path, database: str) -> None:
    spool = pg_spool(tmp_path, database, SR2FHIR_SPOOL_LEASE_TIMEOUT="60")
    try:
        spool.receive(part10("32.1"), info("32.1"))
        assert spool.claim("busy:1/w0.1") is not None  # another node, working on it
        assert spool.recover().released == 0
        assert spool.holders() == {"busy:1": 1}
    finally:
        spool.close()


def test_claims_at_the_same_moment_never_lock_two_versions_of_one_instance(
    tmp_path: Path, database: str
) -> None:
    """Two READY versions of each of ten instances (an old one given up and retried, and a
    new one); eight nodes claim at once: never two LOCKED versions of one instance."""
    spool = pg_spool(tmp_path, database)
    try:
        for n in range(10):
            uid = f"33.{n}"
            spool.receive(part10(uid, text="v1"), info(uid))
            first = spool.claim("setup:1/w")
            assert first is not None
            spool.give_up(first, "outage")
            spool.receive(part10(uid, text="v2"), info(uid))
            assert spool.retry(first.id)
        claimed: list[str] = []
        start = threading.Barrier(8)

        def claim(node: int) -> None:
            start.wait()
            while (job := spool.claim(f"node{node}:{node}/w0.1")) is not None:
                claimed.append(job.sop_instance_uid)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(claimed) == sorted(f"33.{n}" for n in range(10))  # one version each
        assert sum(spool.holders().values()) == 10
    finally:
        spool.close()


# ---------------------------------------------------------------- schema versions


def test_serve_refuses_a_database_without_the_schema_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database(upgrade=False) as url:
        config = spool_config(tmp_path / "data", "postgresql", url)
        path = write_config(tmp_path / "sr2fhir.yaml", config)
        assert main(["serve", "--config", str(path), "--port", "0"]) == 1
        err = capsys.readouterr().err
        assert err.splitlines()[-1] == (
            "sr2fhir serve: cannot start: the job database has no sr2fhir schema (version 0);"
            f" this sr2fhir needs version {PG_VERSION}: run `sr2fhir db upgrade`"
        )
        assert "Traceback" not in err
        assert main(["db", "--config", str(path), "status"]) == 1
        assert f"schema version 0, this sr2fhir needs {PG_VERSION}" in capsys.readouterr().out
        assert main(["db", "--config", str(path), "upgrade"]) == 0
        assert f"schema upgraded from version 0 to {PG_VERSION}" in capsys.readouterr().out
        assert main(["db", "--config", str(path), "upgrade"]) == 0
        assert f"schema version {PG_VERSION}, up to date" in capsys.readouterr().out
        assert main(["db", "--config", str(path), "status"]) == 0


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path, database: str) -> None:
    run_sql(database, "UPDATE sr2fhir_schema SET version = 7")
    config = spool_config(tmp_path / "data", "postgresql", database)
    with pytest.raises(SpoolError) as refused:
        open_configured_spool(config, SpoolRole.GATEWAY)
    assert str(refused.value) == (
        f"the job database's schema is version 7, newer than this sr2fhir knows ({PG_VERSION}): "
        "run a newer sr2fhir"
    )


def test_db_commands_report_the_sqlite_job_table_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    assert main(["db", "--data-dir", data, "status"]) == 1
    assert main(["db", "--data-dir", data, "upgrade"]) == 0
    assert f"schema upgraded from version 0 to {SQLITE_VERSION}" in capsys.readouterr().out
    assert main(["db", "--data-dir", data, "status"]) == 0


def test_a_newer_sqlite_job_table_is_refused(tmp_path: Path) -> None:
    import sqlite3

    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "jobs.sqlite3") as db:
        db.execute("PRAGMA user_version = 9")
    config = load_config(env={"SR2FHIR_SPOOL_DATA_DIR": str(tmp_path / "data")})
    knows = rf"is version 9, newer than this sr2fhir knows \({SQLITE_VERSION}\)"
    with pytest.raises(SpoolError, match=knows):
        open_configured_spool(config, SpoolRole.READER)


# ---------------------------------------------------------------- configuration and errors


def test_a_password_in_the_url_is_refused_without_showing_it() -> None:
    env = spool_env("postgresql", "postgresql://gw:s3cret@db:5432/sr2fhir")
    with pytest.raises(ConfigError) as refused:
        load_config(env=env)
    message = str(refused.value)
    assert "spool.database_url: must not hold a password" in message
    assert "s3cret" not in message


def test_postgresql_needs_a_url_and_one_password_source() -> None:
    with pytest.raises(ConfigError, match=r"spool.backend is postgresql but spool.database_url"):
        load_config(env={"SR2FHIR_SPOOL_BACKEND": "postgresql"})
    both = {
        **spool_env("postgresql", "postgresql://gw@db/sr2fhir"),
        "SR2FHIR_SPOOL_DATABASE_PASSWORD_ENV": "PW",
        "SR2FHIR_SPOOL_DATABASE_PASSWORD_FILE": "/run/secrets/pw",
    }
    with pytest.raises(ConfigError, match="both set: keep one"):
        load_config(env=both)


def test_preflight_names_the_key_of_an_unreachable_database_or_a_missing_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.processes import free_port

    url = f"postgresql://gw@127.0.0.1:{free_port()}/sr2fhir"
    config = spool_config(tmp_path / "data", "postgresql", url)
    with pytest.raises(
        ConfigError, match=r"spool.database_url: cannot connect to the job database"
    ):
        preflight(config)
    monkeypatch.delenv("SR2FHIR_TEST_PW", raising=False)
    config = spool_config(
        tmp_path / "data", "postgresql", url, SR2FHIR_SPOOL_DATABASE_PASSWORD_ENV="SR2FHIR_TEST_PW"
    )
    with pytest.raises(
        ConfigError,
        match=r"spool.database_password_env: the environment variable SR2FHIR_TEST_PW is not set",
    ):
        preflight(config)


def test_the_password_file_is_used_and_never_shown(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("not-needed-with-trust-but-sent\n")
    config = spool_config(
        tmp_path / "data", "postgresql", database, SR2FHIR_SPOOL_DATABASE_PASSWORD_FILE=str(secret)
    )
    spool = open_configured_spool(config, SpoolRole.READER)
    spool.close()
    path = tmp_path / "sr2fhir.yaml"
    path.write_text(
        write_config(path, config).read_text() + f"  database_password_file: {secret}\n"
    )
    assert main(["check-config", "--config", str(path)]) == 0
    assert "not-needed" not in capsys.readouterr().out


def test_a_full_database_disk_is_a_disk_full_error() -> None:
    import psycopg

    from sr2fhir.spool.pg_connect import spool_error

    error = spool_error("cannot store the instance", psycopg.errors.DiskFull("could not extend"))
    assert isinstance(error, DiskFullError)
    assert str(error) == "cannot store the instance: could not extend"


def test_the_sqlite_path_never_loads_the_postgresql_driver(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "import sr2fhir.cli\n"
        "from sr2fhir.config import load_config\n"
        "from sr2fhir.daemon import Gateway\n"
        "from sr2fhir.spool import SpoolRole, open_configured_spool\n"
        f"config = load_config(env={{'SR2FHIR_SPOOL_DATA_DIR': {str(tmp_path)!r}}})\n"
        "open_configured_spool(config, SpoolRole.GATEWAY).close()\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_receive_that_cannot_commit_stores_nothing(tmp_path: Path, database: str) -> None:
    """A failed commit is a SpoolError (0xA700) and leaves neither row nor bytes."""
    spool = pg_spool(tmp_path, database)
    try:
        run_sql(
            database, "ALTER TABLE sr2fhir_job_data ADD CONSTRAINT small CHECK (length(data) < 100)"
        )
        with pytest.raises(SpoolError, match=r"cannot store the instance: .*small"):
            spool.receive(part10("34.1"), info("34.1"))
        assert spool.counts()[JobStatus.READY] == 0
        assert spool.sizes()["files"].files == 0
    finally:
        spool.close()
