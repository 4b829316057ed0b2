"""The config package's shape: every problem at once, the auth variant from the flat keys,
Enums for closed sets, and preflight naming each key whose file or folder is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sr2fhir.config import (
    Basic,
    Bearer,
    Config,
    NoAuth,
    SmartBackend,
    WorkerMode,
    config_as_dict,
    dump_config,
    load_config,
)
from sr2fhir.config.preflight import preflight
from sr2fhir.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sr2fhir.yaml"
    path.write_text(text)
    return path


def test_every_bad_key_is_reported_at_once_naming_key_and_source(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dicom:\n  port: 70000\n  prot: 1\nworkers:\n  mode: fibers\n  count: two\n"
        "fhir:\n  version: R3\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"SR2FHIR_HTTP_PORT": "-5"})
    problems = {p.key: p.source for p in caught.value.problems}
    assert problems == {
        "dicom.port": str(path),
        "dicom.prot": str(path),
        "workers.mode": str(path),
        "workers.count": str(path),
        "fhir.version": str(path),
        "http.port": "environment variable SR2FHIR_HTTP_PORT",
    }
    message = str(caught.value)
    assert message.startswith("6 problems in the configuration:\n")
    assert len(message.splitlines()) == 7 and "unknown key dicom.prot" in message


def test_one_problem_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"SR2FHIR_WORKERS_COUNT": "0"})
    assert str(caught.value) == (
        "environment variable SR2FHIR_WORKERS_COUNT: workers.count: must be greater than 0"
    )
    assert [p.key for p in caught.value.problems] == ["workers.count"]


def test_closed_sets_are_enums_whose_values_are_what_the_file_says(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "workers:\n  mode: thread\n"), env={})
    assert config.workers.mode is WorkerMode.THREAD
    assert yaml.safe_load(dump_config(config))["workers"]["mode"] == "thread"


@pytest.mark.parametrize(
    ("keys", "auth"),
    [
        ({}, NoAuth()),
        ({"auth_kind": "bearer", "auth_token_env": "EHR_TOKEN"}, Bearer(token_env="EHR_TOKEN")),
        (
            {"auth_kind": "basic", "auth_username": "gw", "auth_password": "pw"},
            Basic(username="gw", password="pw"),
        ),
        (
            {
                "auth_kind": "smart-backend",
                "smart_client_id": "c",
                "smart_key_file": "/k.pem",
                "smart_scopes": "system/Observation.cu",
                "smart_token_url": "https://ehr.example/token",
            },
            SmartBackend(
                client_id="c",
                key_file="/k.pem",
                scopes="system/Observation.cu",
                token_url="https://ehr.example/token",
            ),
        ),
    ],
)
def test_the_flat_auth_keys_of_the_file_become_one_auth_value_and_dump_back(
    keys: dict[str, str], auth: object
) -> None:
    config = load_config(env={}, overrides={f"fhir.{k}": v for k, v in keys.items()})
    assert config.fhir.auth == auth
    dumped = config_as_dict(config, redact=False)["fhir"]
    assert {k: v for k, v in dumped.items() if k.startswith(("auth_", "smart_")) and v} == {
        "auth_kind": keys.get("auth_kind", "none"),
        **keys,
    }
    assert config_as_dict(Config(fhir=config.fhir), redact=False)["fhir"] == dumped


def test_loading_reads_no_file_a_key_names_preflight_does(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = write(
        tmp_path,
        f"spool:\n  data_dir: {blocker / 'data'}\n"
        "fhir:\n  ca_bundle: /nonexistent/ca.pem\n  auth_kind: smart-backend\n"
        "  smart_client_id: c\n  smart_scopes: s\n  smart_key_file: /nonexistent/k.pem\n"
        "dicom:\n  tls_port: 2762\n  tls_cert: /nonexistent/c.pem\n  tls_key: /nonexistent/k\n",
    )
    config = load_config(path, env={})  # pure: no file opened
    with pytest.raises(ConfigError) as caught:
        preflight(config)
    assert [p.key for p in caught.value.problems] == [
        "dicom.tls_cert",
        "fhir.ca_bundle",
        "fhir.smart_key_file",
        "spool.data_dir",
    ]
    message = str(caught.value)
    assert f"{path}: fhir.smart_key_file: cannot read /nonexistent/k.pem" in message
    assert f"{path}: spool.data_dir: {blocker / 'data'} is not a folder" in message
