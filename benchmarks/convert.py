"""Mapping speed: sr2fhir (read + parse + map + serialise) against highdicom's own parsing.

    python3 benchmarks/convert.py [--count N] [--profile]

Generates N reports (tests/support/sr/benchmark.py: 2 groups, ~10 Observations each) as
Part-10 bytes, then in the same process times
  - sr2fhir: read_sr_bytes + convert_dataset + bundle_to_json, per report;
  - highdicom: srread + MeasurementReport.from_sequence + reading every group's
    measurements and evaluations, per report;
and prints SR/s for each and the ratio. --profile prints where sr2fhir's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import highdicom as hd
from highdicom.sr import MeasurementReport

from sr2fhir.mapping import bundle_to_json, convert_dataset, read_sr_bytes
from tests.support.sr.benchmark import benchmark_report_bytes


def sr2fhir_one(data: bytes) -> None:
    bundle_to_json(convert_dataset(read_sr_bytes(data)))


def highdicom_one(data: bytes) -> None:
    sr = hd.sr.srread(io.BytesIO(data))
    report = MeasurementReport.from_sequence([sr])
    for group in (
        report.get_planar_roi_measurement_groups() + report.get_volumetric_roi_measurement_groups()
    ):
        group.get_measurements()
        group.get_qualitative_evaluations()
    for group in report.get_image_measurement_groups():
        group.get_measurements()
        group.get_qualitative_evaluations()


def rate(func: Callable[[bytes], None], reports: list[bytes]) -> float:
    start = time.perf_counter()
    for data in reports:
        func(data)
    return len(reports) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    reports = [benchmark_report_bytes(i) for i in range(args.count)]
    observations = sum(
        e["resource"]["resourceType"] == "Observation"
        for e in convert_dataset(read_sr_bytes(reports[0]))["entry"]
    )
    sr2fhir_one(reports[0]), highdicom_one(reports[0])  # warm imports and caches
    ours = rate(sr2fhir_one, reports)
    theirs = rate(highdicom_one, reports)
    print(f"reports: {args.count}, Observations per report: {observations}")
    print(f"sr2fhir convert (read+parse+map+json): {ours:8.1f} SR/s")
    print(f"highdicom parse only:                  {theirs:8.1f} SR/s")
    print(f"ratio sr2fhir / highdicom:             {ours / theirs:8.2f}x")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [sr2fhir_one(d) for d in reports])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
