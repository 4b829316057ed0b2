"""What the C-STORE handler itself costs per instance, without network or disk.

    python3 benchmarks/store_handler.py [--count 2000]

Runs sr2fhir's StoreHandler on a stand-in C-STORE event (the benchmark report, encoded in
each accepted transfer syntax) with a receive that stores nothing, and times separately the
checks it makes before storing: the Affected UIDs are UIDs, and the data set's own SOP
Class/Instance UID are the Affected ones (read from its first elements, scp/identity.py).
The rest of a C-STORE -- pynetdicom's ~6 ms, the fsyncs -- is benchmarks/ingest.py's.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sr2fhir.mapping.read import dataset_size
from sr2fhir.scp.handlers import StoreHandler, check_dataset, check_request
from sr2fhir.scp.server import TRANSFER_SYNTAXES
from sr2fhir.spool import InstanceInfo
from tests.support.sr.benchmark import benchmark_report


def encoded(syntax: str) -> bytes:
    """The benchmark report's data set as a sender would send it in `syntax`."""
    ds = benchmark_report(1)
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    data = buffer.getvalue()
    return data[len(data) - dataset_size(data) :]


def event(data: bytes, syntax: str, info: InstanceInfo) -> SimpleNamespace:
    request = SimpleNamespace(
        AffectedSOPClassUID=info.sop_class_uid, AffectedSOPInstanceUID=info.sop_instance_uid
    )
    return SimpleNamespace(
        assoc=SimpleNamespace(requestor=SimpleNamespace(ae_title="BENCH")),
        request=request,
        context=SimpleNamespace(transfer_syntax=syntax),
        encoded_dataset=lambda include_meta=True: data,
    )


def per_call(work: Callable[[], object], count: int) -> float:
    work()
    started = time.perf_counter()
    for _ in range(count):
        work()
    return (time.perf_counter() - started) / count


def measure(syntax: str, info: InstanceInfo, count: int) -> tuple[float, float]:
    """Seconds per call: the whole handler, and its checks alone."""
    data = encoded(syntax)
    handler = StoreHandler(lambda data, instance: 1)

    def checks() -> None:
        check_request(info)
        check_dataset(info, data, syntax)

    whole = per_call(lambda: handler(event(data, syntax, info)), count)
    return whole, per_call(checks, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    ds = benchmark_report(1)
    info = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "BENCH")
    print(f"{'transfer syntax':<36} {'whole handler':>14} {'the checks':>12}")
    for syntax in TRANSFER_SYNTAXES:
        whole, checks = measure(syntax, info, args.count)
        print(f"{syntax.name:<36} {whole * 1e6:11.1f} us {checks * 1e6:9.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
