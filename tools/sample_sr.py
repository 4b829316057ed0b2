"""Writes sr2fhir/data/sample-sr.dcm: the sample TID 1500 report that `sr2fhir send-sample`
sends (and `sr2fhir send-sample --path` names), made by the test SR factory.

    python3 tools/sample_sr.py           # (re)write it
    python3 tools/sample_sr.py --check   # exit 1 if the shipped file differs from a new one

The factory's benchmark report (2 measurement groups, 20 measurements and evaluations, a
Comprehensive 3D SR) with its own UIDs, every name, identifier and institution replaced by
plainly synthetic values: no person's data. Same run, same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "sr2fhir" / "data" / "sample-sr.dcm"
SAMPLE_INDEX = "sr2fhir-send-sample"  # its UIDs are the factory's for this "index"

# The factory's made-up identities (tests/support/sr) -> the sample's synthetic ones.
SYNTHETIC = {
    "DOE^JANE^Q": "SYNTHETIC^SAMPLE",
    "PHI-PATIENT-4711": "SR2FHIR-SAMPLE-1",
    "Test Hospital": "Synthetic Sample Site",
    "http://test-hospital.example/mrn": "http://sample.example/patient-id",
    "http://test-hospital.example/acsn": "http://sample.example/accession",
    "ACC-0815": "SAMPLE-ACC-1",
    "OBSERVER^OLIVIA^DR": "SYNTHETIC^OBSERVER",
    "VERIFIER^VICTOR^DR": "SYNTHETIC^VERIFIER",
    "ROE^RICHARD^DR": "SYNTHETIC^PARTICIPANT",
}


def build() -> bytes:
    sys.path.insert(0, str(REPO))
    from tests.support.sr.benchmark import benchmark_report
    from tests.support.sr.part10 import to_bytes

    ds = benchmark_report(SAMPLE_INDEX)
    ds.SeriesDescription = "sr2fhir sample measurement report (synthetic)"

    def replace(dataset: Any, element: Any) -> None:
        value = str(element.value) if element.VR in ("PN", "LO", "SH", "UT", "ST") else None
        if value in SYNTHETIC:
            element.value = SYNTHETIC[value]

    ds.walk(replace)
    return to_bytes(ds)


def main(argv: list[str]) -> int:
    data = build()
    if "--check" in argv:
        same = TARGET.is_file() and TARGET.read_bytes() == data
        print(f"{TARGET.relative_to(REPO)}: {'up to date' if same else 'differs: regenerate'}")
        return 0 if same else 1
    TARGET.write_bytes(data)
    print(f"wrote {TARGET.relative_to(REPO)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
