"""The gateway as a real process: `python -m sr2fhir serve` in its own process group, its log,
outbox and queue; the environment for its DICOM TLS listener."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import REPO
from tests.support.pki import Pki
from tests.support.processes import stop_process, tail, wait_until

LISTENING = re.compile(r"listening on [^ ]+:(\d+)")
TLS_LISTENING = re.compile(r"listening on [^ ]+:(\d+) \(DICOM TLS")


def outbox_uids(outbox: Path) -> set[str]:
    """The SOP Instance UIDs whose Bundle is in the outbox folder."""
    return {p.name[: -len(".json")] for p in outbox.glob("*.json")} if outbox.is_dir() else set()


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first match of `pattern` in the gateway's log, polled until it is written."""
        compiled = re.compile(pattern)
        return wait_until(
            lambda: compiled.search(self.log_text()), timeout, f"{pattern!r} in the gateway log"
        )

    def queue(self, *args: str) -> str:
        """What `sr2fhir queue --data-dir DATA ARGS...` prints (it must succeed)."""
        command = [sys.executable, "-m", "sr2fhir", "queue", "--data-dir", str(self.data_dir)]
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, cwd=REPO, check=True, timeout=60
        )
        return result.stdout

    def job_counts(self) -> Counter[str]:
        """Jobs per state, as `sr2fhir queue status` counts them (not its "LOCKED by" lines)."""
        rows = [line.split() for line in self.queue("status").splitlines()]
        return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2})


def start_gateway(
    data_dir: Path,
    *args: str,
    port: int = 0,
    env: dict[str, str] | None = None,
    log_name: str = "gateway.log",
) -> GatewayProcess:
    """`python -m sr2fhir serve` in its own process group; returns once it listens."""
    log_path = data_dir.parent / log_name
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sr2fhir", "serve", "--data-dir", str(data_dir)]
    command += ["--port", str(port), "--ae-title", "SR2FHIR", *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with open(log_path, "ab") as log_file:
        start_offset = log_file.tell()
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
            start_new_session=True,
        )

    def bound_port() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited with {proc.returncode}:\n{tail(log_path)}")
        text = log_path.read_bytes()[start_offset:].decode(errors="replace")
        match = LISTENING.search(text)
        return int(match.group(1)) if match else None

    try:
        bound = wait_until(bound_port, 60, "the gateway to listen")
    except BaseException:
        stop_process(proc, signal.SIGKILL)
        raise
    return GatewayProcess(proc, bound, data_dir, log_path)


@contextmanager
def running_gateway(data_dir: Path, *args: str, **kwargs: Any) -> Iterator[GatewayProcess]:
    gateway = start_gateway(data_dir, *args, **kwargs)
    try:
        yield gateway
    finally:
        stop_process(gateway.proc)


def gateway_tls_env(pki: Pki, tls_port: int = 0) -> dict[str, str]:
    """SR2FHIR_DICOM_TLS_* for a gateway subprocess: TLS with client certificates required."""
    return {
        "SR2FHIR_DICOM_TLS_PORT": str(tls_port),
        "SR2FHIR_DICOM_TLS_CERT": str(pki.server.cert),
        "SR2FHIR_DICOM_TLS_KEY": str(pki.server.key),
        "SR2FHIR_DICOM_TLS_CA": str(pki.ca),
    }


def gateway_tls_port(gateway: GatewayProcess) -> int:
    """The TLS port the gateway logged at start (dicom.tls_port 0 = any free port)."""
    return int(gateway.wait_for_log(TLS_LISTENING.pattern).group(1))
