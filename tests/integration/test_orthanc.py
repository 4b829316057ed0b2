"""Orthanc as the PACS in front of sr2fhir: SRs uploaded over REST reach the gateway with
C-STORE, forwarded by a /store call or by the recipe of docs/pacs-recipes.md (the Lua script
that docker/compose.yaml mounts forwards every SR stored into Orthanc, with no /store call;
images stay put); a gateway that is down is logged by Orthanc and the instance stays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.support.orthanc import Orthanc, running_orthanc
from tests.support.paths import REPO
from tests.support.processes import wait_until
from tests.support.serve import GatewayProcess, outbox_uids, running_gateway
from tests.support.sr.benchmark import write_reports
from tests.support.sr.part10 import sop_instance_uid

pytestmark = pytest.mark.integration

LUA = REPO / "docker" / "orthanc" / "sr2fhir-forward.lua"
FORWARD_BY_LUA = {"LuaScripts": [str(LUA)]}


@contextmanager
def orthanc_in_front(
    tmp_path: Path, extra: dict[str, Any] | None = None
) -> Iterator[tuple[GatewayProcess, Orthanc]]:
    """A gateway, and Orthanc (options `extra`) that knows it as modality "sr2fhir"."""
    with running_gateway(tmp_path / "data") as gateway:
        modalities = {"sr2fhir": ("SR2FHIR", gateway.port)}
        with running_orthanc(tmp_path / "orthanc", modalities, extra) as orthanc:
            yield gateway, orthanc


def test_orthanc_forwards_every_sr_to_the_outbox(tmp_path: Path) -> None:
    files = write_reports(tmp_path / "srs", 6, start=200)
    expected = {sop_instance_uid(p) for p in files}
    with orthanc_in_front(tmp_path) as (gateway, orthanc):
        ids = [orthanc.upload(path) for path in files]
        answer = orthanc.store_to("sr2fhir", ids)

        assert answer["InstancesCount"] == len(files)
        assert answer["FailedInstancesCount"] == 0
        wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")
    assert "calling_ae=ORTHANC" in gateway.log_text()


def test_an_sr_uploaded_to_orthanc_reaches_sr2fhir_by_itself(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "srs", 3, start=700)
    expected = {sop_instance_uid(p) for p in reports}
    image = Path(str(get_testdata_file("CT_small.dcm")))
    with orthanc_in_front(tmp_path, FORWARD_BY_LUA) as (gateway, orthanc):
        orthanc.upload(image)  # a CT first: the script must let it be
        ids = [orthanc.upload(path) for path in reports]  # REST upload, nothing else

        wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")

        assert len(orthanc.request("GET", "/instances")) == 4  # all kept in the PACS

        def lua_log() -> str:  # Orthanc writes its log lines on its own schedule
            text = orthanc.log_text()
            return text if all(f"sr2fhir: queued instance {i}" in text for i in ids) else ""

        orthanc_log = wait_until(lua_log, 30, "the Lua script's lines in Orthanc's log")
        assert "Unable to send instance" not in orthanc_log
    text = gateway.log_text()
    assert text.count("received: sop_instance_uid=") == 3  # the CT was never sent
    assert str(pydicom.dcmread(image).SOPInstanceUID) not in text
    assert "calling_ae=ORTHANC" in text


def test_a_gateway_that_is_down_is_logged_by_orthanc_and_the_instance_stays(
    tmp_path: Path,
) -> None:
    report = write_reports(tmp_path / "srs", 1, start=720)[0]
    with running_gateway(tmp_path / "data") as gateway:
        port = gateway.port
    modalities = {"sr2fhir": ("SR2FHIR", port)}  # nobody listens there any more
    with running_orthanc(tmp_path / "orthanc", modalities, FORWARD_BY_LUA) as orthanc:
        instance = orthanc.upload(report)

        def failure_logged() -> bool:
            return f"Lua: Unable to send instance {instance}" in orthanc.log_text()

        wait_until(failure_logged, 60, "Orthanc to log the failed forward")
        assert orthanc.request("GET", "/instances") == [instance]
