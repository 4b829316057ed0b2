"""Command line entry point: `sr2fhir <command> ...`; main(argv) returns the exit status."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from sr2fhir import __version__
from sr2fhir.errors import ConfigError

# Each module registers its sub-command(s); see sr2fhir/commands/.
COMMAND_MODULES = (
    "sr2fhir.commands.convert",
    "sr2fhir.commands.serve",
    "sr2fhir.commands.queue",
    "sr2fhir.commands.status",
    "sr2fhir.commands.check_config",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sr2fhir",
        description="DICOM SR (TID 1500) to FHIR gateway",
    )
    parser.add_argument("--version", action="version", version=f"sr2fhir {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module: CommandModule = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        status: int = args.handler(args)
    except ConfigError as exc:
        print(f"sr2fhir: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status
