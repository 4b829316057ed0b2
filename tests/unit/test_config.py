"""Configuration: defaults, the sample file, precedence, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sr2fhir.cli import main
from sr2fhir.config import (
    AllowedCaller,
    Config,
    UnresolvedReference,
    config_as_dict,
    load_config,
)
from sr2fhir.config.preflight import preflight
from sr2fhir.errors import ConfigError
from tests.support.pki import Pki, TestCa, ec_key, encrypted_copy, make_pki, write_key

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sr2fhir.yaml"


def load_checked(path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """load_config, then the preflight `serve` runs (the files and folders keys name)."""
    config = load_config(path, env=env)
    preflight(config)
    return config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sr2fhir.yaml"
    path.write_text(text)
    return path


def test_defaults_let_serve_run_without_a_file() -> None:
    config = load_config(env={})
    assert (config.dicom.ae_title, config.dicom.port, config.dicom.host) == (
        "SR2FHIR",
        11112,
        "0.0.0.0",
    )
    assert config.spool.data_dir == "./sr2fhir-data"
    assert config.workers.count == 2
    assert config.delivery.sink == "outbox"
    assert config.outbox_path == Path("./sr2fhir-data/outbox")


def test_the_sample_file_documents_every_key_with_its_default() -> None:
    documented = yaml.safe_load(SAMPLE.read_text())
    defaults = config_as_dict(Config())
    defaults["delivery"]["outbox_dir"] = None
    assert documented == defaults
    assert load_config(SAMPLE, env={}) == Config()


def test_file_values_are_typed_and_nested(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dicom:\n  port: 4242\n  allowed_callers: [CT1, {ae_title: PACS, hosts: [10.0.0.0/8]}]\n"
        "mapping:\n  issuer_systems: {HOSP: 'http://h.example/mrn'}\n"
        "workers:\n  backoff_initial: 1\n",
    )
    config = load_config(path, env={})
    assert config.dicom.port == 4242
    assert config.dicom.allowed_callers == (
        AllowedCaller("CT1"),
        AllowedCaller("PACS", ("10.0.0.0/8",)),
    )
    assert config.mapping.issuer_systems == (("HOSP", "http://h.example/mrn"),)
    assert config.workers.backoff_initial == 1.0


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    path = write(tmp_path, "dicom:\n  port: 4242\n  ae_title: FILE\n")
    env = {"SR2FHIR_DICOM_PORT": "5000", "SR2FHIR_DICOM_AE_TITLE": "ENV"}
    config = load_config(path, env=env, overrides={"dicom.port": 6000})
    assert (config.dicom.port, config.dicom.ae_title) == (6000, "ENV")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dicom:\n  prot: 1\n", r"sr2fhir.yaml: unknown key dicom.prot"),
        ("dicmo:\n  port: 1\n", r"sr2fhir.yaml: unknown section dicmo; did you mean dicom\?"),
        ("dicom:\n  port: '11112'\n", r"sr2fhir.yaml: dicom.port must be an integer, got str"),
        ("dicom:\n  port: 70000\n", r"sr2fhir.yaml: dicom.port: must be a TCP port"),
        ("dicom:\n  ae_title: WAY_TOO_LONG_AE_TITLE\n", r"dicom.ae_title: must be 1-16"),
        ("workers:\n  count: 0\n", r"workers.count: must be greater than 0"),
        ("workers:\n  mode: fibers\n", r"workers.mode: must be one of process, thread"),
        ("spool:\n  min_free_bytes: -1\n", r"spool.min_free_bytes: must be 0 or more"),
        (
            "delivery:\n  sink: fhir\n",
            r"sr2fhir.yaml: delivery.sink is fhir but fhir.base_url is not set",
        ),
        ("fhir:\n  base_url: ftp://x\n", r"sr2fhir.yaml: fhir.base_url: must be an http"),
        ("fhir:\n  version: R3\n", r"fhir.version: must be one of R5, R4"),
        ("mapping:\n  default_utc_offset: CET\n", r"mapping.default_utc_offset: must look"),
        ("dicom:\n  allowed_callers: [{title: X}]\n", r"dicom.allowed_callers: each entry"),
        (
            "dicom:\n  allowed_callers: [{ae_title: X, hosts: [nowhere]}]\n",
            r"dicom.allowed_callers: not an IP address or network: 'nowhere'",
        ),
        ("- just a list\n", r"the top level must be a mapping"),
        ("dicom: [\n", r"not valid YAML"),
    ],
)
def test_mistakes_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_an_unwritable_data_folder_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    path = write(tmp_path, f"spool:\n  data_dir: {blocker / 'data'}\n")
    with pytest.raises(ConfigError, match=r"sr2fhir.yaml: spool.data_dir: .* is not a folder"):
        load_checked(path, env={})


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable SR2FHIR_WORKERS_COUNT"):
        load_config(env={"SR2FHIR_WORKERS_COUNT": "two"})
    with pytest.raises(ConfigError, match=r"SR2FHIR_DICOM_PROT: .*prot"):
        load_config(env={"SR2FHIR_DICOM_PROT": "1"})


def test_unresolved_reference_accepts_its_old_spelling(tmp_path: Path) -> None:
    """`reference` was the documented name of `logical`: files that say it keep working."""
    old = load_config(write(tmp_path, "fhir:\n  unresolved_reference: reference\n"), env={})
    assert old.fhir.unresolved_reference is UnresolvedReference.LOGICAL
    env = {"SR2FHIR_FHIR_UNRESOLVED_REFERENCE": "hold"}
    assert load_config(env=env).fhir.unresolved_reference is UnresolvedReference.HOLD
    with pytest.raises(ConfigError, match="must be one of logical, fail, hold"):
        load_config(env={"SR2FHIR_FHIR_UNRESOLVED_REFERENCE": "wait"})


def test_variables_of_other_tools_are_not_config() -> None:
    """SR2FHIR_TEST_FHIR_URL, SR2FHIR_VALIDATOR_DIR ... name no section: they are ignored."""
    config = load_config(env={"SR2FHIR_TEST_FHIR_URL": "http://x", "SR2FHIR_VALIDATOR_DIR": "/x"})
    assert config == load_config(env={})


def test_check_config_prints_the_effective_config_with_secrets_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SR2FHIR_FHIR_AUTH_KIND", "bearer")
    monkeypatch.setenv("SR2FHIR_FHIR_AUTH_TOKEN", "s3cr3t-token")
    path = write(tmp_path, "dicom:\n  port: 4242\n")
    assert main(["check-config", "--config", str(path), "--ae-title", "FLAGGED"]) == 0
    out = capsys.readouterr().out
    printed = yaml.safe_load(out)
    assert printed["dicom"]["port"] == 4242 and printed["dicom"]["ae_title"] == "FLAGGED"
    assert printed["fhir"]["auth_token"] == "***"
    assert "s3cr3t" not in out


def test_a_config_error_exits_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "dicom:\n  port: -1\n")
    assert main(["serve", "--config", str(path)]) == 2
    assert "dicom.port" in capsys.readouterr().err


def test_header_values_are_redacted_but_their_names_shown(tmp_path: Path) -> None:
    from sr2fhir.config import dump_config

    path = write(
        tmp_path,
        "fhir:\n  headers: {X-Api-Key: s3cret-value}\n  auth_kind: bearer\n  auth_token: tok-123\n",
    )
    text = dump_config(load_config(path, env={}))
    assert "X-Api-Key" in text and "s3cret-value" not in text and "tok-123" not in text


# ---------------------------------------------------------------- fhir: auth and TLS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "auth_kind: oauth",
            r"sr2fhir.yaml: fhir.auth_kind: must be one of none, bearer, basic, smart-backend",
        ),
        ("auth_token: t", r"^fhir.auth_token is set but fhir.auth_kind is none"),
        (
            "auth_kind: bearer",
            r"^fhir.auth_kind bearer needs one of fhir.auth_token, fhir.auth_token_env, "
            r"fhir.auth_token_file$",
        ),
        (
            "auth_kind: bearer\n  auth_token: t\n  auth_token_env: X",
            r"\(got auth_token and auth_token_env\)$",
        ),
        (
            "auth_kind: bearer\n  auth_token_env: SR2FHIR_TEST_NEVER_SET",
            r"^fhir.auth_token_env: environment variable SR2FHIR_TEST_NEVER_SET is not set",
        ),
        (
            "auth_kind: bearer\n  auth_token_file: /nonexistent/token",
            r"^fhir.auth_token_file: cannot read /nonexistent/token: No such file",
        ),
        (
            "auth_kind: basic\n  auth_username: gateway",
            r"^fhir.auth_kind is basic but fhir.auth_password is not set",
        ),
        (
            "auth_kind: basic\n  auth_username: u\n  auth_password: p\n  smart_scopes: s",
            r"^fhir.smart_scopes is set but fhir.auth_kind is basic \(not smart-backend\)",
        ),
        (
            "auth_kind: smart-backend\n  smart_client_id: c\n  smart_key_file: /k.pem",
            r"^fhir.auth_kind is smart-backend but fhir.smart_scopes is not set",
        ),
        (
            "auth_kind: bearer\n  auth_token: t\n  headers: {authorization: x}",
            r"^fhir.headers sets Authorization and fhir.auth_kind is bearer: keep one",
        ),
        ("client_key: /k.pem", r"^fhir.client_key is set but fhir.client_cert is not"),
        (
            "ca_bundle: /nonexistent/ca.pem",
            r"^fhir.ca_bundle: cannot load /nonexistent/ca.pem: No such file",
        ),
        (
            "client_cert: /nonexistent/c.pem",
            r"^fhir.client_cert: cannot load /nonexistent/c.pem: No such file",
        ),
    ],
)
def test_fhir_auth_and_tls_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_checked(write(tmp_path, f"fhir:\n  {text}\n"), env={})


def _smart_yaml(key_file: Path, extra: str = "") -> str:
    return (
        "fhir:\n  base_url: https://ehr.example/fhir\n  auth_kind: smart-backend\n"
        f"  smart_client_id: gw-1\n  smart_scopes: system/Observation.cu\n"
        f"  smart_key_file: {key_file}\n{extra}"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("garbage", r"not a PEM private key"),
        ("p256", r"EC key on secp256r1; ES384 needs P-384"),
        ("rsa1024", r"RSA key of 1024 bits; RS384 needs >= 2048"),
        ("encrypted", r"is encrypted; give an unencrypted PEM key"),
        ("missing", r"cannot read .*: No such file"),
    ],
)
def test_a_bad_smart_key_is_refused_at_load_time(tmp_path: Path, key: str, message: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = tmp_path / "client.key"
    if key == "garbage":
        path.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    elif key == "p256":
        write_key(path, ec_key(ec.SECP256R1()))
    elif key == "rsa1024":
        write_key(path, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    elif key == "encrypted":
        write_key(path, ec_key(), password=b"secret")
    with pytest.raises(ConfigError, match=r"sr2fhir.yaml: fhir.smart_key_file: .*" + message):
        load_checked(write(tmp_path, _smart_yaml(path)), env={})


def test_a_smart_backend_config_loads_and_check_config_shows_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_key(tmp_path / "client.key", ec_key())
    path = write(tmp_path, _smart_yaml(key, "  smart_token_url: https://ehr.example/token\n"))
    fhir = load_config(path, env={}).fhir
    assert (fhir.auth.kind, fhir.auth.client_id) == ("smart-backend", "gw-1")
    bad = write(tmp_path, _smart_yaml(key, "  smart_token_url: ftp://ehr.example/token\n"))
    with pytest.raises(ConfigError, match=r"sr2fhir.yaml: fhir.smart_token_url: must be an http"):
        load_config(bad, env={})
    basic = write(
        tmp_path, "fhir:\n  auth_kind: basic\n  auth_username: gw\n  auth_password: pw-s3cret\n"
    )
    assert main(["check-config", "--config", str(basic)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)["fhir"]
    assert (printed["auth_username"], printed["auth_password"]) == ("gw", "***")


def test_a_client_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    mine, other = ca.issue("gateway", client=True), ca.issue("other", client=True)
    text = f"fhir:\n  ca_bundle: {ca.pem}\n  client_cert: {mine.cert}\n  client_key: {other.key}\n"
    with pytest.raises(ConfigError, match=r"^fhir.client_cert: cannot load .*gateway.crt and "):
        load_checked(write(tmp_path, text), env={})
    good = f"fhir:\n  ca_bundle: {ca.pem}\n  client_cert: {mine.cert}\n  client_key: {mine.key}\n"
    assert load_checked(write(tmp_path, good), env={}).fhir.client_cert == str(mine.cert)


# ---------------------------------------------------------------- dicom: the TLS listener


@pytest.fixture(scope="module")
def dicom_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("dicom-pki"))


def _dicom_tls_yaml(pki: Pki, **keys: object) -> str:
    values: dict[str, object] = {
        "tls_port": 2762,
        "tls_cert": str(pki.server.cert),
        "tls_key": str(pki.server.key),
        "tls_ca": str(pki.ca),
        **keys,
    }
    return "dicom:\n" + "".join(f"  {k}: {'null' if v is None else v}\n" for k, v in values.items())


def test_without_tls_keys_there_is_no_tls_listener() -> None:
    dicom = load_config(env={}).dicom
    assert (dicom.port, dicom.tls_port, dicom.client_cert_required) == (11112, None, False)


def test_a_tls_listener_requires_client_certificates_by_default_when_a_ca_is_given(
    tmp_path: Path, dicom_pki: Pki
) -> None:
    dicom = load_config(write(tmp_path, _dicom_tls_yaml(dicom_pki)), env={}).dicom
    assert (dicom.port, dicom.tls_port, dicom.tls_cert) == (11112, 2762, str(dicom_pki.server.cert))
    assert dicom.client_cert_required
    optional = _dicom_tls_yaml(dicom_pki, tls_require_client_cert="false")
    assert not load_config(write(tmp_path, optional), env={}).dicom.client_cert_required
    no_ca = _dicom_tls_yaml(dicom_pki, tls_ca=None)
    assert not load_config(write(tmp_path, no_ca), env={}).dicom.client_cert_required


def test_an_empty_port_variable_switches_plain_dicom_off(tmp_path: Path, dicom_pki: Pki) -> None:
    path = write(tmp_path, _dicom_tls_yaml(dicom_pki))
    dicom = load_config(path, env={"SR2FHIR_DICOM_PORT": ""}).dicom
    assert (dicom.port, dicom.tls_port) == (None, 2762)
    with pytest.raises(ConfigError, match=r"^dicom.port and dicom.tls_port are both null"):
        load_config(env={"SR2FHIR_DICOM_PORT": ""})


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"tls_cert": None}, r"^dicom.tls_port is set: dicom.tls_cert and dicom.tls_key are"),
        ({"port": 2762}, r"^dicom.tls_port: must differ from dicom.port \(both 2762\)"),
        (
            {"tls_ca": None, "tls_require_client_cert": "true"},
            r"^dicom.tls_require_client_cert is true but dicom.tls_ca is not set",
        ),
        ({"tls_cert": "/nonexistent/gw.pem"}, r"^dicom.tls_cert: cannot read /nonexistent/gw.pem"),
        ({"tls_key": "/nonexistent/gw.key"}, r"^dicom.tls_key: cannot read /nonexistent/gw.key"),
        ({"tls_cert": "KEY"}, r"^dicom.tls_cert: .*server.key holds no PEM certificate"),
        ({"tls_key": "OTHER_KEY"}, r"^dicom.tls_key: .*client.key does not match dicom.tls_cert"),
        ({"tls_key": "ENCRYPTED"}, r"^dicom.tls_key: .* is not an unencrypted PEM private key"),
        ({"tls_ca": "KEY"}, r"^dicom.tls_ca: .*server.key holds no PEM certificate"),
        ({"tls_port": 70000}, r"sr2fhir.yaml: dicom.tls_port: must be a TCP port"),
    ],
)
def test_tls_listener_mistakes_name_the_key(
    tmp_path: Path, dicom_pki: Pki, keys: dict[str, object], message: str
) -> None:
    stand_ins = {"KEY": dicom_pki.server.key, "OTHER_KEY": dicom_pki.client.key}
    if "ENCRYPTED" in keys.values():
        encrypted = tmp_path / "encrypted.key"
        stand_ins["ENCRYPTED"] = encrypted_copy(dicom_pki.server.key, encrypted, b"secret")
    resolved = {k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in keys.items()}
    with pytest.raises(ConfigError, match=message):
        load_checked(write(tmp_path, _dicom_tls_yaml(dicom_pki, **resolved)), env={})
