"""Benchmark reports: one template document whose per-report UIDs are swapped by byte
substitution, so report ``index`` costs a ``bytes.replace``, not a highdicom build."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydicom import Dataset

from tests.support.sr.documents import document
from tests.support.sr.identity import make_uid
from tests.support.sr.part10 import from_bytes, to_bytes
from tests.support.sr.templates import measurement_report, small_group
from tests.support.sr.tree import iter_items


def _benchmark_root(case: str) -> Dataset:
    return measurement_report([small_group(case, n, 6, 3) for n in (1, 2)])


@lru_cache(maxsize=1)
def _benchmark_template() -> tuple[bytes, tuple[str, ...]]:
    """Template bytes and the per-report UIDs in it (all 44 characters long)."""
    case = "benchmark"
    ds = document(case, _benchmark_root(case))
    per_report = [ds.SOPInstanceUID, ds.SeriesInstanceUID]
    for _, item in iter_items(ds):
        per_report.extend(v for k in ("ObservationUID", "UID") if (v := item.get(k)))
    return to_bytes(ds), tuple(dict.fromkeys(str(u) for u in per_report))


def benchmark_report_bytes(index: int) -> bytes:
    """Part-10 bytes of benchmark report ``index``: the template with fresh UIDs.

    2 groups x (6 NUMs + 3 CODE + 1 TEXT evaluations); the SOP Instance, Series,
    Observation and Tracking UIDs are unique per index; UIDs keep their length, so a
    byte substitution keeps every length field valid.
    """
    data, uids = _benchmark_template()
    for old in uids:
        data = data.replace(old.encode(), make_uid("benchmark", index, old).encode())
    return data


def benchmark_report(index: int) -> Dataset:
    """Benchmark report ``index`` as a Dataset (see ``benchmark_report_bytes``)."""
    return from_bytes(benchmark_report_bytes(index))


def write_reports(folder: Path, count: int, start: int = 0) -> list[Path]:
    """``count`` distinct benchmark reports as Part-10 files ``sr-<index>.dcm``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"sr-{index:05d}.dcm"
        path.write_bytes(benchmark_report_bytes(index))
        paths.append(path)
    return paths
