"""The read side both SQL back ends share: one job, jobs of a state or of a filter, counts,
the attempt history and the timeline the queue API's stats are made of.

Each back end names its tables, its columns and its driver's placeholder, says how a text
field of a JSON column is read in its SQL, how to run a query and how a row becomes a Job.
"""

from __future__ import annotations

import abc
import json
from typing import Any, ClassVar

from sr2fhir.spool.model import (
    AttemptRecord,
    InstanceInfo,
    Job,
    JobFilter,
    JobStatus,
    StoredAttempt,
    like_prefix,
    node_of,
)

Row = tuple[Any, ...]


class JobReads(abc.ABC):
    table: ClassVar[str]
    columns: ClassVar[str]
    mark: ClassVar[str]  # the driver's placeholder: "?" (sqlite3) or "%s" (psycopg)
    attempts_table: ClassVar[str]

    @staticmethod
    @abc.abstractmethod
    def json_text(column: str, key: str) -> str:
        """SQL reading the text at `key` of the JSON object in `column`."""

    @abc.abstractmethod
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """The rows of one read-only query."""

    @abc.abstractmethod
    def _to_job(self, row: Row) -> Job:
        """A row of `columns` as a Job."""

    def get(self, job_id: int) -> Job | None:
        rows = self._rows(
            f"SELECT {self.columns} FROM {self.table} WHERE id = {self.mark}", (job_id,)
        )
        return self._to_job(rows[0]) if rows else None

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """Jobs (of one state), oldest first."""
        select, mark = f"SELECT {self.columns} FROM {self.table}", self.mark
        if status is None:
            rows = self._rows(f"{select} ORDER BY id LIMIT {mark}", (limit,))
        else:
            where = f"WHERE status = {mark}"
            rows = self._rows(f"{select} {where} ORDER BY id LIMIT {mark}", (status.value, limit))
        return [self._to_job(row) for row in rows]

    def counts(self) -> dict[JobStatus, int]:
        """Jobs per state (every state present)."""
        counts = dict.fromkeys(JobStatus, 0)
        for status, count in self._rows(f"SELECT status, count(*) FROM {self.table} GROUP BY 1"):
            counts[JobStatus(status)] = int(count)
        return counts

    def find_jobs(self, query: JobFilter) -> tuple[list[Job], int]:
        """The jobs `query` selects, newest first (at most query.limit), and their number."""
        where, params = self._filter(query)
        table, mark = self.table, self.mark
        page = where + ([f"id < {mark}"] if query.before_id is not None else [])
        page_params = params + ([query.before_id] if query.before_id is not None else [])
        rows = self._rows(
            f"SELECT {self.columns} FROM {table}{_where(page)} ORDER BY id DESC LIMIT {mark}",
            (*page_params, query.limit),
        )
        total = self._rows(f"SELECT count(*) FROM {table}{_where(where)}", tuple(params))
        return [self._to_job(row) for row in rows], int(total[0][0])

    def _filter(self, query: JobFilter) -> tuple[list[str], list[Any]]:
        mark = self.mark
        where: list[str] = []
        params: list[Any] = []
        if query.state is not None:
            where.append(f"status = {mark}")
            params.append(query.state.value)
        if query.since is not None:
            where.append(f"received_at >= {mark}")
            params.append(query.since)
        if query.calling_ae:
            where.append(f"calling_ae = {mark}")
            params.append(query.calling_ae)
        if query.q:
            text, prefix = query.q.strip(), like_prefix(query.q.strip())
            study = self.json_text("header", "study_instance_uid")
            either = [
                f"sop_instance_uid LIKE {mark} ESCAPE '\\'",
                f"{study} LIKE {mark} ESCAPE '\\'",
            ]
            params += [prefix, prefix]
            if text.isdigit() and len(text) < 19:
                either.append(f"id = {mark}")
                params.append(int(text))
            if query.phi:  # exact: an identifier is looked up, not enumerated
                for key in ("patient_id", "accession_number"):
                    either.append(f"{self.json_text('header', key)} = {mark}")
                    params.append(text)
            where.append("(" + " OR ".join(either) + ")")
        return where, params

    def attempts(self, job_id: int) -> list[StoredAttempt]:
        """The job's recorded attempts, oldest first."""
        rows = self._rows(
            f"SELECT at, node, http_status, error, outcome, locations FROM {self.attempts_table}"
            f" WHERE job_id = {self.mark} ORDER BY id",
            (job_id,),
        )
        return [
            StoredAttempt(float(at), node, status, error, outcome, _locations(locations))
            for at, node, status, error, outcome, locations in rows
        ]

    def timeline(self, since: float) -> list[tuple[float, float | None]]:
        """(received_at, delivered_at or None) of the jobs received or delivered since `since`."""
        delivered = "status = 'DONE' AND last_error IS NULL"
        rows = self._rows(
            f"SELECT received_at, CASE WHEN {delivered} THEN updated_at END FROM {self.table}"
            f" WHERE received_at >= {self.mark} OR ({delivered} AND updated_at >= {self.mark})",
            (since, since),
        )
        return [(float(got), None if done is None else float(done)) for got, done in rows]

    def counts_by_ae(self) -> dict[str, dict[JobStatus, int]]:
        """Jobs per calling AE and state."""
        counts: dict[str, dict[JobStatus, int]] = {}
        for ae, status, count in self._rows(
            f"SELECT calling_ae, status, count(*) FROM {self.table} GROUP BY 1, 2"
        ):
            counts.setdefault(str(ae), {})[JobStatus(status)] = int(count)
        return counts


def job_from_row(row: Row, file_key: str) -> Job:
    """A Job from a row in the column order both job stores select; its sixth column is the
    store's own (SQLite: the file key; PostgreSQL: quarantined), so the caller names the
    file key."""
    (
        id_,
        status,
        sop_class,
        sop_instance,
        ae,
        _,
        attempts,
        due,
        error,
        owner,
        got,
        upd,
        outcome,
        size,
        warnings,
        header,
        held_since,
        released,
    ) = row
    return Job(
        id=int(id_),
        status=JobStatus(status),
        instance=InstanceInfo(sop_class, sop_instance, ae),
        file_key=file_key,
        attempts=attempts,
        next_attempt_at=due,
        last_error=error,
        locked_by=owner,
        received_at=got,
        updated_at=upd,
        outcome=outcome,
        size=int(size),
        warnings=warnings,
        header=header,
        held_since=held_since,
        released=bool(released),
    )


def attempt_values(job_id: int, owner: str, attempt: AttemptRecord) -> dict[str, Any]:
    """The named values of one attempt's row (the time is the store's clock)."""
    return {
        "job_id": job_id,
        "node": node_of(owner),
        "http_status": attempt.http_status,
        "error": attempt.error,
        "outcome": attempt.outcome,
        "locations": json.dumps(list(attempt.locations)) if attempt.locations else None,
        "warnings": attempt.warnings,
        "header": attempt.header,
    }


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _locations(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()
