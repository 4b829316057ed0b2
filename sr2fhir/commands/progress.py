"""Progress of a long command on stderr, and its summary line.

On a terminal: one line redrawn in place -- bar, count, rate and time left -- with the
notes (a rejected file, a warning) printed above it, never onto it. Elsewhere (cron, a log
file, a pipe) no bar at all, the notes as they come. Either way the run ends with one
summary line, so that a log says what the run did. stdout is never touched.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

REDRAW_EVERY = 0.1  # seconds between two redraws of the bar


def duration(seconds: float) -> str:
    """`0:07`, `12:05`, `1:02:03`."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """`total` steps; `update(done)` after each, `note(line)` for what must be read."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        bar: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream
        self.bar = bar
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._shown = ""  # the bar as it stands on the terminal ("" = none)
        self._drawn_at = float("-inf")

    def note(self, line: str) -> None:
        """One line above the bar (the bar is drawn again below it)."""
        shown = self._shown
        self._clear()
        self.stream.write(line + "\n")
        if shown:
            self._draw(force=True)
        self.stream.flush()

    def update(self, done: int) -> None:
        self.done = done
        if self.bar:
            self._draw(force=done >= self.total)

    def finish(self, summary: str) -> None:
        """Clear the bar and say what the run did, with its time and rate."""
        self._clear()
        elapsed = self.clock() - self.started
        self.stream.write(f"{summary} in {duration(elapsed)}{self._rate(elapsed)}\n")
        self.stream.flush()

    def line(self, width: int) -> str:
        """The bar as drawn for a terminal `width` characters wide."""
        elapsed = self.clock() - self.started
        count = f" {self.done}/{self.total}"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        tail = f"{count} {rate:.1f}/s" + (f" ETA {duration(left)}" if left is not None else "")
        room = max(10, min(40, width - len(tail) - 3))
        filled = room * self.done // max(self.total, 1)
        return f"[{'#' * filled}{'-' * (room - filled)}]{tail}"[: max(width - 1, 1)]

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        text = self.line(shutil.get_terminal_size().columns)
        self.stream.write("\r" + text + " " * max(0, len(self._shown) - len(text)))
        self.stream.flush()
        self._shown = text

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self._shown = ""

    def _rate(self, elapsed: float) -> str:
        return f" ({self.done / elapsed:.1f} files/s)" if elapsed > 0 and self.done else ""
