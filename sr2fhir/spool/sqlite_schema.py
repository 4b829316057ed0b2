"""The SQLite job table's schema, versioned by SQLite's user_version: `SCHEMA` is version 1
(older tables without a version gain its later columns), and each later version is one step
of STEPS, applied in one transaction whenever a store opens the database.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    file_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    locked_by TEXT,
    locked_at REAL,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    outcome TEXT,
    size_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_instance ON jobs(sop_instance_uid, status);
"""
# Version 2: each job's attempt history, the warnings and header facts of its last mapping,
# and the indexes the queue API's listing and stats read (one step: see _upgrade).
V2_ATTEMPTS = (
    "ALTER TABLE jobs ADD COLUMN warnings TEXT",
    "ALTER TABLE jobs ADD COLUMN header TEXT",
    """CREATE TABLE job_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL,
        at REAL NOT NULL,
        node TEXT,
        http_status INTEGER,
        error TEXT,
        outcome TEXT,
        locations TEXT
    )""",
    "CREATE INDEX job_attempts_job ON job_attempts(job_id, id)",
    "CREATE INDEX jobs_received ON jobs(received_at)",
    "CREATE INDEX jobs_updated ON jobs(status, updated_at)",
    """CREATE TRIGGER jobs_forget_attempts AFTER DELETE ON jobs
       BEGIN DELETE FROM job_attempts WHERE job_id = OLD.id; END""",
)
STEPS: tuple[tuple[str, ...], ...] = (V2_ATTEMPTS,)  # STEPS[n - 2]: version n - 1 -> n
SCHEMA_VERSION = 1 + len(STEPS)  # PRAGMA user_version of a job table this code knows

_ADDED_COLUMNS = {  # columns newer than the first job table, for databases made before them
    "outcome": "outcome TEXT",  # kept FAILED answers
    "size_bytes": "size_bytes INTEGER NOT NULL DEFAULT 0",  # large jobs
}


def upgrade(db: sqlite3.Connection) -> int:
    """Create the job table or bring one made by an older sr2fhir up to SCHEMA_VERSION (the
    first had no version and fewer columns; later versions are STEPS, each applied in one
    transaction that re-reads the version, so two processes opening at once apply it once);
    the version found when newer."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        return found
    if found < 1:
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        for name, definition in _ADDED_COLUMNS.items():
            if name not in columns:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {definition}")
        db.execute("PRAGMA user_version = 1")
    for version, step in enumerate(STEPS, start=2):
        if found >= version:
            continue  # the common case: no write lock taken to find there is nothing to do
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) < version:
                for statement in step:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
