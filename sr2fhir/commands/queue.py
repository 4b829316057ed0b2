"""`sr2fhir queue status|list|show|retry|discard|purge`: look at and steer the job queue.

Safe while the gateway runs: each command is a few short transactions on the same spool (with
spool.backend postgresql: the database every node shares; LOCKED jobs name their node). The
commands call the same QueueApi (sr2fhir.ops.queue_api) as the operations endpoint's /api.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone

from sr2fhir.commands.data_folder import require_data_folder
from sr2fhir.config import add_config_flags, config_from_args
from sr2fhir.exits import ExitStatus
from sr2fhir.ops.queue_api import ActionReport, JobDetail, JobQuery, QueueApi
from sr2fhir.spool import JobStatus, SpoolRole, open_configured_spool

DAY = 86400.0
ROW = "{:>7} {:<7} {:>5} {:<20} {:<16} {:<64} {}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("queue", help="inspect and steer the job queue")
    add_config_flags(parser)
    actions = _Actions(parser.add_subparsers(dest="action", metavar="ACTION", required=True))
    actions.add_parser("status", help="job counts per state").set_defaults(handler=status)
    listing = actions.add_parser("list", help="the newest jobs (of a state), oldest first")
    listing.add_argument("--state", choices=[s.value for s in JobStatus], type=str.upper)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--ae", metavar="AE", help="only jobs from this calling AE title")
    listing.add_argument(
        "--q", metavar="TEXT", help="a job id, or the start of a SOP/Study Instance UID"
    )
    listing.set_defaults(handler=list_jobs)
    show_parser = actions.add_parser(
        "show", help="one job: last error, attempts, mapping warnings, header facts"
    )
    show_parser.add_argument("job_id", type=int, metavar="ID")
    show_parser.add_argument(
        "--with-phi",
        action="store_true",
        help="also show patient name, Patient ID and accession number",
    )
    show_parser.set_defaults(handler=show)
    retry_parser = actions.add_parser("retry", help="run a FAILED job (or all) again now")
    which = retry_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("job_id", type=int, nargs="?", metavar="ID")
    which.add_argument("--failed", action="store_true", help="every FAILED job")
    retry_parser.set_defaults(handler=retry)
    discard_parser = actions.add_parser(
        "discard", help="forget FAILED jobs (their files stay in quarantine/)"
    )
    chosen = discard_parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("job_ids", type=int, nargs="*", default=[], metavar="ID")
    chosen.add_argument(
        "--failed-older-than",
        type=float,
        metavar="DAYS",
        dest="days",
        help="every FAILED job last updated more than DAYS days ago",
    )
    chosen.add_argument("--all-failed", action="store_true", help="every FAILED job")
    discard_parser.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (scripts, cron)"
    )
    discard_parser.set_defaults(handler=discard)
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


def _open(args: argparse.Namespace) -> QueueApi | None:
    """The queue API over the configured spool; None (after one line) when there is none."""
    config = config_from_args(args)
    if not require_data_folder(config, f"queue {args.action}"):
        return None
    return QueueApi(open_configured_spool(config, SpoolRole.READER), config)


def _run(args: argparse.Namespace, command: Callable[[QueueApi], int]) -> int:
    api = _open(args)
    if api is None:
        return ExitStatus.FAILED
    try:
        return command(api)
    finally:
        api.spool.close()


def status(args: argparse.Namespace) -> int:
    def run(api: QueueApi) -> int:
        for state, count in api.spool.counts().items():
            print(f"{state.value:<7} {count}")
        for node, count in sorted(api.spool.holders().items()):
            print(f"LOCKED by {node} {count}")
        return ExitStatus.OK

    return _run(args, run)


def list_jobs(args: argparse.Namespace) -> int:
    try:
        query = JobQuery(
            state=JobStatus(args.state) if args.state else None,
            q=args.q,
            calling_ae=args.ae,
            limit=args.limit,
        )
    except ValueError as exc:
        print(f"sr2fhir queue list: {exc}", file=sys.stderr)
        return ExitStatus.USAGE

    def run(api: QueueApi) -> int:
        page = api.jobs(query, with_phi=False)
        header = ("ID", "STATE", "TRIES", "RECEIVED", "CALLING AE", "SOP INSTANCE UID", "HELD BY")
        print(ROW.format(*header))
        for job in reversed(page.jobs):
            when, held = _when(job.received_at), job.held_by or "-"
            print(
                ROW.format(
                    job.id,
                    job.state.value,
                    job.attempts,
                    when,
                    job.calling_ae,
                    job.sop_instance_uid,
                    held,
                )
            )
        return ExitStatus.OK

    return _run(args, run)


def show(args: argparse.Namespace) -> int:
    def run(api: QueueApi) -> int:
        detail = api.job(args.job_id, with_phi=args.with_phi)
        if detail is None:
            print(f"sr2fhir queue: no job {args.job_id}", file=sys.stderr)
            return ExitStatus.FAILED
        job = api.spool.get(args.job_id)
        print(describe(detail, job.file_key if job else "-", job.size if job else 0))
        return ExitStatus.OK

    return _run(args, run)


def retry(args: argparse.Namespace) -> int:
    def run(api: QueueApi) -> int:
        if args.failed:
            print(f"{len(api.retry(api.failed_ids()).done)} job(s) queued again")
            return ExitStatus.OK
        if not api.retry([args.job_id]).done:
            print(
                f"sr2fhir queue: job {args.job_id} does not exist or is not FAILED", file=sys.stderr
            )
            return ExitStatus.FAILED
        print(f"job {args.job_id} queued again")
        return ExitStatus.OK

    return _run(args, run)


def discard(args: argparse.Namespace) -> int:
    """Forget FAILED jobs by id, by age or all, after a confirmation (or --yes)."""
    if args.days is not None and args.days < 0:
        print("sr2fhir queue: --failed-older-than must be >= 0", file=sys.stderr)
        return ExitStatus.USAGE

    def run(api: QueueApi) -> int:
        if args.job_ids:
            ids, what = list(args.job_ids), f"{len(args.job_ids)} job(s) by id"
        elif args.all_failed:
            ids, what = api.failed_ids(), "every FAILED job"
        else:
            ids = api.failed_ids(time.time() - args.days * DAY)
            what = f"FAILED jobs last updated more than {args.days:g} day(s) ago"
        if not ids:
            print(f"no job to discard ({what}: none)")
            return ExitStatus.OK
        if not args.yes and not _confirm(f"discard {len(ids)} job(s) ({what})?"):
            return ExitStatus.USAGE
        report = api.discard(ids)
        print(discard_line(report, api.discard_keeps()))
        return ExitStatus.OK if not report.skipped else ExitStatus.FAILED

    return _run(args, run)


def _confirm(question: str) -> bool:
    """Ask on the terminal; without one, say to add --yes."""
    if not sys.stdin.isatty():
        print(
            f"sr2fhir queue discard: {question} -- not a terminal to ask on: add --yes",
            file=sys.stderr,
        )
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print("nothing discarded", file=sys.stderr)
        return False
    return True


def discard_line(report: ActionReport, kept: str) -> str:
    """One line: how many discarded, where their bytes are, how many skipped and why."""
    line = f"{len(report.done)} FAILED job(s) discarded ({kept})"
    if report.skipped:
        shown = "; ".join(f"job {k}: {v}" for k, v in list(report.skipped.items())[:5])
        more = ", ..." if len(report.skipped) > 5 else ""
        line += f", {len(report.skipped)} skipped ({shown}{more})"
    return line


def purge(args: argparse.Namespace) -> int:
    if args.days < 0:
        print("sr2fhir queue: --done-older-than must be >= 0", file=sys.stderr)
        return ExitStatus.USAGE

    def run(api: QueueApi) -> int:
        count = api.spool.purge_done(time.time() - args.days * DAY)
        print(f"{count} DONE job(s) purged")
        return ExitStatus.OK

    return _run(args, run)


def describe(detail: JobDetail, file_key: str, size: int) -> str:
    """`queue show`: the job's lines, its attempts, warnings and the kept answer."""
    job = detail.summary
    next_at = _when(detail.next_attempt_at) if detail.next_attempt_at is not None else "-"
    lines = [
        ("id", str(job.id)),
        ("state", job.state.value),
        ("sop_instance_uid", job.sop_instance_uid),
        ("sop_class_uid", job.sop_class_uid),
        ("calling_ae", job.calling_ae),
        ("attempts", str(job.attempts)),
        ("received", _when(job.received_at)),
        ("updated", _when(job.updated_at)),
        ("next_attempt", next_at),
        ("locked_by", job.held_by or "-"),
        ("file", file_key),
        ("size", f"{size} bytes"),
        ("last_error", job.last_error or "-"),
        *sorted(detail.header.items()),
    ]
    text = "\n".join(f"{key + ':':<18}{value}" for key, value in lines)
    for n, attempt in enumerate(detail.attempts, 1):
        status = attempt.http_status if attempt.http_status is not None else "-"
        done = attempt.error or f"ok, {len(attempt.locations)} location(s)"
        text += f"\nattempt {n}:        {_when(attempt.at)} {attempt.node or '-'} {status} {done}"
    if detail.warnings:
        text += f"\nwarnings ({len(detail.warnings)}, what the mapping left out):"
        for warning in detail.warnings:
            where = f" at {warning.get('item_path')}" if warning.get("item_path") else ""
            text += f"\n  {warning.get('code')}{where}: {warning.get('message')}"
    if detail.outcome is not None:
        text += "\noutcome (the FHIR server's OperationOutcome):\n"
        text += json.dumps(detail.outcome, indent=2)
    elif detail.answer is not None:
        text += "\nanswer (what the FHIR server sent, as received):\n" + detail.answer
    return text


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
