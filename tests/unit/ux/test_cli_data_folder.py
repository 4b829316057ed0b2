"""Queue and status commands: never invent a data folder, take --data-dir on either side of
the sub-command, and stop quietly when their reader goes away (`| head`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.spool import InstanceInfo, open_spool

REPO = Path(__file__).resolve().parents[3]
SR = "1.2.840.10008.5.1.4.1.1.88.33"


def spool_with_jobs(data_dir: Path, count: int) -> None:
    spool = open_spool(data_dir)
    for n in range(count):
        spool.receive(b"DICM-ish", InstanceInfo(SR, f"1.2.3.{n}", "CT1"))
    spool.close()


@pytest.mark.parametrize(
    "command",
    [
        ["queue", "status"],
        ["queue", "list"],
        ["queue", "show", "1"],
        ["queue", "retry", "--failed"],
        ["queue", "purge", "--done-older-than", "1"],
        ["status"],
    ],
)
def test_no_command_creates_a_data_folder_where_there_is_none(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(command)

    err = capsys.readouterr().err
    assert code == 1
    assert "no data folder at sr2fhir-data (spool.data_dir from <defaults>)" in err
    assert "--data-dir DIR or --config FILE" in err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_a_data_folder_is_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["queue", "list", "--data-dir", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert f"{tmp_path} is not a gateway's data folder" in err
    assert "spool.data_dir from command line" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["queue", "--data-dir", "{d}", "status"],
        ["queue", "status", "--data-dir", "{d}"],
        ["queue", "--data-dir", "/nowhere", "status", "--data-dir", "{d}"],
    ],
)
def test_data_dir_works_before_and_after_the_sub_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool_with_jobs(tmp_path / "data", 2)

    code = main([a.replace("{d}", str(tmp_path / "data")) for a in argv])

    assert code == 0
    assert capsys.readouterr().out.split()[:2] == ["READY", "2"]


def test_data_dir_given_only_before_the_sub_command_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool_with_jobs(tmp_path / "data", 1)
    assert main(["queue", "--data-dir", str(tmp_path / "data"), "show", "1"]) == 0
    assert "1.2.3.0" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["queue", "list"], ["status", "--json"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    command: list[str], tmp_path: Path
) -> None:
    spool_with_jobs(tmp_path / "data", 30)
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has what it wants: every write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sr2fhir", *command, "--data-dir", str(tmp_path / "data")],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)

    assert done.stderr.decode() == ""
    assert done.returncode == 141  # 128 + SIGPIPE, as for other tools in a pipeline
