"""Threads and memory of `sr2fhir serve` under careless and hostile DICOM peers.

    python3 benchmarks/hostile_peers.py [--connections 200] [--stream-mib 200]

Starts a gateway (one worker process) and reads /proc/PID/status of its main process:
threads at rest, with N idle TCP connections, with N connections that each sent one byte of a
PDU header and stalled; VmRSS before and while a PDU header claiming 4 GiB is followed by
--stream-mib MiB (as the A-ASSOCIATE-RQ, and as a P-DATA-TF in an established association);
how long a SIGTERM takes with idle connections open.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import rawpeer
from tests.support.processes import stop_process
from tests.support.serve import GatewayProcess, start_gateway

SETTLE = 2.0  # s for the gateway to take every connection before /proc is read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--stream-mib", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        gateway = start_gateway(
            Path(work) / "data", "--workers", "1", env={"SR2FHIR_HTTP_PORT": "0"}
        )
        try:
            measure_threads(gateway, args.connections)
            measure_memory(gateway, args.stream_mib)
            measure_stop(gateway)
        finally:
            stop_process(gateway.proc)
    return 0


def status(gateway: GatewayProcess, field: str) -> int:
    return rawpeer.proc_status(gateway.proc.pid, field)


def measure_threads(gateway: GatewayProcess, count: int) -> None:
    at_rest = status(gateway, "Threads")
    with rawpeer.idle_connections(gateway.port, count):
        time.sleep(SETTLE)
        idle = status(gateway, "Threads")
    stalled = [rawpeer.connect(gateway.port) for _ in range(count)]
    try:
        for sock in stalled:
            sock.sendall(b"\x01")
        time.sleep(SETTLE)
        started = status(gateway, "Threads")
    finally:
        for sock in stalled:
            sock.close()
    print(
        f"threads: at rest {at_rest}, with {count} idle connections {idle}, "
        f"with {count} that sent one byte and stalled {started}"
    )
    time.sleep(SETTLE)


def measure_memory(gateway: GatewayProcess, mib: int) -> None:
    cases: list[tuple[str, Callable[[], rawpeer.socket.socket], int]] = [
        ("A-ASSOCIATE-RQ", lambda: rawpeer.connect(gateway.port), 0x01),
        ("P-DATA-TF", lambda: rawpeer.establish(gateway.port), rawpeer.P_DATA_TF),
    ]
    for name, connect, pdu_type in cases:
        before = status(gateway, "VmRSS")
        with connect() as sock:
            sent, answer = rawpeer.answer_to_a_lying_header(sock, pdu_type, mib * 2**20)
            during = status(gateway, "VmRSS")  # the attacker's connection still open
        said = "A-ABORT" if answer == rawpeer.A_ABORT else "no answer"
        print(
            f"4 GiB {name}: {sent / 2**20:.0f} of {mib} MiB streamed, {said}; "
            f"VmRSS {before} -> {during} kB ({(during - before) / 1024:+.1f} MiB)"
        )


def measure_stop(gateway: GatewayProcess) -> None:
    with rawpeer.idle_connections(gateway.port, 20):
        began = time.monotonic()
        stop_process(gateway.proc, timeout=60)
        took = time.monotonic() - began
    print(f"SIGTERM with 20 idle connections: exit {gateway.proc.returncode} after {took:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
