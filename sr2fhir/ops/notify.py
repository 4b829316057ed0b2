"""systemd's readiness protocol (sd_notify) over NOTIFY_SOCKET, without libsystemd.

A service with `Type=notify` tells systemd `READY=1` once it serves, `WATCHDOG=1` at least
every WATCHDOG_USEC/2 while it is healthy, and `STOPPING=1` when it begins to stop. Each
message is one datagram of newline-separated `KEY=value` lines sent to the unix datagram
socket named by NOTIFY_SOCKET ('@name' is a Linux abstract socket). Outside systemd (no
NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(name: str) -> str:
    """NOTIFY_SOCKET's value as an AF_UNIX address: '@x' is the abstract name '\\0x'."""
    return "\0" + name[1:] if name.startswith("@") else name


class SystemdNotifier:
    """Sends sd_notify messages; never raises (a lost notification must not stop the gateway)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._warned = False

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, pid: int | None = None
    ) -> SystemdNotifier:
        """NOTIFY_SOCKET and WATCHDOG_USEC (ignored when WATCHDOG_PID names another process)."""
        env = os.environ if env is None else env
        pid = os.getpid() if pid is None else pid
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        watchdog_pid = env.get("WATCHDOG_PID", "")
        if not watchdog_pid or watchdog_pid == str(pid):
            try:
                usec = int(env.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                usec = None
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the timeout, as sd_watchdog_enabled advises)."""
        if self.address is None or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2_000_000

    def notify(self, *fields: str) -> bool:
        """Send one message (`"READY=1"`, `"STATUS=..."`, ...); True if it was sent."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, socket_address(self.address))
        except OSError as exc:
            if not self._warned:  # once: a watchdog ping every second must not flood the log
                log.warning("systemd notification to %s failed: %s", self.address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify("STOPPING=1", f"STATUS={status}")
