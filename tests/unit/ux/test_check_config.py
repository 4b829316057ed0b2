"""check-config: every problem at once, each naming its key and source; the same start-up
checks as serve (folders, listen address, ports)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.fsutil import folder_problem


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR2FHIR_DICOM_PORT", "0")  # the sample's 11112 and 9112 may be taken
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", "0")


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_every_problem_is_reported_at_once_with_its_key_and_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    config = tmp_path / "sr2fhir.yaml"
    config.write_text(
        "dicom:\n  prot: 104\n  host: not-an-ip\n"
        "spool:\n  data_dir: /proc/nope\n"
        "workers:\n  mode: fiber\n"
    )

    code, out, err = run(capsys, "check-config", "--config", str(config))

    assert code == 2 and out == ""
    assert "4 problems in the configuration" in err
    assert (
        f"{config}: unknown key dicom.prot; did you mean dicom.port? (known: acse_timeout, " in err
    )
    assert f"{config}: workers.mode: must be one of process, thread" in err
    assert f"{config}: spool.data_dir: /proc/nope cannot be created in /proc" in err
    assert f"{config}: dicom.host: 'not-an-ip' is not an address or a name that resolves" in err


def test_unknown_sections_get_a_guess_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("worker:\n  count: 2\n")
    code, _, err = run(capsys, "check-config", "--config", str(config))
    assert code == 2
    assert "unknown section worker; did you mean workers? (known: audit, delivery, dicom" in err


def test_a_yaml_syntax_error_names_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dicom:\n  port: 11112\n  allowed_callers: [PACS, CT1\nspool: {}\n")
    code, _, err = run(capsys, "check-config", "--config", str(config))
    assert code == 2
    assert f"{config}:4:6: not valid YAML: expected ',' or ']'" in err
    assert "(while parsing a flow sequence from line 3)" in err


def test_a_port_in_use_fails_serve_and_is_a_warning_of_check_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    listening: int,
) -> None:
    """check-config is run beside the running gateway too, whose port it is."""
    monkeypatch.setenv("SR2FHIR_DICOM_PORT", str(listening))
    monkeypatch.setenv("SR2FHIR_HTTP_PORT", "0")
    said = (
        f"environment variable SR2FHIR_DICOM_PORT: dicom.port: port {listening} on 0.0.0.0 "
        "is in use"
    )
    code, out, err = run(capsys, "check-config", "--data-dir", str(tmp_path / "data"))
    assert code == 0 and "ae_title: SR2FHIR" in out
    assert err == f"sr2fhir check-config: warning: {said} (another program, or a running gateway)\n"
    code, _, err = run(capsys, "serve", "--data-dir", str(tmp_path / "data"))
    assert code == 2 and said in err
    assert not (tmp_path / "data").exists()


def test_the_http_endpoint_is_checked_by_check_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """serve starts without its operations endpoint (an ERROR line): a warning here."""
    monkeypatch.setenv("SR2FHIR_DICOM_PORT", "0")
    monkeypatch.setenv("SR2FHIR_HTTP_HOST", "192.0.2.1")
    code, _, err = run(capsys, "check-config", "--data-dir", str(tmp_path / "data"))
    assert code == 0
    assert "warning: environment variable SR2FHIR_HTTP_HOST: http.host: 192.0.2.1 is not" in err


def test_an_address_of_another_machine_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dicom:\n  host: 192.0.2.1\n")  # TEST-NET-1: no machine's own address
    code, _, err = run(capsys, "check-config", "--config", str(config))
    assert code == 2
    assert f"{config}: dicom.host: 192.0.2.1 is not an address of this machine" in err


def test_serve_runs_the_same_checks_before_it_starts_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"dicom:\n  host: not-an-ip\nspool:\n  data_dir: {tmp_path / 'data'}\n")
    code, _, err = run(capsys, "serve", "--config", str(config))
    assert code == 2
    assert f"{config}: dicom.host: 'not-an-ip' is not an address" in err
    assert not (tmp_path / "data").exists()


def test_a_good_configuration_prints_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    code, out, _ = run(capsys, "check-config", "--data-dir", str(tmp_path / "new" / "data"))
    assert code == 0 and "ae_title: SR2FHIR" in out
    assert not (tmp_path / "new").exists()  # checked by making a folder and removing it


def test_a_folder_to_be_made_is_probed_and_nothing_is_left() -> None:
    assert folder_problem(Path("/proc/sr2fhir/data")) is not None
