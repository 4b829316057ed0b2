"""convert's progress: a bar with rate and time left on a terminal, notes above it (never on
it), and a summary line on stderr whether or not stderr is a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.commands.progress import Progress, duration
from tests.support.sr.reports import planar_report


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen(written: str) -> list[str]:
    """What a terminal shows after `written`: \\r returns to the line's start, \\n ends it."""
    lines, line, column = [], [], 0
    for char in written:
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    if line:
        lines.append("".join(line).rstrip())
    return lines


def test_the_bar_shows_count_rate_and_time_left() -> None:
    clock = Clock()
    progress = Progress(20, io.StringIO(), bar=True, clock=clock)
    clock.now += 10
    progress.done = 5
    line = progress.line(80)
    assert line.startswith("[") and line.endswith("] 5/20 0.5/s ETA 0:30")
    assert len(progress.line(30)) <= 29


def test_notes_go_above_the_bar_and_the_summary_replaces_it() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(3, stream, bar=True, clock=clock)
    clock.now += 1
    progress.update(1)
    progress.note("b.dcm: rejected: not an SR")
    clock.now += 1
    progress.update(2)
    clock.now += 1
    progress.update(3)
    progress.finish("converted 2, rejected 1 of 3 file(s)")

    assert screen(stream.getvalue()) == [
        "b.dcm: rejected: not an SR",
        "converted 2, rejected 1 of 3 file(s) in 0:03 (1.0 files/s)",
    ]


def test_without_a_terminal_there_is_no_bar_only_the_notes_and_the_summary() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(2, stream, bar=False, clock=clock)
    progress.update(1)
    progress.note("a.dcm: rejected: not DICOM")
    progress.update(2)
    clock.now += 75
    progress.finish("converted 1, rejected 1 of 2 file(s)")
    assert stream.getvalue() == (
        "a.dcm: rejected: not DICOM\nconverted 1, rejected 1 of 2 file(s) in 1:15 (0.0 files/s)\n"
    )


@pytest.mark.parametrize(("seconds", "shown"), [(7, "0:07"), (725, "12:05"), (3723, "1:02:03")])
def test_durations(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_run_into_a_log_file_ends_with_its_summary_and_stdout_stays_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    planar_report().save_as(folder / "planar.dcm", enforce_file_format=True)
    (folder / "notes.txt").write_text("not DICOM")

    assert main(["convert", str(folder), "--out", str(tmp_path / "out")]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "\r" not in captured.err
    *notes, summary = captured.err.splitlines()
    assert len(notes) == 1 and "notes.txt: rejected" in notes[0]
    assert summary.startswith("converted 1, rejected 1 of 2 file(s) in 0:")
