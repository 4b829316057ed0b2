"""PostgresSpool: jobs and the received bytes in one PostgreSQL database, for any number of
gateway nodes (docs/scale-out.md).

- Receive: the job row and the Part-10 bytes (bytea) in one transaction, committed before
  C-STORE Success; a failed commit is a SpoolError (0xA700). Nothing of it stays on the node.
- Claim: `SELECT ... FOR UPDATE SKIP LOCKED` picks the oldest due READY job whose instance
  has no LOCKED version; the partial unique index (pg_schema) makes two nodes claiming two
  versions of one instance at the same moment impossible (the later claim tries again).
- Leases: a claim holds the job until `lease_until` (the database's clock); the holding
  node's supervision tick renews it (tend_leases) for at most workers.lease seconds of work.
  A node that dies stops renewing: after spool.lease_timeout any node's tick puts the job
  back to READY and any worker takes it.
- Fencing: DONE, FAILED, retry and release change a job only while the worker still holds
  it; before delivering, the worker checks its lease has not run out (LeaseLostError).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from sr2fhir.errors import LeaseLostError, SpoolError
from sr2fhir.spool.lifecycle import (
    WAIT_DELAY,
    Lifecycle,
    LifecycleDecision,
    LifecycleUpdate,
    LifecycleView,
    RejectionClaim,
    ReportClaim,
    begin_rejection,
    begin_report,
    finish,
)
from sr2fhir.spool.model import (
    AttemptRecord,
    FolderSize,
    InstanceInfo,
    Job,
    LargeJobs,
    RecoveryReport,
    holder_of,
    like_prefix,
    node_of,
)
from sr2fhir.spool.pg_connect import Conflict, Connection, Database, Row
from sr2fhir.spool.pg_schema import TABLES
from sr2fhir.spool.spool import log_replaced
from sr2fhir.spool.sql_reads import JobReads, attempt_values, job_from_row

log = logging.getLogger(__name__)

NOW = "extract(epoch from now())::float8"
COLUMNS = (
    "id, status, sop_class_uid, sop_instance_uid, calling_ae, quarantined, attempts, "
    "next_attempt_at, last_error, locked_by, received_at, updated_at, outcome, size_bytes, "
    "warnings, header, held_since, released"
)
U_COLUMNS = ", ".join(f"u.{name.strip()}" for name in COLUMNS.split(","))
UNLOCKED = "locked_by = NULL, locked_at = NULL, lease_until = NULL"
OWNED = "status = 'LOCKED' AND locked_by = %(owner)s"  # fencing: only the holder changes it
CLAIM_TRIES = 3

NODE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%(node)s, 1))"

CLAIM = f"""
WITH next AS (
    SELECT j.id FROM sr2fhir_jobs AS j
    WHERE j.status IN ('READY', 'HELD') AND j.next_attempt_at <= {NOW}
      AND NOT EXISTS (SELECT 1 FROM sr2fhir_jobs AS l
                      WHERE l.sop_instance_uid = j.sop_instance_uid AND l.status = 'LOCKED')
      AND (j.size_bytes <= %(large)s
           OR (SELECT count(*) FROM sr2fhir_jobs AS b
               WHERE b.status = 'LOCKED' AND b.size_bytes > %(large)s
                 AND split_part(b.locked_by, '/', 1) = %(node)s) < %(slots)s)
    ORDER BY j.next_attempt_at, j.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
UPDATE sr2fhir_jobs AS u
SET status = 'LOCKED', locked_by = %(worker)s, locked_at = {NOW},
    lease_until = {NOW} + %(lease)s, updated_at = {NOW}, attempts = u.attempts + 1
FROM next WHERE u.id = next.id
RETURNING {U_COLUMNS}
"""

REPLACE = f"""
UPDATE sr2fhir_jobs SET sop_class_uid = %(class)s, calling_ae = %(ae)s, attempts = 0,
    next_attempt_at = {NOW}, last_error = NULL, received_at = {NOW}, updated_at = {NOW},
    size_bytes = %(size)s, warnings = NULL, header = NULL
WHERE id = %(id)s
"""

INSERT = f"""
WITH job AS (
    INSERT INTO sr2fhir_jobs (status, sop_class_uid, sop_instance_uid, calling_ae,
                              next_attempt_at, received_at, updated_at, size_bytes)
    VALUES ('READY', %(class)s, %(uid)s, %(ae)s, {NOW}, {NOW}, {NOW}, %(size)s)
    RETURNING id)
INSERT INTO sr2fhir_job_data (job_id, data) SELECT id, %(data)b FROM job RETURNING job_id
"""

DONE = f"""
WITH done AS (
    UPDATE sr2fhir_jobs SET status = 'DONE', last_error = %(error)s, outcome = NULL,
        {UNLOCKED}, updated_at = {NOW}
    WHERE id = %(id)s AND {OWNED} RETURNING {COLUMNS}),
gone AS (DELETE FROM sr2fhir_job_data AS d USING done WHERE d.job_id = done.id)
SELECT {COLUMNS} FROM done
"""

FAIL = f"""
UPDATE sr2fhir_jobs SET status = 'FAILED', last_error = %(error)s, outcome = %(outcome)s,
    quarantined = quarantined OR %(quarantine)s, {UNLOCKED}, updated_at = {NOW}
WHERE id = %(id)s AND {OWNED}
"""

SCHEDULE = f"""
UPDATE sr2fhir_jobs SET status = 'READY', last_error = %(error)s,
    next_attempt_at = {NOW} + %(delay)s, {UNLOCKED}, updated_at = {NOW}
WHERE id = %(id)s AND {OWNED} RETURNING {COLUMNS}
"""

HOLD = f"""
UPDATE sr2fhir_jobs SET status = 'HELD', last_error = %(error)s,
    next_attempt_at = {NOW} + %(delay)s, held_since = coalesce(held_since, {NOW}),
    attempts = greatest(attempts - 1, 0), {UNLOCKED}, updated_at = {NOW}
WHERE id = %(id)s AND {OWNED} RETURNING {COLUMNS}
"""

# `queue release`: HELD, or READY again after a failed try within its hold.
RELEASE_HELD = f"""
UPDATE sr2fhir_jobs SET status = 'READY', released = true, next_attempt_at = {NOW},
    updated_at = {NOW}
WHERE id = %(id)s AND (status = 'HELD' OR (status = 'READY' AND held_since IS NOT NULL))
"""

NEWER = """
SELECT n.id FROM sr2fhir_jobs AS n JOIN sr2fhir_jobs AS j
    ON n.sop_instance_uid = j.sop_instance_uid
WHERE j.id = %(id)s AND n.id > j.id AND n.status <> 'FAILED' LIMIT 1
"""

# Before delivering: still held, with time left on the lease, and the newest version?
HOLDING = f"""
SELECT status = 'LOCKED' AND locked_by = %(owner)s AND lease_until > {NOW}, ({NEWER})
FROM sr2fhir_jobs WHERE id = %(id)s
"""

RELEASE = f"""
UPDATE sr2fhir_jobs SET status = 'READY', attempts = greatest(attempts - 1, 0), {UNLOCKED},
    updated_at = {NOW}
WHERE id = %(id)s AND {OWNED}
"""

DEFER = f"""
UPDATE sr2fhir_jobs SET status = 'READY', attempts = greatest(attempts - 1, 0), {UNLOCKED},
    last_error = %(error)s, next_attempt_at = {NOW} + %(delay)s, updated_at = {NOW}
WHERE id = %(id)s AND {OWNED}
"""

RELEASE_WORKER = f"""
UPDATE sr2fhir_jobs SET status = 'READY', {UNLOCKED}, updated_at = {NOW}
WHERE status = 'LOCKED' AND locked_by LIKE %(prefix)s
"""

RENEW = f"""
UPDATE sr2fhir_jobs SET lease_until = {NOW} + %(lease)s
WHERE status = 'LOCKED' AND locked_by LIKE %(prefix)s AND locked_at > {NOW} - %(max_hold)s
"""

EXPIRE = f"""
WITH expired AS (
    SELECT id, locked_by FROM sr2fhir_jobs
    WHERE status = 'LOCKED' AND lease_until < {NOW}
    FOR UPDATE SKIP LOCKED)
UPDATE sr2fhir_jobs AS u SET status = 'READY', {UNLOCKED}, updated_at = {NOW}
FROM expired WHERE u.id = expired.id
RETURNING u.id, u.sop_instance_uid, expired.locked_by
"""

RETRY = f"""
UPDATE sr2fhir_jobs SET status = 'READY', quarantined = false, attempts = 0,
    next_attempt_at = {NOW}, held_since = NULL, released = false, {UNLOCKED}, updated_at = {NOW}
WHERE status = 'FAILED' AND (id = %(id)s OR %(id)s IS NULL)
"""

# One attempt of a job still held by its worker (fenced like the state change it goes with),
# and the mapping's warnings and header facts it gave.
ADD_ATTEMPT = f"""
WITH held AS (
    UPDATE sr2fhir_jobs SET warnings = coalesce(%(warnings)s, warnings),
        header = coalesce(%(header)s, header)
    WHERE id = %(job_id)s AND {OWNED} RETURNING id)
INSERT INTO sr2fhir_job_attempts (job_id, at, node, http_status, error, outcome, locations)
SELECT id, {NOW}, %(node)s, %(http_status)s, %(error)s, %(outcome)s, %(locations)s FROM held
"""

DISCARD = "DELETE FROM sr2fhir_jobs WHERE id = %s AND status = 'FAILED'"

SIZES = """
SELECT j.quarantined, count(*), coalesce(sum(j.size_bytes), 0)::bigint
FROM sr2fhir_job_data AS d JOIN sr2fhir_jobs AS j ON j.id = d.job_id GROUP BY j.quarantined
"""


class PostgresSpool(JobReads):
    """The Spool (model.Spool) of a node sharing one database with other nodes."""

    table, columns, mark, attempts_table = "sr2fhir_jobs", COLUMNS, "%s", "sr2fhir_job_attempts"

    @staticmethod
    def json_text(column: str, key: str) -> str:
        return f"({column}::jsonb ->> '{key}')"

    def __init__(
        self, db: Database, lease: float, max_hold: float, lock_fd: int | None = None
    ) -> None:
        """`lease`: seconds a claim or a renewal holds a job (spool.lease_timeout);
        `max_hold`: seconds of work after which the holder stops renewing (workers.lease)."""
        self.db = db
        self.lease = lease
        self.max_hold = max_hold
        self._lock_fd = lock_fd

    # ------------------------------------------------------------ receiving

    def receive(self, data: bytes, info: InstanceInfo) -> int:
        """Bytes and row in one commit; a READY job of the same instance takes the new
        bytes (receivers of one instance on several nodes wait for each other)."""
        values = {
            "uid": info.sop_instance_uid,
            "class": info.sop_class_uid,
            "ae": info.calling_ae,
            "size": len(data),
            "data": data,
        }
        with self.db.transaction("cannot store the instance") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (info.sop_instance_uid,)
            )
            ready = conn.execute(
                "SELECT id FROM sr2fhir_jobs WHERE sop_instance_uid = %s AND status = 'READY' "
                "ORDER BY id DESC LIMIT 1 FOR UPDATE",
                (info.sop_instance_uid,),
            ).fetchone()
            if ready is None:
                job_id = int(_one(conn.execute(INSERT, values).fetchone())[0])
            else:
                job_id = int(ready[0])
                conn.execute(REPLACE, {**values, "id": job_id})
                conn.execute(
                    "UPDATE sr2fhir_job_data SET data = %b WHERE job_id = %s", (data, job_id)
                )
        if ready is not None:
            log_replaced(job_id, info)
        return job_id

    # ------------------------------------------------------------ working

    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None:
        lane = large or LargeJobs(bytes=2**62, workers=1)
        params = {
            "worker": worker_id,
            "node": node_of(worker_id),
            "lease": self.lease,
            "large": lane.bytes,
            "slots": lane.workers,
        }
        for _ in range(CLAIM_TRIES):
            try:
                with self.db.transaction("cannot claim a job") as conn:
                    # One claim at a time per node: the large-job lane counts the node's
                    # LOCKED jobs, which a concurrent claim would not see yet.
                    conn.execute(NODE_LOCK, params)
                    row = conn.execute(CLAIM, params).fetchone()
            except Conflict:  # another node locked a version of the same instance just now
                continue
            return _job(row) if row is not None else None
        return None

    def read(self, job: Job) -> bytes:
        with self.db.transaction("cannot read the instance") as conn:
            row = conn.execute(
                "SELECT data FROM sr2fhir_job_data WHERE job_id = %s", (job.id,), binary=True
            ).fetchone()
        if row is None:
            raise FileNotFoundError(f"no bytes stored for job {job.id}")
        return bytes(row[0])

    def reject(self, job: Job, reason: str, attempt: AttemptRecord | None = None) -> None:
        self._fail(job, reason, None, attempt, quarantine=True)

    def give_up(
        self,
        job: Job,
        reason: str,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None:
        self._fail(job, reason, outcome, attempt, quarantine=False)

    def retry_later(
        self, job: Job, reason: str, delay: float, attempt: AttemptRecord | None = None
    ) -> Job:
        return self._unlock(job, SCHEDULE, reason, delay, "cannot schedule a retry", attempt)

    def hold(self, job: Job, reason: str, delay: float) -> Job:
        return self._unlock(job, HOLD, reason, delay, "cannot hold the job")

    def _unlock(
        self,
        job: Job,
        sql: str,
        reason: str,
        delay: float,
        what: str,
        attempt: AttemptRecord | None = None,
    ) -> Job:
        """READY (SCHEDULE) or HELD (HOLD) after `delay` s, or DONE when superseded."""
        owner = holder_of(job)
        with self.db.transaction(what) as conn:
            superseded = self._supersede(conn, job)
            if superseded is not None:
                return superseded
            _record(conn, job, attempt)
            row = conn.execute(
                sql, {"id": job.id, "owner": owner, "error": reason, "delay": delay}
            ).fetchone()
        if row is None:
            raise _lost(job)
        return _job(row)

    def supersede_if_newer(self, job: Job) -> Job | None:
        """Also the fence before delivery: LeaseLostError once the lease has run out."""
        params = {"id": job.id, "owner": holder_of(job)}
        with self.db.transaction() as conn:
            held, newer = _one(conn.execute(HOLDING, params).fetchone())
            if not held:
                raise _lost(job)
            return self._supersede(conn, job) if newer is not None else None

    def _supersede(self, conn: Connection, job: Job) -> Job | None:
        newer = conn.execute(NEWER, {"id": job.id}).fetchone()
        if newer is None:
            return None
        params = {"id": job.id, "owner": holder_of(job), "error": f"superseded by job {newer[0]}"}
        row = conn.execute(DONE, params).fetchone()
        if row is None:
            raise _lost(job)
        return _job(row)

    def _fail(
        self,
        job: Job,
        reason: str,
        outcome: str | None,
        attempt: AttemptRecord | None,
        quarantine: bool,
    ) -> None:
        params = {
            "id": job.id,
            "owner": holder_of(job),
            "error": reason,
            "outcome": outcome,
            "quarantine": quarantine,
        }
        with self.db.transaction("cannot mark the job failed") as conn:
            _record(conn, job, attempt)
            if conn.execute(FAIL, params).rowcount == 0:
                raise _lost(job)

    def begin_report(self, job: Job, claim: ReportClaim) -> LifecycleView:
        with self.db.transaction("cannot place the report in its chain") as conn:
            self._check_holding(conn, job)
            view = begin_report(Lifecycle(conn, TABLES), job.id, claim)
            self._defer_on_wait(conn, job, view)
        return view

    def begin_rejection(self, job: Job, claim: RejectionClaim) -> LifecycleView:
        with self.db.transaction("cannot record the rejection note") as conn:
            self._check_holding(conn, job)
            view = begin_rejection(Lifecycle(conn, TABLES), job.id, claim)
            self._defer_on_wait(conn, job, view)
        return view

    def _check_holding(self, conn: Connection, job: Job) -> None:
        held, _ = _one(conn.execute(HOLDING, {"id": job.id, "owner": holder_of(job)}).fetchone())
        if not held:
            raise _lost(job)

    def _defer_on_wait(self, conn: Connection, job: Job, view: LifecycleView) -> None:
        if view.decision is LifecycleDecision.WAIT:
            params = {"id": job.id, "owner": holder_of(job), "error": view.detail}
            conn.execute(DEFER, {**params, "delay": WAIT_DELAY})

    def finish_report(
        self, job: Job, update: LifecycleUpdate, attempt: AttemptRecord | None = None
    ) -> None:
        params = {"id": job.id, "owner": holder_of(job), "error": update.note}
        with self.db.transaction("cannot mark the job done") as conn:
            finish(Lifecycle(conn, TABLES), job.id, update)
            _record(conn, job, attempt)
            if conn.execute(DONE, params).fetchone() is None:
                raise _lost(job)

    def release(self, job: Job) -> None:
        with self.db.transaction("cannot release the job") as conn:
            conn.execute(RELEASE, {"id": job.id, "owner": holder_of(job)})

    def release_worker(self, worker_prefix: str) -> int:
        with self.db.transaction("cannot release jobs") as conn:
            return conn.execute(RELEASE_WORKER, {"prefix": like_prefix(worker_prefix)}).rowcount

    def tend_leases(self, node_prefix: str) -> int:
        """Renew this node's leases; put every job whose lease ran out (a dead node's) back."""
        renew = {"prefix": like_prefix(node_prefix), "lease": self.lease, "max_hold": self.max_hold}
        with self.db.transaction("cannot renew leases") as conn:
            conn.execute(RENEW, renew)
            return self._expire(conn)

    def _expire(self, conn: Connection) -> int:
        expired = conn.execute(EXPIRE).fetchall()
        for job_id, uid, holder in expired:
            log.info(
                "job %d READY again: the lease of %s ran out: sop_instance_uid=%s",
                job_id,
                holder,
                uid,
            )
        return len(expired)

    def check_writable(self) -> None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
            ).fetchone()
        if row is not None and row[0]:
            raise SpoolError("the job database is read-only (a standby?)")

    # ------------------------------------------------------------ operating

    def holders(self) -> dict[str, int]:
        rows = self._rows(
            "SELECT split_part(locked_by, '/', 1), count(*) FROM sr2fhir_jobs "
            "WHERE status = 'LOCKED' GROUP BY 1"
        )
        return {str(node): int(count) for node, count in rows}

    def is_quarantined(self, job: Job) -> bool:
        return job.file_key.startswith(f"{QUARANTINE}/")

    def sizes(self) -> dict[str, FolderSize]:
        sizes = {name: FolderSize(0, 0) for name in (WAITING, QUARANTINE)}
        for quarantined, count, size in self._rows(SIZES):
            sizes[QUARANTINE if quarantined else WAITING] = FolderSize(int(count), int(size))
        return sizes

    def shortage(self) -> str | None:
        """No local limit: the bytes live in the database, whose server refuses a commit
        (0xA700) when its own disk is full (spool.min_free_bytes applies to sqlite)."""
        return None

    def free_bytes(self) -> tuple[int | None, int]:
        return None, 0

    def retry(self, job_id: int) -> bool:
        with self.db.transaction("cannot retry the job") as conn:
            return conn.execute(RETRY, {"id": job_id}).rowcount == 1

    def retry_failed(self) -> int:
        with self.db.transaction("cannot retry jobs") as conn:
            return conn.execute(RETRY, {"id": None}).rowcount

    def release_held(self, job_id: int) -> bool:
        with self.db.transaction("cannot release the job") as conn:
            return conn.execute(RELEASE_HELD, {"id": job_id}).rowcount == 1

    def purge_done(self, older_than: float) -> int:
        with self.db.transaction("cannot purge jobs") as conn:
            return conn.execute(
                "DELETE FROM sr2fhir_jobs WHERE status = 'DONE' AND updated_at < %s",
                (older_than,),
            ).rowcount

    def discard(self, job_id: int) -> bool:
        """Forget a FAILED job: its row, attempts and bytes (there is no quarantine folder:
        the bytes live in the database)."""
        with self.db.transaction("cannot discard the job") as conn:
            return conn.execute(DISCARD, (job_id,)).rowcount == 1

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self.db.transaction() as conn:
            return conn.execute(sql, params).fetchall()

    def _to_job(self, row: Row) -> Job:
        return _job(row)

    # ------------------------------------------------------------ start-up and stop

    def recover(self) -> RecoveryReport:
        """Only leases that ran out go back to READY: the other LOCKED jobs belong to nodes
        that are working on them (this node's earlier life's jobs expire like any other)."""
        with self.db.transaction("cannot recover") as conn:
            released = self._expire(conn)
        return RecoveryReport(released=released)

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


WAITING = "files"  # the names sizes() and file keys share with the folder back end
QUARANTINE = "quarantine"


def _lost(job: Job) -> LeaseLostError:
    return LeaseLostError(f"job {job.id} is no longer held by {job.locked_by}")


def _record(conn: Connection, job: Job, attempt: AttemptRecord | None) -> None:
    """Add `attempt` to the job's history (nothing when the job is no longer held: the state
    change beside it then fails, and the transaction with it)."""
    if attempt is not None:
        owner = holder_of(job)
        conn.execute(ADD_ATTEMPT, attempt_values(job.id, owner, attempt) | {"owner": owner})


def _one(row: Row | None) -> Row:
    if row is None:  # pragma: no cover - the statements always return a row
        raise SpoolError("the job database returned nothing")
    return row


def _job(row: Row) -> Job:
    return job_from_row(row, f"{QUARANTINE if row[5] else WAITING}/{row[0]}")
