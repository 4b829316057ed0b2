"""The systemd unit: verified by systemd-analyze, and its command run as systemd would run it
(a real `sr2fhir serve` with NOTIFY_SOCKET and WATCHDOG_USEC pointing at a socket we bind)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.processes import stop_process

pytestmark = pytest.mark.integration

UNIT = REPO / "config" / "sr2fhir.service"
SAMPLE_CONFIG = REPO / "config" / "sr2fhir.yaml"
VENV_SR2FHIR = "/opt/sr2fhir/venv/bin/sr2fhir"  # where docs/operations.md installs it


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_has_readiness_a_private_user_state_restart_and_a_sandbox() -> None:
    service = unit()["Service"]
    expected = {
        "Type": "notify",
        "DynamicUser": "yes",
        "StateDirectory": "sr2fhir",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "KillMode": "mixed",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert int(service["WatchdogSec"]) > 0
    assert service["ExecStart"].split()[:2] == [VENV_SR2FHIR, "serve"]
    assert "python3 -m venv /opt/sr2fhir/venv" in UNIT.read_text()  # the install it expects
    assert VENV_SR2FHIR in (REPO / "docs" / "operations.md").read_text()


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    executable = shutil.which("sr2fhir") or sys.executable  # verify wants an existing binary
    copy = tmp_path / "sr2fhir.service"
    copy.write_text(UNIT.read_text().replace(VENV_SR2FHIR, executable))

    verified = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )

    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "" and verified.stdout.strip() == ""  # no warning at all
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for sr2fhir.service: ([0-9.]+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 2.0  # systemd's scale: 0 (locked down) .. 10 (exposed)


def exec_start(data_dir: Path) -> list[str]:
    """The unit's ExecStart, as systemd would run it here: %S is the state root, the config
    is the sample file, the program is this checkout."""
    words = shlex.split(unit()["Service"]["ExecStart"])
    assert words[0] == VENV_SR2FHIR
    args = [w.replace("%S/sr2fhir", str(data_dir)) for w in words[1:]]
    return [
        sys.executable,
        "-m",
        "sr2fhir",
        *(str(SAMPLE_CONFIG) if a.startswith("/etc/") else a for a in args),
    ]


def next_message(sock: socket.socket, deadline: float) -> dict[str, str]:
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


def test_serve_notifies_ready_once_listening_pings_the_watchdog_and_says_stopping(
    tmp_path: Path,
) -> None:
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NOTIFY_SOCKET": str(notify_path),
        "WATCHDOG_USEC": "400000",  # 0.4 s: pings every 0.2 s
        "SR2FHIR_DICOM_PORT": "0",  # the sample file's 11112 and 9112 may be taken here
        "SR2FHIR_DICOM_HOST": "127.0.0.1",
        "SR2FHIR_HTTP_PORT": "0",
    }
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [*exec_start(tmp_path / "state"), "--log-format", "json"],  # as for a log shipper
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        message = next_message(sock, deadline)
        assert message.get("READY") == "1", message
        port = int(message["STATUS"].rsplit(" ", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the port accepts connections the moment READY=1 arrives
        assert message["MAINPID"] == str(proc.pid)
        pings, deadline = 0, time.monotonic() + 60
        while pings < 3:
            pings += next_message(sock, deadline).get("WATCHDOG") == "1"

        proc.send_signal(signal.SIGTERM)

        deadline = time.monotonic() + 60  # one bound for the whole stop: a busy machine
        stopping = next_message(sock, deadline)
        while "STOPPING" not in stopping:  # watchdog pings may still be queued
            stopping = next_message(sock, deadline)
        assert stopping["STOPPING"] == "1"
        assert proc.wait(60) == 0
    finally:
        stop_process(proc)
        sock.close()
    messages = [json.loads(line)["message"] for line in log_path.read_text().splitlines()]
    listening = next(i for i, m in enumerate(messages) if "listening on" in m)
    assert listening < messages.index("gateway stopped")
