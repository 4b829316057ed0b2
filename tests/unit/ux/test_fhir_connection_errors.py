"""A FHIR server that cannot be reached: the error names its host and port and the reason."""

from __future__ import annotations

import socket

import pytest
import requests

from sr2fhir.delivery.fhir.client import host_and_port, request_failure


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ehr.example/fhir", "ehr.example:443"),
        ("http://ehr.example/fhir", "ehr.example:80"),
        ("http://127.0.0.1:8080/fhir", "127.0.0.1:8080"),
        ("http://[::1]:8080/fhir", "[::1]:8080"),
    ],
)
def test_host_and_port_names_the_scheme_port_when_the_url_has_none(url: str, expected: str) -> None:
    assert host_and_port(url) == expected


def test_a_refused_connection_names_host_port_and_reason() -> None:
    port = closed_port()
    with pytest.raises(requests.RequestException) as failed:
        requests.get(f"http://127.0.0.1:{port}/fhir/metadata?identifier=PHI-4711", timeout=5)

    why = request_failure(failed.value, f"127.0.0.1:{port}")

    assert why == f"ConnectionError: cannot connect to 127.0.0.1:{port} (connection refused)"


def test_a_name_that_does_not_resolve_says_so() -> None:
    with pytest.raises(requests.RequestException) as failed:
        requests.get("http://no-such-host.invalid/fhir", timeout=5)

    why = request_failure(failed.value, "no-such-host.invalid:80")

    assert why.startswith("ConnectionError: cannot connect to no-such-host.invalid:80 (host name")
