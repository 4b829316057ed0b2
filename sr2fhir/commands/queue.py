"""`sr2fhir queue status|list|show|retry|release|purge`: look at and steer the job queue.

Safe while the gateway runs: each command is a few short transactions on the same spool (with
spool.backend postgresql: the database every node shares; LOCKED jobs name their node).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from sr2fhir.commands.data_folder import require_data_folder
from sr2fhir.config import add_config_flags, config_from_args
from sr2fhir.exits import ExitStatus
from sr2fhir.spool import Job, JobStatus, Spool, SpoolRole, open_configured_spool

DAY = 86400.0
ROW = "{:>7} {:<7} {:>5} {:<20} {:<16} {:<64} {}"
HELD_ROW = "{:>7} {:<20} {:<20} {:<64} {}"
WAITING = (JobStatus.READY, JobStatus.HELD)  # states with a next attempt


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("queue", help="inspect and steer the job queue")
    add_config_flags(parser)
    actions = _Actions(parser.add_subparsers(dest="action", metavar="ACTION", required=True))
    actions.add_parser("status", help="job counts per state").set_defaults(handler=status)
    listing = actions.add_parser("list", help="jobs, oldest first")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--state", choices=[s.value for s in JobStatus], type=str.upper)
    state.add_argument(
        "--held", action="store_true", help="HELD jobs: since when, next try, what is missing"
    )
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=list_jobs)
    show_parser = actions.add_parser("show", help="one job with its last error")
    show_parser.add_argument("job_id", type=int, metavar="ID")
    show_parser.set_defaults(handler=show)
    retry_parser = actions.add_parser("retry", help="run a FAILED job (or all) again now")
    which = retry_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("job_id", type=int, nargs="?", metavar="ID")
    which.add_argument("--failed", action="store_true", help="every FAILED job")
    retry_parser.set_defaults(handler=retry)
    release_parser = actions.add_parser(
        "release", help="deliver a HELD job now, with the references it has"
    )
    release_parser.add_argument("job_id", type=int, metavar="ID")
    release_parser.set_defaults(handler=release)
    purge_parser = actions.add_parser("purge", help="forget DONE jobs")
    purge_parser.add_argument(
        "--done-older-than", type=float, required=True, metavar="DAYS", dest="days"
    )
    purge_parser.set_defaults(handler=purge)


class _Actions:
    """The queue's sub-commands, each taking --config / --data-dir as the queue itself does."""

    def __init__(self, actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self.actions = actions

    def add_parser(self, name: str, help: str) -> argparse.ArgumentParser:
        parser = self.actions.add_parser(name, help=help)
        add_config_flags(parser, inherited=True)
        return parser


def _open(args: argparse.Namespace) -> Spool | None:
    """The spool of the configured data folder; None (after one line) when there is none."""
    config = config_from_args(args)
    if not require_data_folder(config, f"queue {args.action}"):
        return None
    return open_configured_spool(config, SpoolRole.READER)


def status(args: argparse.Namespace) -> int:
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        for state, count in spool.counts().items():
            print(f"{state.value:<7} {count}")
        for node, count in sorted(spool.holders().items()):
            print(f"LOCKED by {node} {count}")
    finally:
        spool.close()
    return ExitStatus.OK


def list_jobs(args: argparse.Namespace) -> int:
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        if args.held:
            _list_held(spool, args.limit)
            return ExitStatus.OK
        state = JobStatus(args.state) if args.state else None
        header = ("ID", "STATE", "TRIES", "RECEIVED", "CALLING AE", "SOP INSTANCE UID", "LOCKED BY")
        print(ROW.format(*header))
        for job in spool.list_jobs(state, args.limit):
            when, ae, uid = _when(job.received_at), job.instance.calling_ae, job.sop_instance_uid
            held = job.locked_by or "-"
            print(ROW.format(job.id, job.status.value, job.attempts, when, ae, uid, held))
    finally:
        spool.close()
    return ExitStatus.OK


def _list_held(spool: Spool, limit: int) -> None:
    print(HELD_ROW.format("ID", "HELD SINCE", "NEXT TRY", "SOP INSTANCE UID", "WAITING FOR"))
    for job in spool.list_jobs(JobStatus.HELD, limit):
        since = _when(job.held_since) if job.held_since is not None else "-"
        due = _when(job.next_attempt_at)
        print(HELD_ROW.format(job.id, since, due, job.sop_instance_uid, job.last_error or "-"))


def show(args: argparse.Namespace) -> int:
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        job = spool.get(args.job_id)
        if job is None:
            print(f"sr2fhir queue: no job {args.job_id}", file=sys.stderr)
            return ExitStatus.FAILED
        print(_describe(job))
    finally:
        spool.close()
    return ExitStatus.OK


def retry(args: argparse.Namespace) -> int:
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        if args.failed:
            print(f"{spool.retry_failed()} job(s) queued again")
            return ExitStatus.OK
        if not spool.retry(args.job_id):
            print(
                f"sr2fhir queue: job {args.job_id} does not exist or is not FAILED", file=sys.stderr
            )
            return ExitStatus.FAILED
        print(f"job {args.job_id} queued again")
    finally:
        spool.close()
    return ExitStatus.OK


def release(args: argparse.Namespace) -> int:
    """A HELD job is due now and its workers deliver it with the references it has."""
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        if not spool.release_held(args.job_id):
            print(
                f"sr2fhir queue: job {args.job_id} does not exist or is not HELD", file=sys.stderr
            )
            return ExitStatus.FAILED
    finally:
        spool.close()
    print(f"job {args.job_id} released: delivered next with the references it has")
    return ExitStatus.OK


def purge(args: argparse.Namespace) -> int:
    if args.days < 0:
        print("sr2fhir queue: --done-older-than must be >= 0", file=sys.stderr)
        return ExitStatus.USAGE
    spool = _open(args)
    if spool is None:
        return ExitStatus.FAILED
    try:
        count = spool.purge_done(time.time() - args.days * DAY)
    finally:
        spool.close()
    print(f"{count} DONE job(s) purged")
    return ExitStatus.OK


def _describe(job: Job) -> str:
    lines = [
        ("id", str(job.id)),
        ("state", job.status.value),
        ("sop_instance_uid", job.sop_instance_uid),
        ("sop_class_uid", job.instance.sop_class_uid),
        ("calling_ae", job.instance.calling_ae),
        ("attempts", str(job.attempts)),
        ("received", _when(job.received_at)),
        ("updated", _when(job.updated_at)),
        ("next_attempt", _when(job.next_attempt_at) if job.status in WAITING else "-"),
        ("held_since", _when(job.held_since) if job.held_since is not None else "-"),
        ("released", "yes" if job.released else "no"),
        ("locked_by", job.locked_by or "-"),
        ("file", job.file_key),
        ("size", f"{job.size} bytes"),
        ("last_error", job.last_error or "-"),
    ]
    text = "\n".join(f"{key + ':':<18}{value}" for key, value in lines)
    if job.outcome:
        text += "\n" + _describe_answer(job.outcome)
    return text


def _describe_answer(kept: str) -> str:
    """The server's OperationOutcome, pretty; any other answer as it was kept (its start)."""
    try:
        outcome = json.loads(kept)
    except ValueError:
        outcome = None
    if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
        return "outcome (the FHIR server's OperationOutcome):\n" + json.dumps(outcome, indent=2)
    return "answer (what the FHIR server sent, as received):\n" + kept


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
