"""`sr2fhir db upgrade|status`: create or upgrade the job database's schema, or show its
version beside the one this sr2fhir needs.

With spool.backend postgresql the schema is versioned in the database (spool.pg_schema);
`serve` refuses a version it does not know, so upgrading is this explicit step, run once
(by one node, or a one-shot job before the nodes start). With sqlite the job table is
brought up to date whenever it is opened; these commands then only say where it stands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from sr2fhir.config import Config, SpoolBackend, add_config_flags, config_from_args
from sr2fhir.errors import SpoolError
from sr2fhir.exits import ExitStatus
from sr2fhir.spool import database_versions, upgrade_database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="create, upgrade or inspect the job database")
    add_config_flags(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "upgrade", help="create the schema or bring it to this version (safe to repeat)"
    ).set_defaults(handler=upgrade)
    actions.add_parser(
        "status", help="the database's schema version and the one this sr2fhir needs"
    ).set_defaults(handler=status)


def _where(config: Config) -> str:
    if config.spool.backend is SpoolBackend.POSTGRESQL:
        return "postgresql job database"
    return f"sqlite job database in {config.spool.path}"


def upgrade(args: argparse.Namespace) -> int:
    return _answer(args, "upgrade", upgrade_database, _upgraded)


def status(args: argparse.Namespace) -> int:
    """Exit 0 only when the database is at the version this sr2fhir needs."""
    return _answer(args, "status", database_versions, _standing)


def _upgraded(before: int, after: int) -> tuple[str, bool]:
    if before == after:
        return f"schema version {after}, up to date", True
    return f"schema upgraded from version {before} to {after}", True


def _standing(found: int, needed: int) -> tuple[str, bool]:
    state = "up to date" if found == needed else "run `sr2fhir db upgrade`"
    if found > needed:
        state = "newer than this sr2fhir: run a newer sr2fhir"
    return f"schema version {found}, this sr2fhir needs {needed} ({state})", found == needed


def _answer(
    args: argparse.Namespace,
    action: str,
    ask: Callable[[Config], tuple[int, int]],
    describe: Callable[[int, int], tuple[str, bool]],
) -> int:
    """Ask the database (`ask` -> two versions), print one line, exit 0 when it is right."""
    config = config_from_args(args)
    try:
        versions = ask(config)
    except SpoolError as exc:
        print(f"sr2fhir db {action}: {exc}", file=sys.stderr)
        return ExitStatus.FAILED
    line, right = describe(*versions)
    print(f"{_where(config)}: {line}")
    return ExitStatus.OK if right else ExitStatus.FAILED
