"""The Orthanc recipe of docs/pacs-recipes.md: the Lua script that docker/compose.yaml mounts
forwards every SR stored into Orthanc to sr2fhir, with no /store call; images stay put."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.integration.peers import (
    REPO,
    outbox_uids,
    running_gateway,
    running_orthanc,
    sop_instance_uid,
    wait_until,
    write_reports,
)

pytestmark = pytest.mark.integration

LUA = REPO / "docker" / "orthanc" / "sr2fhir-forward.lua"


def test_an_sr_uploaded_to_orthanc_reaches_sr2fhir_by_itself(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "srs", 3, start=700)
    expected = {sop_instance_uid(p) for p in reports}
    image = Path(str(get_testdata_file("CT_small.dcm")))
    with running_gateway(tmp_path / "data") as gateway:
        modalities = {"sr2fhir": ("SR2FHIR", gateway.port)}
        work = tmp_path / "orthanc"
        with running_orthanc(work, modalities, {"LuaScripts": [str(LUA)]}) as orthanc:
            orthanc.upload(image)  # a CT first: the script must let it be
            ids = [orthanc.upload(path) for path in reports]  # REST upload, nothing else

            wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")

            assert len(orthanc.request("GET", "/instances")) == 4  # all kept in the PACS

            def lua_log() -> str:  # Orthanc writes its log lines on its own schedule
                text = (work / "orthanc.log").read_text(errors="replace")
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
    work = tmp_path / "orthanc"
    with running_orthanc(work, modalities, {"LuaScripts": [str(LUA)]}) as orthanc:
        instance = orthanc.upload(report)

        def failure_logged() -> bool:
            log_text = (work / "orthanc.log").read_text(errors="replace")
            return f"Lua: Unable to send instance {instance}" in log_text

        wait_until(failure_logged, 60, "Orthanc to log the failed forward")
        assert orthanc.request("GET", "/instances") == [instance]
