"""The fhir sink: one transaction Bundle per SR, POSTed to the server's base URL.

Idempotent by construction: every entry is a PUT to a deterministic id (docs/mapping.md), so
re-delivery after a crash between POST and DONE, or a re-sent SR, updates instead of
duplicating. A 409/412 (a concurrent update of the same resource) is retried once at once;
then it is permanent.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from sr2fhir.config import FhirConfig, FhirVersion
from sr2fhir.delivery.fhir.auth import build_auth
from sr2fhir.delivery.fhir.client import FhirEndpoint, FhirHttp, configure_tls
from sr2fhir.delivery.fhir.outcome import CONFLICT_STATUS, check_transaction_response
from sr2fhir.delivery.fhir.resolve import ReferenceResolver
from sr2fhir.delivery.sink import Receipt, SinkCheck
from sr2fhir.errors import DeliveryError, PermanentDeliveryError
from sr2fhir.events import SILENT, Emitter
from sr2fhir.mapping import MappingWarning
from sr2fhir.mapping.r4 import to_r4
from sr2fhir.spool import InstanceInfo

log = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class FhirSink:
    """Delivers to a FHIR server; the receipt names the server and the number of entries."""

    def __init__(
        self,
        http: FhirHttp,
        resolver: ReferenceResolver,
        version: FhirVersion = FhirVersion.R5,
        conflict_pause: float = 0.5,
    ) -> None:
        self.http = http
        self.resolver = resolver
        self.version = version
        self.conflict_pause = conflict_pause

    def recover(self, pid: int | None = None) -> None:
        """Nothing to clean: an interrupted transaction either committed or did not."""

    def probe(self, timeout: float) -> SinkCheck:
        """GET [base]/metadata answers 2xx within `timeout` seconds."""
        connect = min(self.http.endpoint.connect_timeout, timeout)
        try:
            response = self.http.request("GET", "metadata", timeout=(connect, timeout))
        except (DeliveryError, OSError) as exc:
            return SinkCheck(False, f"FHIR server unreachable: {exc}")
        if 200 <= response.status_code < 300:
            return SinkCheck(True, f"FHIR server answers ({response.status_code})")
        return SinkCheck(False, f"FHIR server answers HTTP {response.status_code}")

    def deliver(
        self,
        bundle: dict[str, Any],
        instance: InstanceInfo,
        warnings: tuple[MappingWarning, ...] = (),
    ) -> Receipt:
        """POST the transaction (`warnings` are the job's: the server gets the Bundle only)."""
        if self.version is FhirVersion.R4:
            bundle = to_r4(bundle)
        self.resolver.resolve_bundle(bundle)
        try:
            status, response = self.http.post_transaction(bundle)
        except PermanentDeliveryError as exc:
            if exc.status not in CONFLICT_STATUS:
                raise
            log.info("sop_instance_uid=%s: conflict, retrying once", instance.sop_instance_uid)
            time.sleep(self.conflict_pause)
            status, response = self.http.post_transaction(bundle)
        check_transaction_response(response, len(bundle["entry"]))
        where = f"{self.http.base} ({len(bundle['entry'])} resources)"
        return Receipt(where, status, response_locations(response))


def response_locations(response: dict[str, Any]) -> tuple[str, ...]:
    """entry.response.location of a checked transaction-response, in entry order."""
    found = []
    for entry in response.get("entry", []):
        location = entry.get("response", {}).get("location")
        if isinstance(location, str) and location:
            found.append(location)
    return tuple(found)


def build_fhir_sink(config: FhirConfig, events: Emitter = SILENT) -> FhirSink:
    """The sink the `fhir` section describes (base_url is checked by the config loader).

    TLS and authentication sit on the one session every search and transaction uses; the
    SMART token endpoint gets a session of its own with the same TLS settings.
    """
    endpoint = FhirEndpoint(
        base_url=str(config.base_url),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        verify=config.ca_bundle or config.verify_tls,
        headers=config.headers,
        client_cert=config.client_cert,
        client_key=config.client_key,
    )
    auth = build_auth(config, lambda: configure_tls(requests.Session(), endpoint), endpoint.timeout)
    if auth is not None and urlsplit(endpoint.base_url).scheme == "http":
        host = urlsplit(endpoint.base_url).hostname
        if host not in LOOPBACK:
            log.warning("fhir.auth_kind %s over plain http to %s", config.auth.kind, host)
    http = FhirHttp(endpoint, auth=auth, events=events)
    resolver = ReferenceResolver(
        http, unresolved=config.unresolved_reference, ttl=config.lookup_cache_ttl
    )
    return FhirSink(http, resolver, config.version)
