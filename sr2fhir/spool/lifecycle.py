"""The report lifecycle record (docs/gateway.md, "A report's life"): for each SR the gateway
saw, its predecessors, who superseded or rejected it, and the resources it produced as they
were last delivered -- so a revision or a rejection note can retire them later, with no
FHIR server to read from (outbox) and across restarts.

Both job stores keep it in two tables (schema step LIFECYCLE_STEP) and run the functions here
inside their own transactions, the job's update in the same commit: `begin_*` when the worker
has mapped an instance and before it delivers, `finish` with the job's DONE. The rows a change
touches are locked first (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write lock of BEGIN
IMMEDIATE), and a change marks them busy with its job until it finishes: two nodes working on
two revisions of one report at once are serialised, the later one waits (WAIT) and never
builds on a chain that is about to change.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

WAIT_DELAY = 2.0  # seconds before a job that waited for another one's change runs again


class LifecycleDecision(enum.Enum):
    """What the worker does with an instance once its place in the chain is known."""

    DELIVER = "deliver"  # deliver (and retire `retire`)
    SUPERSEDED = "superseded"  # a successor was seen first: recorded, nothing delivered
    REJECTED = "rejected"  # a rejection note came first: recorded, nothing delivered
    WAIT = "wait"  # another job is changing this chain now: the job went back to READY


@dataclass(frozen=True, slots=True)
class TrackedResource:
    """One resource an SR produced, as the gateway last PUT it (references literal)."""

    resource_type: str
    resource_id: str
    resource: dict[str, Any]
    current: bool = True  # False once retired (entered-in-error, inactive or deleted)
    released: bool = False  # once delivered as final, amended or corrected

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


@dataclass(frozen=True, slots=True)
class ReportClaim:
    """An SR about to be delivered: its identity, its links, the resources it would PUT."""

    sop_instance_uid: str
    predecessors: tuple[str, ...] = ()
    identical: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # "Type/id"


@dataclass(frozen=True, slots=True)
class RejectionClaim:
    """An IHE IOCM rejection note (KOS) and the SR instances it rejects."""

    kos_uid: str
    code: str  # DCM 113001, 113037, 113038 or 113039
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LifecycleView:
    """The answer of begin_*: what to do, and what the chain holds that matters."""

    decision: LifecycleDecision
    detail: str = ""
    replaced: tuple[str, ...] = ()  # delivered predecessors (the Provenance's entities)
    retire: tuple[TrackedResource, ...] = ()  # current resources the change retires
    earlier: dict[str, TrackedResource] = field(default_factory=dict)  # carried forward


@dataclass(frozen=True, slots=True)
class LifecycleUpdate:
    """What finish records with the job's DONE."""

    sop_instance_uid: str
    delivered: tuple[TrackedResource, ...] = ()  # now owned by this SR, current
    retired: tuple[TrackedResource, ...] = ()  # no longer current (owners unchanged)
    note: str | None = None  # the job's outcome line


class Cursor(Protocol):
    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """sqlite3.Connection and the PostgreSQL connection both fit."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


@dataclass(frozen=True, slots=True)
class Tables:
    """A back end's names: the two lifecycle tables, the job table, its placeholder, the
    clause that locks selected rows, and its clock in SQL."""

    reports: str
    resources: str
    jobs: str
    mark: str
    lock: str
    now: str


@dataclass(frozen=True, slots=True)
class _Row:
    uid: str
    predecessors: tuple[str, ...]
    superseded_by: str | None
    rejected_by: str | None
    rejection_code: str | None
    delivered: bool


def lifecycle_step(tables: Tables, flag: str) -> str:
    """The self-contained schema step that creates the two tables (`flag`: the integer or
    boolean-like column type of the back end)."""
    return f"""
