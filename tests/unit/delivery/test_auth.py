"""Authentication to the FHIR server, against a stand-in EHR on 127.0.0.1
(tests/support/ehr_stub.py): bearer (config, environment, rotating file), basic, SMART
Backend Services (assertion, discovery, caching, expiry, 401 -> one refresh and retry, token
endpoint down)."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sr2fhir.config import FhirConfig, load_config
from sr2fhir.delivery.fhir.auth import (
    ASSERTION_LIFETIME,
    SigningKey,
    SmartBackendAuth,
    SmartClient,
    client_assertion,
    load_signing_key,
)
from sr2fhir.delivery.fhir.client import FhirEndpoint, FhirHttp
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.errors import PermanentDeliveryError, TransientDeliveryError
from tests.support import pki
from tests.support.ehr_stub import StubEhr

SCOPES = "system/Observation.cu system/Patient.rs"
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": [{}, {}]}


class Clock:
    """Seconds since the epoch that the test moves by hand (shared by client and EHR); it
    starts at the real time, so a client on the real clock agrees with it too."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def fhir_config(**keys: Any) -> FhirConfig:
    """The fhir section as the loader builds it (all checks run), from `key=value`s."""
    return load_config(env={}, overrides={f"fhir.{k}": v for k, v in keys.items()}).fhir


