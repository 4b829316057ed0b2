"""dcmtk as the peer: storescu / echoscu as senders (plain or TLS), storescp as a receiver.

The Debian binaries, not the pynetdicom shims of the same name on PATH; TCP_NODELAY=1 in
their environment (dcmtk and Orthanc are ~40x slower on loopback without it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.pki import TlsIdentity
from tests.support.processes import (
    accepts_tcp,
    exited,
    free_port,
    require_executable,
    stop_process,
    wait_until,
)

STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
ECHOSCU = "/usr/bin/echoscu"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def storescu(
    port: int,
    files: Sequence[Path],
    *,
    calling: str = "TESTSCU",
    called: str = "SR2FHIR",
    extra: Sequence[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """dcmtk storescu -R (propose only what the files need; needed for Comprehensive 3D SR)."""
    command = [require_executable(STORESCU), "-R", "-aet", calling, "-aec", called, *extra]
    command += ["127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(
        command, env=DCMTK_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def echoscu(
    port: int, *, calling: str = "TESTSCU", extra: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """dcmtk echoscu (C-ECHO); `extra` options such as dcmtk_tls_flags(...)."""
    command = [require_executable(ECHOSCU), *extra, "-aet", calling, "-aec", "SR2FHIR"]
    command += ["127.0.0.1", str(port)]
    return subprocess.run(
        command, env=DCMTK_ENV, capture_output=True, text=True, timeout=30, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """What a dcmtk tool printed, lower case (its messages are matched case-insensitively)."""
    return (result.stdout + result.stderr).lower()


def dcmtk_tls_flags(identity: TlsIdentity | None, trusted_ca: Path) -> list[str]:
    """storescu/echoscu options: TLS with this client certificate (None: anonymous TLS,
    no certificate), trusting `trusted_ca` for the gateway's certificate."""
    if identity is None:
        return ["+tla", "+cf", str(trusted_ca)]
    return ["+tls", str(identity.key), str(identity.cert), "+cf", str(trusted_ca)]


@contextmanager
def running_storescp(out_dir: Path) -> Iterator[int]:
    """dcmtk's own storescp writing to `out_dir`; yields its port."""
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [require_executable(STORESCP), "-aet", "STORESCP", "-od", str(out_dir), str(port)],
        env=DCMTK_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: accepts_tcp(port) or exited(proc), 30, "storescp to listen")
        yield port
    finally:
        stop_process(proc)