CREATE TABLE {tables.reports} (
    sop_instance_uid text PRIMARY KEY,
    predecessors text NOT NULL DEFAULT '[]',
    identical text NOT NULL DEFAULT '[]',
    superseded_by text,
    rejected_by text,
    rejection_code text,
    seen {flag} NOT NULL DEFAULT 0,
    delivered {flag} NOT NULL DEFAULT 0,
    busy_job bigint,
    updated_at double precision NOT NULL
);
CREATE TABLE {tables.resources} (
    resource_type text NOT NULL,
    resource_id text NOT NULL,
    owner_uid text NOT NULL,
    resource text NOT NULL,
    current {flag} NOT NULL,
    released {flag} NOT NULL,
    PRIMARY KEY (resource_type, resource_id)
);
CREATE INDEX {tables.resources}_owner ON {tables.resources} (owner_uid, current);
"""


class Lifecycle:
    """The lifecycle tables inside one open transaction of a job store."""

    def __init__(self, db: Executor, tables: Tables) -> None:
        self.db = db
        self.t = tables

    def _marks(self, count: int) -> str:
        return ", ".join([self.t.mark] * count)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        result: list[Any] = self.db.execute(sql, tuple(params)).fetchall()
        return result

    # ------------------------------------------------------------ reading and locking

    def lock(self, uids: Iterable[str]) -> dict[str, _Row]:
        """Rows of `uids` (made when missing), locked in UID order (no deadlock between two
        changes that lock overlapping sets)."""
        wanted = sorted(set(uids))
        for uid in wanted:
            self.db.execute(
                f"INSERT INTO {self.t.reports} (sop_instance_uid, updated_at) "
                f"VALUES ({self.t.mark}, {self.t.now}) ON CONFLICT (sop_instance_uid) DO NOTHING",
                (uid,),
            )
        return self._read(wanted, self.t.lock)

    def _read(self, uids: Sequence[str], suffix: str = "") -> dict[str, _Row]:
        if not uids:
            return {}
        rows = self._rows(
            "SELECT sop_instance_uid, predecessors, superseded_by, rejected_by, rejection_code,"
            f" delivered FROM {self.t.reports} WHERE sop_instance_uid IN"
            f" ({self._marks(len(uids))}) ORDER BY sop_instance_uid {suffix}",
            uids,
        )
        return {
            r[0]: _Row(r[0], tuple(json.loads(r[1])), r[2], r[3], r[4], bool(r[5])) for r in rows
        }

    def busy_with(self, uids: Iterable[str], job_id: int) -> int | None:
        """A pending job (READY or LOCKED) other than `job_id` that is changing one of the
        rows; None when there is none (a job that finished or failed holds nothing)."""
        wanted = sorted(set(uids))
        rows = self._rows(
            f"SELECT r.busy_job FROM {self.t.reports} AS r JOIN {self.t.jobs} AS j"
            " ON j.id = r.busy_job WHERE j.status IN ('READY', 'LOCKED')"
            f" AND r.busy_job <> {self.t.mark}"
            f" AND r.sop_instance_uid IN ({self._marks(len(wanted))}) LIMIT 1",
            [job_id, *wanted],
        )
        return int(rows[0][0]) if rows else None

    def closure(self, start: Iterable[str], exclude: str) -> dict[str, _Row]:
        """`start` and, transitively, every predecessor they recorded (cycles cut)."""
        found: dict[str, _Row] = {}
        frontier = sorted(set(start) - {exclude})
        while frontier:
            rows = self._read(frontier)
            found.update(rows)
            following = {p for row in rows.values() for p in row.predecessors}
            frontier = sorted(following - set(found) - {exclude})
        return found

    def resources(self, where: str, params: Sequence[Any]) -> list[TrackedResource]:
        rows = self._rows(
            f"SELECT resource_type, resource_id, resource, current, released"
            f" FROM {self.t.resources} WHERE {where} ORDER BY resource_type, resource_id",
            params,
        )
        return [TrackedResource(r[0], r[1], json.loads(r[2]), bool(r[3]), bool(r[4])) for r in rows]

    def owned_current(self, owners: Sequence[str]) -> list[TrackedResource]:
        if not owners:
            return []
        where = f"current = 1 AND owner_uid IN ({self._marks(len(owners))})"
        return self.resources(where, owners)

    def owned_by(self, owners: Sequence[str], keys: Sequence[str]) -> list[TrackedResource]:
        """Resources of `owners` among `keys` ("Type/id"), current or not."""
        if not owners or not keys:
            return []
        where = (
            f"owner_uid IN ({self._marks(len(owners))}) AND "
            f"resource_type || '/' || resource_id IN ({self._marks(len(keys))})"
        )
        return self.resources(where, [*owners, *keys])

    # ------------------------------------------------------------ writing

    def mark(self, uids: Iterable[str], assignments: str, params: Sequence[Any] = ()) -> None:
        wanted = sorted(set(uids))
        if wanted:
            self.db.execute(
                f"UPDATE {self.t.reports} SET {assignments}, updated_at = {self.t.now}"
                f" WHERE sop_instance_uid IN ({self._marks(len(wanted))})",
                (*params, *wanted),
            )

    def record(self, claim: ReportClaim, busy_job: int | None) -> None:
        m = self.t.mark
        self.mark(
            [claim.sop_instance_uid],
            f"predecessors = {m}, identical = {m}, seen = 1, busy_job = {m}",
            (json.dumps(claim.predecessors), json.dumps(claim.identical), busy_job),
        )

    def store(self, owner: str, resource: TrackedResource) -> None:
        self.db.execute(
            f"INSERT INTO {self.t.resources} (resource_type, resource_id, owner_uid, resource,"
            f" current, released) VALUES ({self._marks(6)})"
            " ON CONFLICT (resource_type, resource_id) DO UPDATE SET"
            " owner_uid = EXCLUDED.owner_uid, resource = EXCLUDED.resource,"
            " current = EXCLUDED.current, released = EXCLUDED.released",
            (
                resource.resource_type,
                resource.resource_id,
                owner,
                json.dumps(resource.resource, separators=(",", ":")),
                int(resource.current),
                int(resource.released),
            ),
        )

    def retire(self, resource: TrackedResource) -> None:
        m = self.t.mark
        self.db.execute(
            f"UPDATE {self.t.resources} SET resource = {m}, current = 0"
            f" WHERE resource_type = {m} AND resource_id = {m}",
            (
                json.dumps(resource.resource, separators=(",", ":")),
                resource.resource_type,
                resource.resource_id,
            ),
        )

    def release_job(self, job_id: int) -> None:
        """The rows `job_id` held (its change is finished)."""
        self.db.execute(
            f"UPDATE {self.t.reports} SET busy_job = NULL WHERE busy_job = {self.t.mark}",
            (job_id,),
        )


def begin_report(lc: Lifecycle, job_id: int, claim: ReportClaim) -> LifecycleView:
    """Place an SR in its chain (module docstring); the caller defers the job on WAIT."""
    uid = claim.sop_instance_uid
    direct = set(claim.predecessors) - {uid}
    rows = lc.lock({uid} | direct)
    busy = lc.busy_with(rows, job_id)
    if busy is not None:
        return LifecycleView(LifecycleDecision.WAIT, f"waiting for job {busy} (same report)")
    me = rows[uid]
    if me.rejected_by is not None:
        lc.record(claim, None)
        detail = f"rejected by {me.rejected_by} (DCM {me.rejection_code}) before it arrived"
        return LifecycleView(LifecycleDecision.REJECTED, f"not delivered: {detail}")
    if me.superseded_by is not None:
        lc.record(claim, None)
        detail = f"not delivered: superseded by {me.superseded_by}"
        return LifecycleView(LifecycleDecision.SUPERSEDED, detail)
    chain = lc.closure(direct, exclude=uid)
    owners = sorted(chain)
    keys = set(claim.keys)
    retire = [r for r in lc.owned_current(owners) if r.key not in keys]
    earlier = {r.key: r for r in lc.owned_by(owners, sorted(keys))}
    m = lc.t.mark
    lc.mark([o for o in owners if chain[o].superseded_by is None], f"superseded_by = {m}", (uid,))
    lc.mark(owners, f"busy_job = {m}", (job_id,))
    lc.record(claim, job_id)
    replaced = tuple(o for o in owners if chain[o].delivered)
    return LifecycleView(LifecycleDecision.DELIVER, "", replaced, tuple(retire), earlier)


def begin_rejection(lc: Lifecycle, job_id: int, claim: RejectionClaim) -> LifecycleView:
    """Mark the targets rejected (the first note wins) and hand back what they still have
    current; targets never seen are remembered for when they arrive."""
    rows = lc.lock(claim.targets)
    busy = lc.busy_with(rows, job_id)
    if busy is not None:
        return LifecycleView(LifecycleDecision.WAIT, f"waiting for job {busy} (same report)")
    m = lc.t.mark
    fresh = [uid for uid, row in rows.items() if row.rejected_by is None]
    lc.mark(fresh, f"rejected_by = {m}, rejection_code = {m}", (claim.kos_uid, claim.code))
    lc.mark(rows, f"busy_job = {m}", (job_id,))
    delivered = sorted(uid for uid, row in rows.items() if row.delivered)
    unseen = len(rows) - len(delivered)
    detail = (
        f"rejection note DCM {claim.code} for {len(rows)} SR(s): "
        f"{len(delivered)} delivered, {unseen} not delivered (remembered)"
    )
    retire = tuple(lc.owned_current(delivered))
    return LifecycleView(LifecycleDecision.DELIVER, detail, tuple(delivered), retire)


def finish(lc: Lifecycle, job_id: int, update: LifecycleUpdate) -> None:
    """Record what was delivered (in the transaction that marks the job DONE)."""
    for resource in update.delivered:
        lc.store(update.sop_instance_uid, resource)
    for resource in update.retired:
        lc.retire(resource)
    if update.delivered:
        lc.mark([update.sop_instance_uid], "delivered = 1")
    lc.release_job(job_id)
