"""sd_notify over a fake NOTIFY_SOCKET that the test binds (path and abstract names)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.daemon import Gateway
from sr2fhir.ops.health import listening_ports
from sr2fhir.ops.notify import SystemdNotifier, socket_address
from tests.support.in_process import gateway_config


def received(sock: socket.socket) -> dict[str, str]:
    sock.settimeout(5)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    yield path, sock
    sock.close()


def test_ready_sends_ready_status_and_mainpid(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.ready("listening on port 104")
    assert received(sock) == {
        "READY": "1",
        "STATUS": "listening on port 104",
        "MAINPID": str(os.getpid()),
    }
    assert notifier.watchdog() and received(sock) == {"WATCHDOG": "1"}
    assert notifier.stopping() and received(sock)["STOPPING"] == "1"


def test_an_abstract_socket_name_starts_with_at() -> None:
    name = f"sr2fhir-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert SystemdNotifier(f"@{name}").notify("READY=1")
        assert received(sock) == {"READY": "1"}
    assert socket_address("@x") == "\0x" and socket_address("/run/x") == "/run/x"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert notifier.watchdog_interval is None


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "4000000"}, 2.0),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "123"}, 2.0),  # it is us
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "456"}, None),  # meant for another
        ({"WATCHDOG_USEC": "nonsense"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_pings_at_half_the_timeout_when_it_is_meant_for_us(
    env: dict[str, str], interval: float | None
) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "/x", **env}, pid=123)
    assert notifier.watchdog_interval == interval


def test_a_missing_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier(str(tmp_path / "nobody-listens.sock"))
    assert not notifier.ready("x")
    assert not notifier.watchdog()
    assert len([r for r in caplog.records if "systemd notification" in r.message]) == 1


def test_the_gateway_says_ready_only_once_its_port_listens_and_stopping_at_stop(
    tmp_path: Path, listener: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    gateway = Gateway(gateway_config(tmp_path, {"http.enabled": False}))
    listening_when_ready: list[bool] = []
    real_ready = gateway.notifier.ready

    def ready(status: str) -> bool:
        listening_when_ready.append(gateway.port in (listening_ports() or set()))
        return real_ready(status)

    monkeypatch.setattr(gateway.notifier, "ready", ready)
    gateway.start()
    try:
        message = received(sock)
        assert message["READY"] == "1"
        assert message["STATUS"] == f"listening on port {gateway.port}"
        assert listening_when_ready == [True]
    finally:
        gateway.stop()
    assert received(sock)["STOPPING"] == "1"
    gateway.stop()  # idempotent: no second STOPPING=1
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
