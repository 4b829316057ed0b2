"""Command line entry point: `sr2fhir <command> ...`; main(argv) returns the exit status."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sr2fhir import __version__
from sr2fhir.commands import check_config, convert, db, queue, send_sample, serve, status
from sr2fhir.errors import ConfigError
from sr2fhir.exits import ExitStatus

COMMANDS = (
    convert,
    serve,
    queue,
    status,
    db,
    check_config,
    send_sample,
)  # each registers its sub-command(s)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sr2fhir",
        description="DICOM SR (TID 1500) to FHIR gateway",
    )
    parser.add_argument("--version", action="version", version=f"sr2fhir {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else ExitStatus.USAGE
    try:
        status: int = args.handler(args)
    except ConfigError as exc:
        print(f"sr2fhir: configuration error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return _reader_gone()
    return status


def _reader_gone() -> int:
    """stdout's reader closed the pipe (`sr2fhir queue list | head -2`): stop quietly. What
    is still buffered goes nowhere, so that the interpreter's last flush cannot fail again
    (the recipe of Python's signal module documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return ExitStatus.BROKEN_PIPE