def decode(part: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


@pytest.fixture(params=["RS384", "ES384"])
def signing(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, SigningKey]:
    key = pki.rsa_key() if request.param == "RS384" else pki.ec_key()
    path = pki.write_key(tmp_path / "client.key", key)
    return path, load_signing_key(str(path))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ehr(signing: tuple[Path, SigningKey], clock: Clock) -> Iterator[StubEhr]:
    with StubEhr(public_key=signing[1].key.public_key(), key_id="k1", clock=clock) as stub:
        yield stub


def smart_http(
    ehr: StubEhr, key: SigningKey, clock: Clock, **client: Any
) -> tuple[FhirHttp, SmartBackendAuth]:
    smart = SmartClient(ehr.client_id, key, SCOPES, **{"key_id": "k1", **client})
    auth = SmartBackendAuth(smart, ehr.base, requests.Session(), clock=clock)
    return FhirHttp(FhirEndpoint(ehr.base), auth=auth), auth


def statuses(ehr: StubEhr) -> list[int]:
    return [status for _, _, status in ehr.fhir_requests]


# ---------------------------------------------------------------- the client assertion


def test_the_assertion_carries_the_smart_claims_and_a_jose_signature(
    signing: tuple[Path, SigningKey],
) -> None:
    _, key = signing
    jwt = client_assertion(key, "client-1", "https://ehr.example/token", 1000.0, key_id="k1")
    header, claims, signature = jwt.split(".")
    assert decode(header) == {"alg": key.alg, "typ": "JWT", "kid": "k1"}
    body = decode(claims)
    assert body["iss"] == body["sub"] == "client-1"
    assert body["aud"] == "https://ehr.example/token"
    assert 1000 < body["exp"] <= 1000 + ASSERTION_LIFETIME <= 1000 + 300
    other = decode(client_assertion(key, "client-1", "x", 1000.0).split(".")[1])
    assert body["jti"] and other["jti"] != body["jti"]
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert len(raw) == (96 if key.alg == "ES384" else 256)  # JWS R||S, not DER; RSA-2048


def test_the_public_jwk_lets_the_ehr_verify_our_assertions(
    signing: tuple[Path, SigningKey], clock: Clock
) -> None:
    """The JWK Set entry an operator registers is right: the EHR verifies with it alone."""
    _, key = signing
    jwk = key.public_jwk("k1")
    assert jwk["kid"] == "k1" and jwk["alg"] == key.alg and "d" not in jwk

    def number(field: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(jwk[field] + "=="), "big")

    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    if jwk["kty"] == "RSA":
        public = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    else:
        public = ec.EllipticCurvePublicNumbers(
            number("x"), number("y"), ec.SECP384R1()
        ).public_key()
    with StubEhr(public_key=public, key_id="k1", clock=clock) as ehr:
        http, _ = smart_http(ehr, key, clock)
        http.search("Patient", {"identifier": "x"})
    assert ehr.assertion_problems == [] and len(ehr.scopes) == 1


# ---------------------------------------------------------------- SMART Backend Services


def test_smart_backend_from_config_discovers_the_token_endpoint_and_authorises_every_request(
    signing: tuple[Path, SigningKey], ehr: StubEhr
) -> None:
    config = fhir_config(
        base_url=ehr.base,
        auth_kind="smart-backend",
        smart_client_id=ehr.client_id,
        smart_key_file=str(signing[0]),
        smart_key_id="k1",
        smart_scopes=SCOPES,
    )
    sink = build_fhir_sink(config)
    sink.http.search("Patient", {"identifier": "urn:x|1"})
    sink.http.transaction(BUNDLE)
    assert ehr.assertion_problems == []
    assert ehr.scopes == [SCOPES]
    assert statuses(ehr) == [200, 200]
    issued = next(iter(ehr.issued))
    assert ehr.authorizations == [f"Bearer {issued}"] * 2


def test_one_token_serves_many_requests_and_is_renewed_shortly_before_it_expires(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    http, auth = smart_http(ehr, signing[1], clock, token_url=ehr.token_url)
    for _ in range(6):  # at 0, 10, ... 50 s of a 60 s token
        http.search("Patient", {"identifier": "x"})
        clock.now += 10
    assert len(ehr.scopes) == 1
    clock.now -= 5  # 55 s: not expired, but inside the renewal margin (10% of 60 s)
    http.search("Patient", {"identifier": "x"})
    assert len(ehr.scopes) == 2
    assert 401 not in statuses(ehr)  # renewed before expiry, never sent expired
    assert auth.token_requests == 2
    assert len(set(ehr.authorizations)) == 2


def test_a_401_gets_one_new_token_and_one_retry_of_the_same_request(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    http, _ = smart_http(ehr, signing[1], clock)
    http.search("Patient", {"identifier": "x"})
    ehr.revoke_all()  # e.g. the EHR restarted: our cached token is no longer known
    response = http.transaction(BUNDLE)
    assert response["type"] == "transaction-response"
    assert statuses(ehr) == [200, 401, 200]
    assert len(ehr.scopes) == 2
    assert len(ehr.transactions) == 1 and ehr.transactions[0] == BUNDLE  # body resent
    assert ehr.authorizations[1] != ehr.authorizations[2]


def test_a_second_401_is_permanent_after_exactly_one_refresh(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    http, _ = smart_http(ehr, signing[1], clock)
    ehr.expires_in = 0  # every token the EHR issues is dead on arrival
    with pytest.raises(PermanentDeliveryError, match=r"^transaction: HTTP 401"):
        http.transaction(BUNDLE)
    assert statuses(ehr) == [401, 401]
    assert len(ehr.scopes) == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_token_endpoint_down_is_transient_and_no_fhir_request_goes_out(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/oauth/token"
    http, _ = smart_http(ehr, signing[1], clock, token_url=dead)
    with pytest.raises(TransientDeliveryError, match=rf"token endpoint {dead}: ConnectionError"):
        http.transaction(BUNDLE)
    assert ehr.fhir_requests == []


def test_token_endpoint_unavailable_is_transient_then_recovers(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    http, _ = smart_http(ehr, signing[1], clock)
    ehr.token_status = 503
    with pytest.raises(TransientDeliveryError, match=r"token endpoint .*: HTTP 503"):
        http.search("Patient", {"identifier": "x"})
    ehr.token_status = None
    http.search("Patient", {"identifier": "x"})
    assert statuses(ehr) == [200]


def test_a_key_the_ehr_did_not_register_is_a_permanent_invalid_client(
    signing: tuple[Path, SigningKey], ehr: StubEhr, clock: Clock
) -> None:
    other = SigningKey(signing[1].alg, pki.ec_key() if signing[1].alg == "ES384" else _rsa())
    http, _ = smart_http(ehr, other, clock)
    with pytest.raises(PermanentDeliveryError, match=r"token endpoint .*: HTTP 401 invalid_client"):
        http.search("Patient", {"identifier": "x"})
    assert ehr.assertion_problems == ["bad signature"]
    assert ehr.fhir_requests == []


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("client", "problem"),
    [({"key_id": "k2"}, "kid 'k2' is not 'k1'"), ({"client_id": "someone"}, "iss and sub")],
)
def test_the_token_endpoint_really_checks_the_assertion(
    signing: tuple[Path, SigningKey],
    ehr: StubEhr,
    clock: Clock,
    client: dict[str, str],
    problem: str,
) -> None:
    """The stand-in is strict (so the happy paths above prove something)."""
    given: dict[str, Any] = {"client_id": ehr.client_id, "key_id": "k1", **client}
    smart = SmartClient(key=signing[1], scopes=SCOPES, **given)
    auth = SmartBackendAuth(smart, ehr.base, requests.Session(), clock=clock)
    with pytest.raises(PermanentDeliveryError):
        FhirHttp(FhirEndpoint(ehr.base), auth=auth).search("Patient", {"identifier": "x"})
    assert ehr.assertion_problems[0].startswith(problem)


def test_a_server_without_smart_configuration_is_named_in_the_error(
    signing: tuple[Path, SigningKey], clock: Clock
) -> None:
    with StubEhr(public_key=signing[1].key.public_key(), clock=clock) as ehr:
        smart = SmartClient(ehr.client_id, signing[1], SCOPES)
        auth = SmartBackendAuth(smart, ehr.root + "/elsewhere", requests.Session(), clock=clock)
        http = FhirHttp(FhirEndpoint(ehr.root + "/elsewhere"), auth=auth)
        with pytest.raises(PermanentDeliveryError, match=r"SMART configuration .*/elsewhere/"):
            http.search("Patient", {"identifier": "x"})


def test_no_token_assertion_or_key_reaches_the_log_or_an_error(
    signing: tuple[Path, SigningKey],
    ehr: StubEhr,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    http, _ = smart_http(ehr, signing[1], clock)
    http.search("Patient", {"identifier": "x"})
    ehr.revoke_all()
    http.search("Patient", {"identifier": "x"})
    ehr.expires_in = 0
    ehr.revoke_all()
    with pytest.raises(PermanentDeliveryError) as failure:
        http.search("Patient", {"identifier": "PHI-123"})
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("sr2fhir")]
    said = "\n".join([*ours, str(failure.value)])
    assert "retrying once" in said
    secrets = [*ehr.issued, *(a.removeprefix("Bearer ") for a in ehr.authorizations)]
    assert secrets and not any(s in said for s in secrets)
    assert "eyJ" not in said and "PHI-123" not in said  # no JWT, no query


# ---------------------------------------------------------------- bearer and basic


def test_bearer_token_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHR_TOKEN", "tok-from-env")
    with StubEhr(bearer_tokens=("tok-from-env",)) as ehr:
        config = fhir_config(base_url=ehr.base, auth_kind="bearer", auth_token_env="EHR_TOKEN")
        build_fhir_sink(config).http.search("Patient", {"identifier": "x"})
    assert ehr.authorizations == ["Bearer tok-from-env"] and statuses(ehr) == [200]


def test_bearer_token_from_the_config_as_before() -> None:
    with StubEhr(bearer_tokens=("tok-literal",)) as ehr:
        config = fhir_config(base_url=ehr.base, auth_kind="bearer", auth_token="tok-literal")
        build_fhir_sink(config).http.transaction(BUNDLE)
    assert statuses(ehr) == [200]


def test_bearer_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok-1\n")
    with StubEhr(bearer_tokens=("tok-1",)) as ehr:
        config = fhir_config(base_url=ehr.base, auth_kind="bearer", auth_token_file=str(token_file))
        http = build_fhir_sink(config).http
        http.search("Patient", {"identifier": "x"})
        token_file.write_text("tok-2\n")  # rewritten in place, same size, same second
        ehr.bearer_tokens = {"tok-2"}
        http.search("Patient", {"identifier": "x"})
        fresh = tmp_path / "token.new"
        fresh.write_text("tok-3")
        os.replace(fresh, token_file)  # the usual atomic rotation
        ehr.bearer_tokens = {"tok-3"}
        http.search("Patient", {"identifier": "x"})
        token_file.write_text("")
        with pytest.raises(TransientDeliveryError, match=r"fhir.auth_token_file .* is empty"):
            http.search("Patient", {"identifier": "x"})
        token_file.unlink()
        with pytest.raises(TransientDeliveryError, match=r"fhir.auth_token_file .*cannot read"):
            http.search("Patient", {"identifier": "x"})
    assert ehr.authorizations == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]
    assert statuses(ehr) == [200, 200, 200]


def test_basic_credentials_and_a_wrong_password() -> None:
    with StubEhr(basic=("gateway", "pa:ss")) as ehr:
        good = fhir_config(
            base_url=ehr.base, auth_kind="basic", auth_username="gateway", auth_password="pa:ss"
        )
        build_fhir_sink(good).http.search("Patient", {"identifier": "x"})
        bad = fhir_config(
            base_url=ehr.base, auth_kind="basic", auth_username="gateway", auth_password="nope"
        )
        with pytest.raises(PermanentDeliveryError, match=r"HTTP 401"):
            build_fhir_sink(bad).http.search("Patient", {"identifier": "x"})
    assert statuses(ehr) == [200, 401]


def test_auth_kind_none_sends_no_authorization() -> None:
    with StubEhr(bearer_tokens=("t",)) as ehr, pytest.raises(PermanentDeliveryError, match="401"):
        build_fhir_sink(fhir_config(base_url=ehr.base)).http.search("Patient", {})
    assert ehr.authorizations == [""]


def test_credentials_over_plain_http_to_another_host_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = fhir_config(
        base_url="http://ehr.example/fhir", auth_kind="bearer", auth_token="s3cret-tok"
    )
    build_fhir_sink(config)
    assert "bearer over plain http to ehr.example" in caplog.text
    assert "s3cret" not in caplog.text
    caplog.clear()
    build_fhir_sink(
        fhir_config(base_url="https://ehr.example/fhir", auth_kind="bearer", auth_token="t")
    )
    assert caplog.text == ""
