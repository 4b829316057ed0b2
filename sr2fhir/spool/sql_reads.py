"""The read side both SQL back ends share: one job, jobs of a state, counts per state.

Each back end names its table, its columns and its driver's placeholder, and says how to run
a query and how a row becomes a Job.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from sr2fhir.spool.model import Job, JobStatus

Row = tuple[Any, ...]


class JobReads(abc.ABC):
    table: ClassVar[str]
    columns: ClassVar[str]
    mark: ClassVar[str]  # the driver's placeholder: "?" (sqlite3) or "%s" (psycopg)

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
