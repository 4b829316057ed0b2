"""`sr2fhir check-config [--config FILE]`: validate and print the effective configuration."""

from __future__ import annotations

import argparse
import sys

from sr2fhir.config import add_config_flags, dump_config
from sr2fhir.config.flags import config_and_problems_from_args
from sr2fhir.config.preflight import PortInUse, preflight_problems
from sr2fhir.errors import ConfigError, ConfigProblem
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
    """Every problem at once: those of the values, then those of what the right values name
    (a wrong value is left at its default for the second step, and not reported twice)."""
    config, problems = config_and_problems_from_args(args)
    wrong = {problem.key for problem in problems}
    found = [p for p in preflight_problems(config, ops_endpoint=True) if p.key not in wrong]
    for notice in (p for p in found if _only_a_warning(p)):
        print(f"sr2fhir check-config: warning: {notice.text}", file=sys.stderr)
    problems += [problem for problem in found if not _only_a_warning(problem)]
    if problems:
        raise ConfigError.of(problems)
    print(dump_config(config), end="")
    return ExitStatus.OK


def _only_a_warning(problem: ConfigProblem) -> bool:
    """A port in use (the gateway of this configuration may be the one running), and the
    operations endpoint's address (serve starts without it, logging an ERROR); not the queue
    API's token, which serve refuses to start without."""
    endpoint = problem.key.startswith("http.") and not problem.key.startswith("http.api_token")
    return isinstance(problem, PortInUse) or endpoint
