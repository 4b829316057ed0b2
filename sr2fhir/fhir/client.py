"""HTTP to one FHIR server through fhirclient's server connection (one requests session).

Every request of the gateway goes through `FhirHttp.request`, so authentication, TLS and
extra headers are set in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from fhirclient.server import FHIRServer

from sr2fhir.errors import TransientDeliveryError
from sr2fhir.fhir.outcome import raise_for_status

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class FhirEndpoint:
    """Where and how to talk to the server."""

    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    verify: bool | str = True  # False, True (system CAs) or a CA bundle path
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


class FhirHttp:
    """The gateway's only HTTP client for FHIR (search and transaction)."""

    def __init__(self, endpoint: FhirEndpoint, session: requests.Session | None = None) -> None:
        self.endpoint = endpoint
        self.base = endpoint.base_url.rstrip("/")
        self.server = FHIRServer(None, base_uri=self.base + "/")
        if session is not None:
            self.server.session = session
        self.session: requests.Session = self.server.session
        self.session.verify = endpoint.verify
        self.session.headers.update({"Accept": FHIR_JSON, **dict(endpoint.headers)})

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        """One request; network failures become TransientDeliveryError."""
        url = f"{self.base}/{path}" if path else self.base
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": FHIR_JSON} if data is not None else {}
        try:
            return self.session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=(self.endpoint.connect_timeout, self.endpoint.read_timeout),
            )
        except requests.Timeout as exc:
            raise TransientDeliveryError(f"{method} {_what(path)}: timed out") from exc
        except requests.RequestException as exc:
            raise TransientDeliveryError(f"{method} {_what(path)}: {type(exc).__name__}") from exc

    def search(self, resource_type: str, params: dict[str, str]) -> dict[str, Any]:
        """GET [base]/Type?params; raises a DeliveryError on failure."""
        response = self.request("GET", f"{resource_type}?{urlencode(params)}")
        raise_for_status(
            response.status_code,
            response.content,
            response.headers.get("Retry-After"),
            f"search {resource_type}",
        )
        result: dict[str, Any] = response.json()
        return result

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle to the base URL; the transaction-response on 2xx."""
        response = self.request("POST", "", bundle)
        raise_for_status(
            response.status_code,
            response.content,
            response.headers.get("Retry-After"),
            "transaction",
        )
        result: dict[str, Any] = response.json()
        return result


def _what(path: str) -> str:
    """A request's resource type for messages (never the query: it may carry identifiers)."""
    return path.split("?", 1)[0] or "transaction"
