"""The report lifecycle record in both job stores (spool.lifecycle): chains in and out of order,
rejection notes before and after their SR, and two changes of one chain taking turns."""

from __future__ import annotations

from sr2fhir.spool import Job, JobStatus, Spool
from sr2fhir.spool.lifecycle import (
    LifecycleDecision,
    LifecycleUpdate,
    RejectionClaim,
    ReportClaim,
    TrackedResource,
)
from tests.support.sr.part10 import tiny_sr_bytes, tiny_sr_info

WORKER = "node:1/w0.1"


def claimed(spool: Spool, uid: str) -> Job:
    spool.receive(tiny_sr_bytes(uid), tiny_sr_info(uid))
    job = spool.claim(WORKER)
    assert job is not None and job.sop_instance_uid == uid
    return job


def observation(id_: str, status: str = "final") -> TrackedResource:
    resource = {"resourceType": "Observation", "id": id_, "status": status}
    return TrackedResource("Observation", id_, resource, released=status == "final")


def deliver(spool: Spool, uid: str, *ids: str, predecessors: tuple[str, ...] = ()) -> Job:
    """Run one SR through begin/finish as the worker does, its resources all delivered."""
    job = claimed(spool, uid)
    keys = tuple(f"Observation/{i}" for i in ids)
    view = spool.begin_report(job, ReportClaim(uid, predecessors, (), keys))
    assert view.decision is LifecycleDecision.DELIVER, view.detail
    retired = tuple(
        TrackedResource(r.resource_type, r.resource_id, {**r.resource, "status": "x"}, False)
        for r in view.retire
    )
    update = LifecycleUpdate(uid, tuple(observation(i) for i in ids), retired)
    spool.finish_report(job, update)
    return job


def test_a_revision_retires_what_it_does_not_carry_forward_and_sees_what_it_does(
    any_spool: Spool,
) -> None:
    deliver(any_spool, "1.1", "carried", "dropped")
    job = claimed(any_spool, "1.2")
    claim = ReportClaim("1.2", ("1.1",), (), ("Observation/carried", "Observation/new"))
    view = any_spool.begin_report(job, claim)
    assert view.decision is LifecycleDecision.DELIVER
    assert [r.resource_id for r in view.retire] == ["dropped"]
    assert list(view.earlier) == ["Observation/carried"]
    assert view.earlier["Observation/carried"].released
    assert view.replaced == ("1.1",)


def test_a_chain_of_three_retires_through_every_link(any_spool: Spool) -> None:
    deliver(any_spool, "2.1", "a", "b", "c")
    deliver(any_spool, "2.2", "a", "b", predecessors=("2.1",))
    job = claimed(any_spool, "2.3")
    view = any_spool.begin_report(job, ReportClaim("2.3", ("2.2",), (), ("Observation/a",)))
    assert [r.resource_id for r in view.retire] == ["b"]  # c was retired by 2.2 already
    assert view.replaced == ("2.1", "2.2")


def test_a_predecessor_arriving_after_its_successor_is_recorded_not_delivered(
    any_spool: Spool,
) -> None:
    deliver(any_spool, "3.2", "a", predecessors=("3.1",))
    job = claimed(any_spool, "3.1")
    view = any_spool.begin_report(job, ReportClaim("3.1", (), (), ("Observation/a",)))
    assert view.decision is LifecycleDecision.SUPERSEDED
    assert view.detail == "not delivered: superseded by 3.2"
    any_spool.finish_report(job, LifecycleUpdate("3.1", note=view.detail))
    done = any_spool.get(job.id)
    assert done is not None and done.status is JobStatus.DONE
    assert done.last_error == "not delivered: superseded by 3.2"


def test_a_rejection_before_its_sr_is_remembered(any_spool: Spool) -> None:
    kos = claimed(any_spool, "4.9")
    view = any_spool.begin_rejection(kos, RejectionClaim("4.9", "113037", ("4.1",)))
    assert view.decision is LifecycleDecision.DELIVER and view.retire == ()
    assert "0 delivered, 1 not delivered" in view.detail
    any_spool.finish_report(kos, LifecycleUpdate("4.9", note=view.detail))
    job = claimed(any_spool, "4.1")
    view = any_spool.begin_report(job, ReportClaim("4.1", (), (), ("Observation/a",)))
    assert view.decision is LifecycleDecision.REJECTED
    assert view.detail == "not delivered: rejected by 4.9 (DCM 113037) before it arrived"


def test_a_rejection_after_its_sr_hands_back_its_current_resources(any_spool: Spool) -> None:
    deliver(any_spool, "5.1", "a", "b")
    kos = claimed(any_spool, "5.9")
    view = any_spool.begin_rejection(kos, RejectionClaim("5.9", "113001", ("5.1", "5.7")))
    assert sorted(r.resource_id for r in view.retire) == ["a", "b"]
    assert view.replaced == ("5.1",)
    assert "1 delivered, 1 not delivered" in view.detail


def test_two_changes_of_one_chain_take_turns(any_spool: Spool) -> None:
    deliver(any_spool, "6.1", "a")
    first = claimed(any_spool, "6.2")
    view = any_spool.begin_report(first, ReportClaim("6.2", ("6.1",), (), ("Observation/a",)))
    assert view.decision is LifecycleDecision.DELIVER  # 6.2 is being delivered now ...
    second = claimed(any_spool, "6.3")
    wait = any_spool.begin_report(second, ReportClaim("6.3", ("6.1",), (), ()))
    assert wait.decision is LifecycleDecision.WAIT  # ... so 6.3 does not build on 6.1 alone
    waiting = any_spool.get(second.id)
    assert waiting is not None and waiting.status is JobStatus.READY
    assert waiting.attempts == 0  # waiting is not a failed attempt
    kos = claimed(any_spool, "6.9")
    rejection = any_spool.begin_rejection(kos, RejectionClaim("6.9", "113001", ("6.1",)))
    assert rejection.decision is LifecycleDecision.WAIT
    any_spool.finish_report(first, LifecycleUpdate("6.2", (observation("a", "amended"),)))
    later = claimed(any_spool, "6.4")  # the chain is free again once 6.2 is finished
    view = any_spool.begin_report(later, ReportClaim("6.4", ("6.2",), (), ()))
    assert view.decision is LifecycleDecision.DELIVER
    assert [r.resource_id for r in view.retire] == ["a"]
