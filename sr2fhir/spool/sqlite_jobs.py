"""JobStore on SQLite (WAL, synchronous=FULL): the embedded single-node default.

One connection per store object, guarded by a lock so association threads can share it;
each worker process opens its own store. Claims are single UPDATE ... RETURNING statements,
so two processes never claim the same job. Updates of a claimed job name its holder and
change nothing (LeaseLostError) once another worker holds it (fencing). The table's version
is SQLite's user_version: older tables are brought up to date on open, newer ones refused.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sr2fhir.errors import DiskFullError, LeaseLostError, SpoolError
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
    Enqueued,
    InstanceInfo,
    Job,
    JobStatus,
    LargeJobs,
    like_prefix,
    node_of,
)
from sr2fhir.spool.sql_reads import JobReads, attempt_values, job_from_row
from sr2fhir.spool.sqlite_schema import SCHEMA, SCHEMA_VERSION, TABLES, upgrade

__all__ = ["SCHEMA", "SCHEMA_VERSION", "SqliteJobStore", "table_version"]

COLUMNS = (
    "id, status, sop_class_uid, sop_instance_uid, calling_ae, file_key, attempts, "
    "next_attempt_at, last_error, locked_by, received_at, updated_at, outcome, size_bytes, "
    "warnings, header, held_since, released"
)

ADD_ATTEMPT = """
INSERT INTO job_attempts (job_id, at, node, http_status, error, outcome, locations)
VALUES (:job_id, :now, :node, :http_status, :error, :outcome, :locations)
"""

# The mapping's warnings and header facts of the attempt, when it got that far.
KEEP_MAPPING = """
UPDATE jobs SET warnings = COALESCE(:warnings, warnings), header = COALESCE(:header, header)
WHERE id = :job_id
"""

# The oldest due READY job whose instance is not being worked on right now (versions of one
# SOP instance are delivered in order, never concurrently); a large one only while fewer
# than the allowed number of large jobs are LOCKED by the claiming node (its small reports
# are never stuck behind large ones).
CLAIM = f"""
UPDATE jobs SET status = 'LOCKED', locked_by = :worker, locked_at = :now, updated_at = :now,
                attempts = attempts + 1
WHERE id = (
    SELECT j.id FROM jobs AS j
    WHERE j.status IN ('READY', 'HELD') AND j.next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM jobs AS l
                      WHERE l.sop_instance_uid = j.sop_instance_uid AND l.status = 'LOCKED')
      AND (j.size_bytes <= :large
           OR (SELECT COUNT(*) FROM jobs AS b
               WHERE b.status = 'LOCKED' AND b.size_bytes > :large
                 AND substr(b.locked_by, 1, instr(b.locked_by || '/', '/') - 1) = :node)
              < :large_slots)
    ORDER BY j.next_attempt_at, j.id LIMIT 1)
RETURNING {COLUMNS}
"""

NEWER_VERSION = """
SELECT n.id FROM jobs AS n JOIN jobs AS j ON n.sop_instance_uid = j.sop_instance_uid
WHERE j.id = ? AND n.id > j.id AND n.status != 'FAILED' LIMIT 1
"""

OWNED = "status = 'LOCKED' AND locked_by = ?"  # fencing: only the holder changes its job

UNLOCK = f"""
UPDATE jobs SET status = ?, last_error = ?, next_attempt_at = ?, locked_by = NULL,
                locked_at = NULL, updated_at = ?
WHERE id = ? AND {OWNED} RETURNING {COLUMNS}
"""

HOLD = f"""
UPDATE jobs SET status = 'HELD', last_error = ?, next_attempt_at = ?,
                held_since = COALESCE(held_since, ?), attempts = MAX(attempts - 1, 0),
                locked_by = NULL, locked_at = NULL, updated_at = ?
WHERE id = ? AND {OWNED} RETURNING {COLUMNS}
"""

# `queue release`: HELD, or READY again after a failed try within its hold.
RELEASE_HELD = """
UPDATE jobs SET status = 'READY', released = 1, next_attempt_at = ?, updated_at = ?
WHERE id = ? AND (status = 'HELD' OR (status = 'READY' AND held_since IS NOT NULL))
"""

RELEASE = f"""
UPDATE jobs SET status = 'READY', attempts = MAX(attempts - 1, 0), locked_by = NULL,
                locked_at = NULL, updated_at = ?
WHERE id = ? AND {OWNED}
"""

SET_STATUS = f"""
UPDATE jobs SET status = ?, last_error = ?, file_key = COALESCE(?, file_key), outcome = ?,
                locked_by = NULL, locked_at = NULL, updated_at = ?
