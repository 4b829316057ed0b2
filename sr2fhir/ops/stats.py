"""Counters and histograms of one process, published as a small JSON file in <data_dir>/stats/.

Workers are separate processes: what only a worker sees (the FHIR server's response codes,
when a job was delivered) is counted in the worker and written to its own file
(`worker-0.json` ...), at most every WORKER_SAVE_EVERY seconds, which the gateway's /metrics
and `sr2fhir status` add up. A file is replaced atomically (temp + rename, no fsync: losing
the last counts to a power cut is fine), and a new process for the same seat continues from
the file's counts, so counters only grow.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sr2fhir.fsutil import write_atomically

log = logging.getLogger(__name__)

STATS_DIR = "stats"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
MAX_LABEL_SETS = 500  # per counter: an open AE policy must not grow the metrics without bound
OTHER = "_other_"

Labels = tuple[str, ...]


@dataclass
class Histogram:
    """Cumulative-on-output histogram: per-bucket counts (last = +Inf), sum and count."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count of observations <= le) pairs, ending with +Inf."""
        running, out = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else f"{bound:g}", running))
        return out

    def add(self, other: Histogram) -> None:
        if other.bounds != self.bounds:
            return  # written by another version with other buckets: leave it out
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total


@dataclass
class Snapshot:
    """Counters {name: {labels: value}} and histograms {name: Histogram}, plus when it was taken."""

    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    updated_at: float = 0.0

    def counter(self, name: str) -> dict[Labels, float]:
        return self.counters.get(name, {})

    def total(self, name: str) -> float:
        return sum(self.counter(name).values())

    def merge(self, other: Snapshot) -> None:
        for name, values in other.counters.items():
            mine = self.counters.setdefault(name, {})
            for labels, value in values.items():
                mine[labels] = mine.get(labels, 0) + value
        for name, hist in other.histograms.items():
            self.histograms.setdefault(name, Histogram(hist.bounds)).add(hist)
        self.updated_at = max(self.updated_at, other.updated_at)

    def to_json(self) -> str:
        return json.dumps(
            {
                "updated_at": self.updated_at,
                "counters": {
                    n: [[list(k), v] for k, v in c.items()] for n, c in self.counters.items()
                },
                "histograms": {
                    n: {"bounds": list(h.bounds), "counts": h.counts, "sum": h.total}
                    for n, h in self.histograms.items()
                },
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data = json.loads(text)
        counters = {
            name: {tuple(labels): value for labels, value in pairs}
            for name, pairs in data.get("counters", {}).items()
        }
        histograms = {
            name: Histogram(tuple(h["bounds"]), list(h["counts"]), float(h["sum"]))
            for name, h in data.get("histograms", {}).items()
        }
        return cls(counters, histograms, float(data.get("updated_at", 0.0)))


class Stats:
    """Thread-safe counters of one process (or worker seat), optionally mirrored to a file.

    With `save_every`, a daemon thread writes the file at most that often, only when something
    changed (a write costs ~2 ms here: not once per delivery); close() writes the rest.
    """

    def __init__(self, path: Path | None = None, save_every: float | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data = _load(path) if path is not None else Snapshot()
        self._dirty = False
        self._closed = threading.Event()
        self.saver: threading.Thread | None = None
        if save_every is not None:  # the thread holds no reference: it ends with the object
            self.saver = saver = threading.Thread(
                target=_save_loop,
                args=(weakref.ref(self), self._closed, save_every),
                name="sr2fhir-stats",
                daemon=True,
            )
            saver.start()

    def inc(self, name: str, labels: Labels = (), amount: float = 1) -> None:
        with self._lock:
            values = self._data.counters.setdefault(name, {})
            if labels not in values and len(values) >= MAX_LABEL_SETS:
                labels = (OTHER,) * len(labels)
            values[labels] = values.get(labels, 0) + amount
            self._changed()

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            self._data.histograms.setdefault(name, Histogram()).observe(value)
            self._changed()

    def _changed(self) -> None:
        self._data.updated_at = time.time()
        self._dirty = True

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot.from_json(self._data.to_json())

    def save(self) -> None:
        """Write the file if anything changed since the last write."""
        with self._lock:
            if self._dirty:
                self._write()

    def close(self) -> None:
        """Stop the saver thread and write what it has not written yet."""
        self._closed.set()
        self.save()

    def _write(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, self._data.to_json().encode("utf-8"), durable=False)
            self._dirty = False
        except OSError as exc:  # counters are not worth failing a delivery for
            log.debug("cannot write %s: %s", self.path, exc)


def _save_loop(ref: weakref.ref[Stats], closed: threading.Event, every: float) -> None:
    while not closed.wait(every):
        stats = ref()
        if stats is None:
            return
        stats.save()
        del stats


def _load(path: Path) -> Snapshot:
    try:
        return Snapshot.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Snapshot()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable counters file %s: %s", path, exc)
        return Snapshot()


def stats_dir(data_dir: Path) -> Path:
    return data_dir / STATS_DIR


def read_stats(folder: Path, names: Iterable[str] | None = None) -> Snapshot:
    """The sum of every `*.json` counters file in `folder` (or only `names`)."""
    total = Snapshot()
    paths: Sequence[Path]
    if names is None:
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    else:
        paths = [folder / f"{name}.json" for name in names]
    for path in paths:
        if path.exists():
            total.merge(_load(path))
    return total
