"""The PostgreSQL job database's schema, versioned: `sr2fhir db upgrade` applies the steps a
database lacks (one transaction, under an advisory lock so two nodes never run them at
once); `serve` and the other commands refuse a version they do not know.

Design (docs/scale-out.md): the received Part-10 bytes live in `sr2fhir_job_data` (bytea,
stored uncompressed: DICOM compresses poorly and pglz costs CPU), committed with their job
row before C-STORE Success. A partial unique index allows one LOCKED job per SOP Instance
UID, so versions of one instance are never worked on at once, even by two nodes claiming
at the same moment. lease_until is in no index, so renewing a lease is a HOT update (no
index write, little to vacuum). Times are the database's clock (epoch seconds): leases mean
the same on every node whatever its clock says.
"""

from __future__ import annotations

from sr2fhir.errors import SpoolError
from sr2fhir.spool.pg_connect import Connection

UPGRADE_LOCK = 0x5352_3246  # pg_advisory_xact_lock key of `db upgrade` ("SR2F")

V1 = """
CREATE TABLE sr2fhir_schema (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    upgraded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sr2fhir_jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('READY', 'LOCKED', 'DONE', 'FAILED')),
    sop_class_uid text NOT NULL,
    sop_instance_uid text NOT NULL,
    calling_ae text NOT NULL,
    quarantined boolean NOT NULL DEFAULT false,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    last_error text,
    locked_by text,
    locked_at double precision,
    lease_until double precision,
    received_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    outcome text,
    size_bytes bigint NOT NULL
);
CREATE TABLE sr2fhir_job_data (
    job_id bigint PRIMARY KEY REFERENCES sr2fhir_jobs (id) ON DELETE CASCADE,
    data bytea NOT NULL
);
ALTER TABLE sr2fhir_job_data ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX sr2fhir_jobs_due ON sr2fhir_jobs (next_attempt_at, id) WHERE status = 'READY';
CREATE INDEX sr2fhir_jobs_instance ON sr2fhir_jobs (sop_instance_uid, id);
CREATE INDEX sr2fhir_jobs_status ON sr2fhir_jobs (status, updated_at);
CREATE UNIQUE INDEX sr2fhir_jobs_one_locked_per_instance
    ON sr2fhir_jobs (sop_instance_uid) WHERE status = 'LOCKED';
"""

# Each job's attempt history, the warnings and header facts of its last mapping, and the
# indexes the queue API's listing and stats read.
V2_ATTEMPTS = """
ALTER TABLE sr2fhir_jobs ADD COLUMN warnings text, ADD COLUMN header text;
CREATE TABLE sr2fhir_job_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES sr2fhir_jobs (id) ON DELETE CASCADE,
    at double precision NOT NULL,
    node text,
    http_status integer,
    error text,
    outcome text,
    locations text
);
CREATE INDEX sr2fhir_job_attempts_job ON sr2fhir_job_attempts (job_id, id);
CREATE INDEX sr2fhir_jobs_received ON sr2fhir_jobs (received_at);
"""

STEPS: tuple[str, ...] = (V1, V2_ATTEMPTS)  # STEPS[n - 1]: version n - 1 -> n
SCHEMA_VERSION = len(STEPS)


def schema_version(conn: Connection) -> int:
    """The version of the sr2fhir schema in the database; 0 when there is none."""
    if conn.execute("SELECT to_regclass('sr2fhir_schema')").fetchone() == (None,):
        return 0
    row = conn.execute("SELECT version FROM sr2fhir_schema").fetchone()
    return int(row[0]) if row else 0


def schema_problem(found: int) -> str | None:
    """Why this sr2fhir cannot work on a database of version `found` (one line)."""
    if found == SCHEMA_VERSION:
        return None
    if found > SCHEMA_VERSION:
        return (
            f"the job database's schema is version {found}, newer than this sr2fhir knows "
            f"({SCHEMA_VERSION}): run a newer sr2fhir"
        )
    have = "has no sr2fhir schema (version 0)" if found == 0 else f"is at version {found}"
    return (
        f"the job database {have}; this sr2fhir needs version {SCHEMA_VERSION}: "
        "run `sr2fhir db upgrade`"
    )


def check_schema(conn: Connection) -> None:
    problem = schema_problem(schema_version(conn))
    if problem is not None:
        raise SpoolError(problem)


def upgrade(conn: Connection) -> tuple[int, int]:
    """Apply the missing steps in the current transaction; (version before, after)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise SpoolError(str(schema_problem(found)))
    for step in STEPS[found:]:
        conn.execute(step)
    conn.execute(
        "INSERT INTO sr2fhir_schema (version) VALUES (%s) ON CONFLICT (singleton) "
        "DO UPDATE SET version = EXCLUDED.version, upgraded_at = now()",
        (SCHEMA_VERSION,),
    )
    return found, SCHEMA_VERSION
