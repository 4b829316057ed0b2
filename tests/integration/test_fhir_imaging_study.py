"""fhir.imaging_study create-if-missing against HAPI FHIR R5 (and R4): SRs of a study the
server does not have create it once, even when delivered at the same moment, and partOf
is a literal reference to it; a study the server has is used, not copied."""

from __future__ import annotations

import copy
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import load_config
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.mapping import MappingOptions, convert_dataset
from sr2fhir.spool import InstanceInfo
from tests.integration.fhir_peer import (
    FhirServer,
    fhir_base,
    fhir_base_r4,
    unique_report,
    wait_done,
)
from tests.support.dcmtk import storescu
from tests.support.serve import running_gateway
from tests.support.sr.identity import PATIENT_ID_ISSUER_URI
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import planar_report

pytestmark = pytest.mark.integration

CREATE = MappingOptions(create_imaging_study=True)


@pytest.fixture(scope="module")
def server() -> FhirServer:
    return FhirServer(fhir_base())


def reports_of_one_new_study(server: FhirServer, count: int) -> tuple[list[Any], str, str]:
    """`count` SRs of one study the server does not have, of a Patient it has."""
    patient_id = f"PHI-PATIENT-{uuid.uuid4().hex[:12]}"
    subject = server.patient(PATIENT_ID_ISSUER_URI, patient_id)
    study_uid = f"2.25.{uuid.uuid4().int}"
    datasets = []
    for _ in range(count):
        ds = unique_report(planar_report, patient_id, study_uid)
        ds.AccessionNumber = f"ACC-{uuid.uuid4().hex[:12]}"
        datasets.append(ds)
    return datasets, study_uid, subject


def studies(server: FhirServer, study_uid: str) -> int:
    return server.count("ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{study_uid}")


def part_of(server: FhirServer, ds: Any) -> set[str]:
    bundle = convert_dataset(ds)
    found = set()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            stored = server.read(f"Observation/{entry['resource']['id']}")
            found |= {p["reference"] for p in stored["partOf"]}
    return found


def test_two_srs_of_a_new_study_on_two_associations_at_once_make_one_study(
    server: FhirServer, tmp_path: Path
) -> None:
    datasets, study_uid, subject = reports_of_one_new_study(server, 2)
    env = {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": server.base,
        "SR2FHIR_FHIR_IMAGING_STUDY": "create-if-missing",
        "SR2FHIR_WORKERS_COUNT": "2",
    }
    with running_gateway(tmp_path / "data", env=env) as gateway:
        folders = [write_datasets(tmp_path / f"in{n}", [ds]) for n, ds in enumerate(datasets)]
        start = threading.Barrier(2)

        def send(files: list[Path]) -> int:
            start.wait()
            return storescu(gateway.port, files).returncode

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(send, folders)) == [0, 0]
        wait_done(gateway, 2)
    assert studies(server, study_uid) == 1
    (study,) = part_of(server, datasets[0]) | part_of(server, datasets[1])
    assert study.startswith("ImagingStudy/")
    created = server.read(study)
    assert created["subject"]["reference"] == subject  # resolved in the same transaction
    assert created["series"][0]["uid"] in {str(ds.SeriesInstanceUID) for ds in datasets}


def deliver_all_at_once(base: str, bundles: list[dict[str, Any]], version: str = "R5") -> None:
    """Each Bundle on its own sink (a worker each), all POSTed at the same moment."""
    config = load_config(env={"SR2FHIR_FHIR_BASE_URL": base, "SR2FHIR_FHIR_VERSION": version})
    start = threading.Barrier(len(bundles))

    def deliver(bundle: dict[str, Any]) -> str:
        sink = build_fhir_sink(config.fhir)
        start.wait()
        return sink.deliver(bundle, InstanceInfo("", "", "TEST"))

    with ThreadPoolExecutor(len(bundles)) as pool:
        list(pool.map(deliver, bundles))


@pytest.mark.parametrize("round_", range(3))
def test_four_transactions_creating_one_study_at_the_same_moment_leave_one(
    server: FhirServer, round_: int
) -> None:
    datasets, study_uid, _ = reports_of_one_new_study(server, 4)
    deliver_all_at_once(server.base, [convert_dataset(ds, CREATE) for ds in datasets])
    assert studies(server, study_uid) == 1
    assert len(set().union(*(part_of(server, ds) for ds in datasets))) == 1


def test_an_existing_study_is_referenced_not_created(server: FhirServer) -> None:
    datasets, study_uid, subject = reports_of_one_new_study(server, 1)
    existing = server.imaging_study(study_uid, subject)
    deliver_all_at_once(server.base, [convert_dataset(datasets[0], CREATE)])
    assert studies(server, study_uid) == 1
    assert part_of(server, datasets[0]) == {existing}


def test_r4_creates_the_study_once_too() -> None:
    r4 = FhirServer(fhir_base_r4())
    datasets, study_uid, _ = reports_of_one_new_study(r4, 2)
    bundles = [convert_dataset(copy.deepcopy(ds), CREATE) for ds in datasets]
    deliver_all_at_once(r4.base, bundles, version="R4")
    assert studies(r4, study_uid) == 1
