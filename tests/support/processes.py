"""Processes and ports for tests with real peers: required tools, free ports, polling with a
deadline, and stopping a process group for good. Nothing here sleeps to wait for readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


def require_executable(path: str) -> str:
    """The tool's path; skip without it unless in CI (CI=true), where it must exist."""
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing in CI (.ci/run installs dcmtk and Orthanc)")
    pytest.skip(f"{path} is not installed")
    raise AssertionError("unreachable")


def free_port() -> int:
    """A TCP port the OS just handed out (for peers whose config needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def exited(proc: subprocess.Popen[Any]) -> bool:
    """False while `proc` runs; fails the wait (an AssertionError) once it has exited."""
    if proc.poll() is not None:
        raise AssertionError(f"peer exited early with {proc.returncode}")
    return False


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Signal the process group, wait; SIGKILL if it does not go."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with suppress(ProcessLookupError):  # leftovers in the group (worker processes) too
        os.killpg(proc.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
