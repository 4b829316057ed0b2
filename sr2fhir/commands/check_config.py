"""`sr2fhir check-config [--config FILE]`: validate and print the effective configuration."""

from __future__ import annotations

import argparse

from sr2fhir.config import add_config_flags, config_from_args, dump_config
from sr2fhir.config.preflight import preflight
from sr2fhir.exits import ExitStatus


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate the configuration (and the files it names) and print it, secrets redacted",
        description="Print the effective configuration: defaults, file, SR2FHIR_* environment.",
    )
    add_config_flags(parser, serve=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    preflight(config)
    print(dump_config(config), end="")
    return ExitStatus.OK