WHERE id = ? AND {OWNED}
"""

HOLDS = f"SELECT 1 FROM jobs WHERE id = ? AND {OWNED}"

DEFER = f"""
UPDATE jobs SET status = 'READY', attempts = MAX(attempts - 1, 0), last_error = ?,
                next_attempt_at = ?, locked_by = NULL, locked_at = NULL, updated_at = ?
WHERE id = ? AND {OWNED}
"""

LOCKED_BY = "status = 'LOCKED' AND locked_by LIKE ? ESCAPE '\\' AND locked_at <= ?"

RELEASE_LOCKED = f"""
UPDATE jobs SET status = 'READY', locked_by = NULL, locked_at = NULL, updated_at = ?
WHERE {LOCKED_BY}
"""

LOCKED_SINCE = f"SELECT 1 FROM jobs WHERE {LOCKED_BY} LIMIT 1"

SQLITE_FULL = 13  # "database or disk is full" (sqlite3.SQLITE_FULL from Python 3.11 on)

Clock = Callable[[], float]


class SqliteJobStore(JobReads):
    """The job table in `<data_dir>/jobs.sqlite3`."""

    table, columns, mark, attempts_table = "jobs", COLUMNS, "?", "job_attempts"

    @staticmethod
    def json_text(column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def __init__(
        self, path: Path, timeout: float = 5.0, clock: Clock = time.time, durable: bool = True
    ) -> None:
        """`durable=False` (worker processes) skips the fsync per commit: a claim or a DONE
        lost to a power cut only means the job runs again, and delivery is idempotent. What the
        SCP commits before acknowledging always uses synchronous=FULL."""
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self.version = upgrade(self._db)
        except sqlite3.Error as exc:
            raise _spool_error(f"cannot open job database {path}", exc) from exc
        if self.version > SCHEMA_VERSION:
            self._db.close()
            raise SpoolError(
                f"job database {path} is version {self.version}, newer than this sr2fhir "
                f"knows ({SCHEMA_VERSION}): run the sr2fhir that made it, or a newer one"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the object lock; sqlite errors become SpoolError
        (DiskFullError when the disk is full), and nothing of the transaction remains."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _spool_error(f"job database {self.path}", exc) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise _spool_error(f"job database {self.path}", exc) from exc
                raise

    def _rollback(self) -> None:
        """Undo what is left to undo: after a full disk or an I/O error SQLite has rolled the
        transaction back itself, and a ROLLBACK then would fail ("no transaction is active")."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # the error that brought us here is the one to report
                self._db.execute("ROLLBACK")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _spool_error(f"job database {self.path}", exc) from exc

    def _to_job(self, row: tuple[Any, ...]) -> Job:
        return _job(row)

    # ------------------------------------------------------------ receiving

    def enqueue(self, info: InstanceInfo, file_key: str, size: int = 0) -> Enqueued:
        """A new version replaces a READY (not yet delivered) job of the same instance;
        `size` (bytes of the file) decides whether the job counts as large when claimed."""
        now = self._clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, file_key FROM jobs WHERE sop_instance_uid = ? AND status = 'READY' "
                "ORDER BY id DESC LIMIT 1",
                (info.sop_instance_uid,),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE jobs SET sop_class_uid = ?, calling_ae = ?, file_key = ?, attempts = 0,"
                    " next_attempt_at = ?, last_error = NULL, received_at = ?, updated_at = ?,"
                    " size_bytes = ?, warnings = NULL, header = NULL WHERE id = ?",
                    (info.sop_class_uid, info.calling_ae, file_key, now, now, now, size, row[0]),
                )
                return Enqueued(row[0], row[1])
            cursor = db.execute(
                "INSERT INTO jobs (status, sop_class_uid, sop_instance_uid, calling_ae, file_key,"
                " next_attempt_at, received_at, updated_at, size_bytes)"
                " VALUES ('READY', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.sop_class_uid,
                    info.sop_instance_uid,
                    info.calling_ae,
                    file_key,
                    now,
                    now,
                    now,
                    size,
                ),
            )
            return Enqueued(int(cursor.lastrowid or 0), None)

    # ------------------------------------------------------------ working

    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None:
        """The next job for `worker_id`, or None; see CLAIM and LargeJobs."""
        params = {"worker": worker_id, "node": node_of(worker_id), "now": self._clock()}
        if large is None:  # no job counts as large
            params |= {"large": 2**62, "large_slots": 1}
        else:
            params |= {"large": large.bytes, "large_slots": large.workers}
        with self._transaction() as db:
            row = db.execute(CLAIM, params).fetchone()
        return _job(row) if row else None

    def mark_failed(
        self,
        job_id: int,
        owner: str,
        error: str,
        file_key: str | None = None,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None:
        self._set_status(job_id, owner, JobStatus.FAILED, error, file_key, outcome, attempt)

    def schedule_retry(
        self,
        job_id: int,
        owner: str,
        error: str,
        delay: float,
        attempt: AttemptRecord | None = None,
    ) -> Job:
        """Back to READY after `delay` seconds -- unless a newer version has arrived meanwhile."""
        ready = JobStatus.READY.value
        return self._unlock(
            UNLOCK, job_id, owner, lambda now: (ready, error, now + delay, now), attempt
        )

    def hold(self, job_id: int, owner: str, reason: str, delay: float) -> Job:
        """HELD, due again after `delay` seconds -- unless a newer version has arrived."""
        return self._unlock(HOLD, job_id, owner, lambda now: (reason, now + delay, now, now))

    def _unlock(
        self,
        sql: str,
        job_id: int,
        owner: str,
        values: Callable[[float], tuple[Any, ...]],
        attempt: AttemptRecord | None = None,
    ) -> Job:
        """`sql` (UNLOCK or HOLD: `values(now)`, then the job id and its holder), or DONE
        ("superseded by job N") when a newer version of the instance is there."""
        now = self._clock()
        with self._transaction() as db:
            _check_held(db, job_id, owner)
            superseded = _supersede(db, job_id, owner, now)
            if superseded is not None:
                return superseded
            _record(db, job_id, owner, attempt, now)
            row = db.execute(sql, (*values(now), job_id, owner)).fetchone()
        return _job(row)

    def release_held(self, job_id: int) -> bool:
        now = self._clock()
        with self._transaction() as db:
            return db.execute(RELEASE_HELD, (now, now, job_id)).rowcount == 1

    def supersede_if_newer(self, job_id: int, owner: str) -> Job | None:
        """DONE ("superseded by job N") if a newer version of the instance is queued or
        delivered; None (and nothing changed) if this is the newest. Runs before every
        delivery: the common answer (none newer) is a read, without the write lock."""
        if not self._rows(HOLDS, (job_id, owner)):
            raise LeaseLostError(f"job {job_id} is no longer held by {owner}")
        if not self._rows(NEWER_VERSION, (job_id,)):
            return None
        with self._transaction() as db:
            _check_held(db, job_id, owner)
            return _supersede(db, job_id, owner, self._clock())

    def begin_report(self, job_id: int, owner: str, claim: ReportClaim) -> LifecycleView:
        """An SR's place in its chain (spool.lifecycle); on WAIT the job is READY again."""
        with self._transaction() as db:
            _check_held(db, job_id, owner)
            view = begin_report(Lifecycle(db, TABLES), job_id, claim)
            self._defer_on_wait(db, job_id, owner, view)
        return view

    def begin_rejection(self, job_id: int, owner: str, claim: RejectionClaim) -> LifecycleView:
        with self._transaction() as db:
            _check_held(db, job_id, owner)
            view = begin_rejection(Lifecycle(db, TABLES), job_id, claim)
            self._defer_on_wait(db, job_id, owner, view)
        return view

    def _defer_on_wait(
        self, db: sqlite3.Connection, job_id: int, owner: str, view: LifecycleView
    ) -> None:
        if view.decision is LifecycleDecision.WAIT:
            now = self._clock()
            db.execute(DEFER, (view.detail, now + WAIT_DELAY, now, job_id, owner))

    def finish_report(
        self,
        job_id: int,
        owner: str,
        update: LifecycleUpdate,
        attempt: AttemptRecord | None = None,
    ) -> None:
        """DONE (outcome `update.note`), the lifecycle record updated and `attempt` recorded,
        in one commit."""
        now = self._clock()
        with self._transaction() as db:
            finish(Lifecycle(db, TABLES), job_id, update)
            _record(db, job_id, owner, attempt, now)
            params = (JobStatus.DONE.value, update.note, None, None, now, job_id, owner)
            if db.execute(SET_STATUS, params).rowcount == 0:
                raise LeaseLostError(f"job {job_id} is no longer held by {owner}")

    def release(self, job_id: int, owner: str) -> None:
        """Give a claimed job back untouched (shutdown): the claim does not count as an
        attempt. A job no longer held by `owner` stays as it is."""
        with self._transaction() as db:
            db.execute(RELEASE, (self._clock(), job_id, owner))

    def release_locked(self, locked_by_prefix: str = "", older_than: float | None = None) -> int:
        """LOCKED jobs of dead workers (prefix) or with an expired lease go back to READY."""
        cutoff = self._clock() if older_than is None else older_than
        params = (like_prefix(locked_by_prefix), cutoff)
        if not self._rows(LOCKED_SINCE, params):  # the common answer, without the write lock
            return 0
        with self._transaction() as db:
            cursor = db.execute(RELEASE_LOCKED, (self._clock(), *params))
            return cursor.rowcount

    def _set_status(
        self,
        job_id: int,
        owner: str,
        status: JobStatus,
        error: str | None,
        file_key: str | None = None,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None:
        now = self._clock()
        with self._transaction() as db:
            _record(db, job_id, owner, attempt, now)  # undone with the rest if not held
            params = (status.value, error, file_key, outcome, now, job_id, owner)
            if db.execute(SET_STATUS, params).rowcount == 0:
                raise LeaseLostError(f"job {job_id} is no longer held by {owner}")

    # ------------------------------------------------------------ operating

    def holders(self) -> dict[str, int]:
        """LOCKED jobs per locked_by."""
        rows = self._rows(
            "SELECT locked_by, COUNT(*) FROM jobs WHERE status = 'LOCKED' GROUP BY locked_by"
        )
        return {str(owner): count for owner, count in rows}

    def reset_to_ready(self, job_id: int, file_key: str) -> None:
        """`queue retry`: run a job again from scratch, now."""
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'READY', attempts = 0, next_attempt_at = ?, file_key = ?,"
                " locked_by = NULL, locked_at = NULL, held_since = NULL, released = 0,"
                " updated_at = ? WHERE id = ?",
                (now, file_key, now, job_id),
            )

    def purge_done(self, older_than: float) -> list[str]:
        """Delete DONE rows last updated before `older_than`; return their file keys."""
        with self._transaction() as db:
            rows = db.execute(
                "DELETE FROM jobs WHERE status = 'DONE' AND updated_at < ? RETURNING file_key",
                (older_than,),
            ).fetchall()
        return [row[0] for row in rows]

    def delete_failed(self, job_id: int) -> str | None:
        """Delete a FAILED job's row (its attempts go with it); its file key, or None."""
        with self._transaction() as db:
            row = db.execute(
                "DELETE FROM jobs WHERE id = ? AND status = 'FAILED' RETURNING file_key", (job_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def pending_file_keys(self) -> set[str]:
        """File keys of jobs not DONE (DONE rows pile up until purged; their files are gone)."""
        return {row[0] for row in self._rows("SELECT file_key FROM jobs WHERE status != 'DONE'")}

    def newest_received(self, sop_instance_uid: str) -> float | None:
        rows = self._rows(
            "SELECT MAX(received_at) FROM jobs WHERE sop_instance_uid = ?", (sop_instance_uid,)
        )
        return rows[0][0] if rows else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _spool_error(what: str, exc: sqlite3.Error) -> SpoolError:
    """A DiskFullError when SQLite found the disk full, else a SpoolError."""
    full = getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "disk is full" in str(exc)
    return (DiskFullError if full else SpoolError)(f"{what}: {exc}")


def table_version(path: Path) -> int:
    """The job table's version in the database at `path` (0: none yet, or made before
    versions); SpoolError when it cannot be read."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise _spool_error(f"cannot read job database {path}", exc) from exc


def _record(
    db: sqlite3.Connection, job_id: int, owner: str, attempt: AttemptRecord | None, now: float
) -> None:
    """Add `attempt` to the job's history and keep its mapping facts (inside a transaction)."""
    if attempt is None:
        return
    values = attempt_values(job_id, owner, attempt) | {"now": now}
    db.execute(ADD_ATTEMPT, values)
    if attempt.warnings is not None or attempt.header is not None:
        db.execute(KEEP_MAPPING, values)


def _check_held(db: sqlite3.Connection, job_id: int, owner: str) -> None:
    if db.execute(HOLDS, (job_id, owner)).fetchone() is None:
        raise LeaseLostError(f"job {job_id} is no longer held by {owner}")


def _supersede(db: sqlite3.Connection, job_id: int, owner: str, now: float) -> Job | None:
    newer = db.execute(NEWER_VERSION, (job_id,)).fetchone()
    if newer is None:
        return None
    reason = f"superseded by job {newer[0]}"
    row = db.execute(UNLOCK, (JobStatus.DONE.value, reason, now, now, job_id, owner)).fetchone()
    return _job(row)


def _job(row: tuple[Any, ...]) -> Job:
    return job_from_row(row, str(row[5]))
