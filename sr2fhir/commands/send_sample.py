"""`sr2fhir send-sample`: send the sample TID 1500 report shipped with sr2fhir to a gateway
(the one of --config by default), to see a first Bundle arrive. One line says what happened.

The sample is synthetic (tools/sample_sr.py makes it): no person's data.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import sys
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from sr2fhir.config import add_config_flags, config_from_args
from sr2fhir.exits import ExitStatus
from sr2fhir.log import setup_logging

SAMPLE = "data/sample-sr.dcm"
CALLING_AE = "SR2FHIR-SAMPLE"
ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def sample_path() -> Path:
    """Where the installed package keeps the sample."""
    return Path(str(importlib.resources.files("sr2fhir").joinpath(SAMPLE)))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send-sample",
        help="send the shipped sample SR (synthetic) to a running gateway over DICOM",
        description=(
            "C-STORE the sample TID 1500 report to the gateway of the configuration (its "
            "dicom.port and dicom.ae_title, on this machine) or to --host/--port/--aec."
        ),
    )
    add_config_flags(parser)
    parser.add_argument("--host", help="the gateway's address (default: this machine)")
    parser.add_argument("--port", type=int, help="its DICOM port (default: dicom.port)")
    parser.add_argument("--aec", metavar="AE", help="its AE title (default: dicom.ae_title)")
    parser.add_argument(
        "--aet", metavar="AE", default=CALLING_AE, help=f"our AE title (default {CALLING_AE})"
    )
    parser.add_argument(
        "--path", action="store_true", help="print where the sample file is, send nothing"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = sample_path()
    if args.path:
        print(path)
        return ExitStatus.OK
    config = config_from_args(args)
    host = args.host or ANY_ADDRESS.get(config.dicom.host, config.dicom.host)
    port = args.port if args.port is not None else config.dicom.port
    called = args.aec or config.dicom.ae_title
    if port is None:
        print("sr2fhir send-sample: dicom.port is null (TLS only): give --port", file=sys.stderr)
        return ExitStatus.USAGE
    setup_logging("WARNING")
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # our one line says it all
    where = f"{called} at {host}:{port}"
    text, ok = send(path, host, port, called, args.aet)
    if ok:
        print(f"sample SR sent to {where}: {text}")
        return ExitStatus.OK
    print(f"sr2fhir send-sample: not stored by {where}: {text}", file=sys.stderr)
    return ExitStatus.FAILED


def send(path: Path, host: str, port: int, called: str, calling: str) -> tuple[str, bool]:
    """C-STORE the file; (what happened in words, stored or not)."""
    from pynetdicom import AE

    ds = dcmread(path)
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc: Any = ae.associate(host, port, ae_title=called)
    if assoc.is_rejected:
        return (
            f"association rejected (is {calling} in the gateway's dicom.allowed_callers? "
            "--aet AE sends as another calling AE)",
            False,
        )
    if not assoc.is_established:
        return "no association (is the gateway running there? wrong host or port?)", False
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    code = getattr(status, "Status", None)
    if code is None:
        return "no answer to the C-STORE", False
    uid = ds.SOPInstanceUID
    if code == 0:
        return f"stored (0x0000), SOP Instance UID {uid}", True
    comment = getattr(status, "ErrorComment", "")
    return f"refused (0x{code:04X}{': ' + str(comment) if comment else ''})", False
