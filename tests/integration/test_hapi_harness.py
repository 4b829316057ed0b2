"""Smoke test of the HAPI FHIR test server (tests/fhir-server) against what sr2fhir relies on.

The server is started outside the tests (`tests/fhir-server/run.sh start`) and found through
SR2FHIR_TEST_FHIR_URL. Checked here, on R5 or R4 alike:

1. a transaction whose entries have `urn:uuid:` fullUrls and `PUT Type/<uuid>` requests is
   accepted, references between entries are rewritten to the PUT ids, and sending the same
   Bundle again creates no duplicates;
2. a logical reference by identifier alone (no Patient on the server) is accepted and stored
   as sent, and no placeholder Patient appears.

Every resource is tagged with a code unique to the test run, so the counts see only this
run's resources even on a server that already holds data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.fhir_peer import HEADERS, TIMEOUT, fhir_base

RUN_SYSTEM = "urn:sr2fhir:test-run"

Json = dict[str, Any]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers.update(HEADERS)
        yield s


def run_code(tag: str) -> Json:
    return {"coding": [{"system": RUN_SYSTEM, "code": tag}]}


def post_transaction(s: requests.Session, base: str, bundle: Json) -> list[Json]:
    """POST the Bundle to the base URL; the response entries (fails with the outcome if not 200)."""
    r = s.post(base, data=json.dumps(bundle), timeout=TIMEOUT)
    assert r.status_code == 200, f"transaction: HTTP {r.status_code}: {r.text[:2000]}"
    body = r.json()
    assert body.get("resourceType") == "Bundle", body
    assert body.get("type") == "transaction-response", body.get("type")
    entries: list[Json] = body.get("entry", [])
    assert len(entries) == len(bundle["entry"]), body
    return entries


def count(s: requests.Session, base: str, query: str) -> int:
    r = s.get(f"{base}/{query}&_summary=count", timeout=TIMEOUT)
    assert r.status_code == 200, f"GET {query}: HTTP {r.status_code}: {r.text[:2000]}"
    total = r.json().get("total")
    assert isinstance(total, int), r.text[:2000]
    return total


def read(s: requests.Session, base: str, ref: str) -> Json:
    r = s.get(f"{base}/{ref}", timeout=TIMEOUT)
    assert r.status_code == 200, f"GET {ref}: HTTP {r.status_code}: {r.text[:2000]}"
    resource: Json = r.json()
    return resource


def put_entry(resource_type: str, rid: str, resource: Json) -> Json:
    """A transaction entry as the gateway writes it: urn:uuid fullUrl, PUT with a client id."""
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": {"resourceType": resource_type, "id": rid, **resource},
        "request": {"method": "PUT", "url": f"{resource_type}/{rid}"},
    }


def transaction(*entries: Json) -> Json:
    """A transaction Bundle of these entries."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_urn_uuid_put_transaction_resolves_references_and_resending_creates_no_duplicates(
    session: requests.Session,
) -> None:
    base = fhir_base()
    tag = str(uuid.uuid4())
    ids = {name: str(uuid.uuid5(uuid.UUID(tag), name)) for name in ("dev", "grp", "m1", "m2")}
    subject = {"type": "Patient", "identifier": {"system": RUN_SYSTEM, "value": tag}}
    measurement = {
        "status": "final",
        "code": run_code(tag),
        "subject": subject,
        "device": {"reference": f"urn:uuid:{ids['dev']}"},
    }
    bundle = transaction(
        put_entry(
            "Observation",
            ids["grp"],
            {
                **measurement,
                "hasMember": [
                    {"reference": f"urn:uuid:{ids['m1']}"},
                    {"reference": f"urn:uuid:{ids['m2']}"},
                ],
            },
        ),
        put_entry("Observation", ids["m1"], {**measurement, "valueString": "m1"}),
        put_entry("Observation", ids["m2"], {**measurement, "valueString": "m2"}),
        # The target comes after the entries that reference it, as it may in a Bundle.
        put_entry("Device", ids["dev"], {"identifier": [{"system": RUN_SYSTEM, "value": tag}]}),
    )
    observations = f"Observation?code={RUN_SYSTEM}|{tag}"
    assert count(session, base, observations) == 0

    first = post_transaction(session, base, bundle)
    for sent, got in zip(bundle["entry"], first, strict=True):
        status = got["response"]["status"]
        assert status.startswith("201"), f"{sent['request']['url']}: {status}"
        # The server kept the client's id: Location is Type/<uuid>/_history/N.
        assert got["response"]["location"].startswith(sent["request"]["url"] + "/"), got

    group = read(session, base, f"Observation/{ids['grp']}")
    assert group["device"] == {"reference": f"Device/{ids['dev']}"}
    assert group["hasMember"] == [
        {"reference": f"Observation/{ids['m1']}"},
        {"reference": f"Observation/{ids['m2']}"},
    ]
    member = read(session, base, f"Observation/{ids['m1']}")
    assert member["device"] == {"reference": f"Device/{ids['dev']}"}
    assert "urn:uuid:" not in json.dumps(group) + json.dumps(member)
    assert count(session, base, observations) == 3
    assert count(session, base, f"Device?identifier={RUN_SYSTEM}|{tag}") == 1

    second = post_transaction(session, base, bundle)
    for sent, got in zip(bundle["entry"], second, strict=True):
        status = got["response"]["status"]
        assert status.startswith("200"), f"re-sent {sent['request']['url']}: {status}"
        assert got["response"]["location"].startswith(sent["request"]["url"] + "/"), got
    assert count(session, base, observations) == 3
    assert count(session, base, f"Device?identifier={RUN_SYSTEM}|{tag}") == 1


def test_identifier_only_subject_is_stored_without_the_patient(
    session: requests.Session,
) -> None:
    base = fhir_base()
    tag = str(uuid.uuid4())
    subject = {"type": "Patient", "identifier": {"system": RUN_SYSTEM, "value": tag}}
    patients = f"Patient?identifier={RUN_SYSTEM}|{tag}"
    assert count(session, base, patients) == 0

    oid = str(uuid.uuid5(uuid.UUID(tag), "obs"))
    bundle = transaction(
        put_entry(
            "Observation", oid, {"status": "final", "code": run_code(tag), "subject": subject}
        )
    )
    (entry,) = post_transaction(session, base, bundle)
    assert entry["response"]["status"].startswith("201"), entry

    stored = read(session, base, f"Observation/{oid}")
    assert stored["subject"] == subject
    # Nothing was resolved or invented for it: still no such Patient.
    assert count(session, base, patients) == 0
