"""`sr2fhir serve`: run the gateway (Storage SCP -> spool -> workers -> outbox)."""

from __future__ import annotations

import argparse
import logging
import sys

from sr2fhir.config import add_config_flags, config_from_args
from sr2fhir.config.preflight import preflight
from sr2fhir.daemon import Gateway
from sr2fhir.errors import SpoolError
from sr2fhir.exits import ExitStatus
from sr2fhir.log import setup_logging
from sr2fhir.runtime import configure_pydicom_reading, tune_garbage_collector

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="receive SRs over DICOM and deliver one Bundle per SR",
        description=(
            "Listen for C-STORE of SR documents, store each durably before answering, map it "
            "and deliver the Bundle (default: <data-dir>/outbox/<SOPInstanceUID>.json)."
        ),
    )
    add_config_flags(parser, serve=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    preflight(config)
    setup_logging(config.logging.level.value, config.logging.format.value)
    configure_pydicom_reading()
    gateway = Gateway(config)
    gateway.install_signal_handlers()
    tune_garbage_collector()
    try:
        gateway.start()
    except (SpoolError, OSError) as exc:
        print(f"sr2fhir serve: cannot start: {exc}", file=sys.stderr)
        return ExitStatus.FAILED
    try:
        return gateway.run_until_signalled()
    finally:
        gateway.stop()  # idempotent; also on an unexpected error in the supervision loop
