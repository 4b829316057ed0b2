"""TLS to the FHIR server, against a local https stand-in (tests/support/ehr_stub.py) with
certificates made in the test: CA bundle, mutual TLS, TLS 1.2 minimum, and what a failed
handshake says."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import FhirConfig, load_config
from sr2fhir.delivery.fhir.client import tls_context
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.errors import TransientDeliveryError
from tests.support.ehr_stub import StubEhr
from tests.support.pki import TestCa, TlsIdentity, server_tls_context

TOKEN = "tls-test-token"


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path)


@pytest.fixture
def client(ca: TestCa) -> TlsIdentity:
    return ca.issue("sr2fhir-gateway", client=True)


@pytest.fixture
def mtls_ehr(ca: TestCa) -> Iterator[StubEhr]:
    with StubEhr(bearer_tokens=(TOKEN,), tls=server_tls_context(ca)) as ehr:
        yield ehr


def config(ehr: StubEhr, **keys: Any) -> FhirConfig:
    given = {"base_url": ehr.base, "auth_kind": "bearer", "auth_token": TOKEN, **keys}
    return load_config(env={}, overrides={f"fhir.{k}": v for k, v in given.items()}).fhir


def search(fhir: FhirConfig) -> None:
    build_fhir_sink(fhir).http.search("Patient", {"identifier": "urn:mrn|PHI-4711"})


def test_mutual_tls_with_the_right_ca_and_client_certificate(
    mtls_ehr: StubEhr, ca: TestCa, client: TlsIdentity
) -> None:
    search(
        config(
            mtls_ehr,
            ca_bundle=str(ca.pem),
            client_cert=str(client.cert),
            client_key=str(client.key),
        )
    )
    assert mtls_ehr.fhir_requests == [("GET", "/Patient", 200)]
    assert mtls_ehr.tls_errors == []


def test_a_certificate_file_that_holds_its_key_too(
    mtls_ehr: StubEhr, ca: TestCa, client: TlsIdentity, tmp_path: Path
) -> None:
    both = tmp_path / "client-with-key.pem"
    both.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    search(config(mtls_ehr, ca_bundle=str(ca.pem), client_cert=str(both)))
    assert [status for *_, status in mtls_ehr.fhir_requests] == [200]


def test_without_the_client_certificate_the_failure_is_transient_and_says_why(
    mtls_ehr: StubEhr, ca: TestCa
) -> None:
    with pytest.raises(TransientDeliveryError) as failure:
        search(config(mtls_ehr, ca_bundle=str(ca.pem)))
    message = str(failure.value)
    assert message.startswith("GET Patient: TLS with 127.0.0.1:")
    # TLS 1.3: the server's "certificate required" alert, or, when it hangs up first, EOF
    assert "client certificate" in message and "fhir.client_cert" in message
    assert "PHI-4711" not in message  # the query never reaches an error
    assert mtls_ehr.fhir_requests == []


def test_a_server_certificate_from_another_ca_is_not_trusted(
    mtls_ehr: StubEhr, client: TlsIdentity, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    stranger = TestCa(tmp_path / "other", "some other CA")
    with pytest.raises(
        TransientDeliveryError, match=r"server certificate not trusted \(fhir.ca_bundle\)"
    ):
        search(
            config(
                mtls_ehr,
                ca_bundle=str(stranger.pem),
                client_cert=str(client.cert),
                client_key=str(client.key),
            )
        )


def test_system_trust_is_the_default_and_does_not_know_a_private_ca(mtls_ehr: StubEhr) -> None:
    with pytest.raises(TransientDeliveryError, match=r"not trusted"):
        search(config(mtls_ehr))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_false_skips_the_server_check(ca: TestCa) -> None:
    tls = server_tls_context(ca, require_client_cert=False)
    with StubEhr(bearer_tokens=(TOKEN,), tls=tls) as ehr:
        search(config(ehr, verify_tls=False))
    assert [status for *_, status in ehr.fhir_requests] == [200]


def _tls11_server(ca: TestCa) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 on purpose
        context = server_tls_context(ca, require_client_cert=False)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def _old_client_handshake(ca: TestCa, port: int) -> str | None:
    """A client that allows TLS 1.1: proves the server really speaks it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.create_default_context(cafile=str(ca.pem))
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.version()


def test_a_server_that_offers_only_tls_1_1_is_refused(ca: TestCa) -> None:
    with StubEhr(bearer_tokens=(TOKEN,), tls=_tls11_server(ca)) as ehr:
        port = int(ehr.root.rsplit(":", 1)[1])
        assert _old_client_handshake(ca, port) == "TLSv1.1"
        with pytest.raises(
            TransientDeliveryError, match=r"no common TLS version .*TLS 1.2 or newer"
        ):
            search(config(ehr, ca_bundle=str(ca.pem)))
    assert ehr.fhir_requests == []


def test_tls_1_2_is_the_minimum_even_where_the_platform_allows_less(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    permissive = ssl.create_default_context

    def older_default(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = permissive(*args, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        return context

    monkeypatch.setattr(ssl, "create_default_context", older_default)
    assert tls_context(True).minimum_version == ssl.TLSVersion.TLSv1_2
