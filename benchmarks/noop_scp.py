"""The floor for ingest: a pynetdicom Storage SCP that stores nothing.

    python3 benchmarks/noop_scp.py PORT

Negotiates like the gateway (same AE set-up) and answers every C-STORE with Success without writing,
logging or decoding anything: what pynetdicom itself costs per C-STORE on this machine.
benchmarks/ingest.py runs it beside dcmtk's storescp and the gateway.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pynetdicom import _config, evt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sr2fhir.config import load_config
from sr2fhir.runtime import tune_garbage_collector
from sr2fhir.scp import build_ae

_config.LOG_HANDLER_LEVEL = "none"


def main(port: int) -> None:
    ae = build_ae(load_config(None, env={}).dicom)  # the gateway's contexts and limits
    tune_garbage_collector()  # as the gateway does
    ae.start_server(
        ("127.0.0.1", port), evt_handlers=[(evt.EVT_C_STORE, lambda event: 0x0000)], block=True
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
