"""Readiness: is this gateway able to take an instance and deliver it right now?

Four checks: the SCP's port(s) are listening,
the spool's folder takes a file, has at least spool.min_free_bytes free and its job database
answers, every worker is alive, and
the sink can be reached (its own probe: outbox folder writable, or the FHIR server's
/metadata answers 2xx within `http.check_timeout`; that answer is reused for a few seconds
so probes do not load the server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sr2fhir.delivery import Sink
from sr2fhir.errors import Sr2FhirError
from sr2fhir.spool import Spool

SINK_CACHE = 5.0  # seconds a sink's answer is reused
TCP_LISTEN = "0A"  # st column of /proc/net/tcp


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_listening(ports: list[int]) -> Check:
    """Each SCP port is in LISTEN state, read from /proc/net/tcp{,6}: no connection is made
    (a probe connection would take a pending-connection slot and a line in the DICOM log)."""
    if not ports:
        return Check("scp", False, "not listening")
    listening = listening_ports()
    if listening is None:  # no /proc (not Linux): trust the bound sockets
        return Check("scp", True, f"port(s) {_join(ports)} bound")
    missing = [port for port in ports if port not in listening]
    if missing:
        return Check("scp", False, f"port(s) {_join(missing)} not listening")
    return Check("scp", True, f"listening on port(s) {_join(ports)}")


def listening_ports(proc: Path = Path("/proc/net")) -> set[int] | None:
    """TCP ports in LISTEN state on this host (IPv4 and IPv6), or None without /proc."""
    found: set[int] = set()
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN:
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found if readable else None


def _join(ports: list[int]) -> str:
    return ", ".join(map(str, ports))


def check_spool(spool: Spool) -> Check:
    """Fails naming the disk when the data folder is full or below spool.min_free_bytes."""
    shortage = spool.shortage()
    if shortage is not None:
        return Check("spool", False, f"{shortage}: C-STOREs are refused")
    try:
        spool.check_writable()
        spool.counts()
    except Sr2FhirError as exc:
        return Check("spool", False, str(exc))
    return Check("spool", True, "writable")


def check_workers(alive: int, total: int) -> Check:
    return Check("workers", alive == total and total > 0, f"{alive} of {total} alive")


class SinkProbe:
    """Can Bundles be delivered? The sink's own probe (Sink.probe: the outbox folder is
    writable, the FHIR server's /metadata answers), its answer reused for SINK_CACHE s so
    that probes do not load a FHIR server."""

    def __init__(self, sink: Sink, timeout: float, clock: Callable[[], float] = time.monotonic):
        self.sink = sink
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Check] | None = None

    def __call__(self) -> Check:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] > SINK_CACHE:
                answer = self.sink.probe(self.timeout)
                self._cached = (now, Check("sink", answer.ok, answer.detail))
            return self._cached[1]
