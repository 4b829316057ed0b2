"""Orthanc as the PACS in front of the gateway: its own storage, REST on loopback, the DICOM
modalities it may send to; stopped (and waited for) on exit."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.dcmtk import DCMTK_ENV
from tests.support.processes import exited, free_port, require_executable, stop_process, wait_until

ORTHANC_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")


def orthanc_executable() -> str:
    found = next((p for p in ORTHANC_CANDIDATES if os.access(p, os.X_OK)), None)
    return require_executable(found or ORTHANC_CANDIDATES[0])


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    work: Path

    @property
    def log_path(self) -> Path:
        return self.work / "orthanc.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        req = urllib.request.Request(url, data=body, method=method)
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def upload(self, path: Path) -> str:
        """POST /instances; returns Orthanc's instance id."""
        return str(self.request("POST", "/instances", path.read_bytes())["ID"])

    def store_to(self, modality: str, ids: Sequence[str]) -> Any:
        body = json.dumps({"Resources": list(ids), "Synchronous": True}).encode()
        return self.request("POST", f"/modalities/{modality}/store", body)


@contextmanager
def running_orthanc(
    work: Path, modalities: dict[str, tuple[str, int]], extra: dict[str, Any] | None = None
) -> Iterator[Orthanc]:
    """Orthanc on loopback with its own storage and the given DICOM modalities (AET, port);
    `extra` adds or replaces configuration options (e.g. "LuaScripts")."""
    work.mkdir(parents=True, exist_ok=True)
    orthanc = Orthanc(free_port(), free_port(), work)
    config = {
        "Name": "sr2fhir-test",
        "HttpPort": orthanc.http_port,
        "DicomPort": orthanc.dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "Plugins": [],
        "DicomModalities": {
            name: {"AET": aet, "Host": "127.0.0.1", "Port": port}
            for name, (aet, port) in modalities.items()
        },
        **(extra or {}),
    }
    config_path = work / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    with open(orthanc.log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [orthanc_executable(), str(config_path)],
            env=DCMTK_ENV,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _ready(orthanc) or exited(proc), 60, "Orthanc's REST API")
        yield orthanc
    finally:
        stop_process(proc, timeout=20)  # Orthanc takes ~4.5 s to stop on SIGTERM


def _ready(orthanc: Orthanc) -> bool:
    try:
        return bool(orthanc.request("GET", "/system"))
    except OSError:
        return False
