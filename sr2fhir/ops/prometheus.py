"""The /metrics page: Prometheus text exposition format 0.0.4, written by hand (no dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sr2fhir import __version__
from sr2fhir.ops import metrics
from sr2fhir.ops.queue_view import OUTCOMES, QueueView
from sr2fhir.ops.stats import Histogram, Labels, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "sr2fhir_"


@dataclass
class Family:
    """One metric: name (without prefix), type, help and its samples."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)
    histogram: Histogram | None = None

    def render(self) -> list[str]:
        name = PREFIX + self.name
        lines = [f"# HELP {name} {self.help}", f"# TYPE {name} {self.kind}"]
        for labels, value in self.samples:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        if self.histogram is not None:
            for le, count in self.histogram.cumulative():
                lines.append(f'{name}_bucket{{le="{le}"}} {count}')
            lines.append(f"{name}_sum {_number(self.histogram.total)}")
            lines.append(f"{name}_count {self.histogram.count}")
        return lines


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _counter_samples(
    values: dict[Labels, float], names: Sequence[str], defaults: Sequence[Labels] = ()
) -> list[tuple[dict[str, str], float]]:
    merged = {labels: 0.0 for labels in defaults}
    merged.update(values)
    return [(dict(zip(names, labels, strict=True)), v) for labels, v in sorted(merged.items())]


def render(
    scp: Snapshot, workers: Snapshot, queue: QueueView, workers_alive: int, workers_total: int
) -> str:
    """The whole page: SCP counters (in-process), worker counters (their files), job table."""
    families = [
        Family("info", "gauge", "Version of the running gateway.", [({"version": __version__}, 1)]),
        Family(
            "associations_total",
            "counter",
            "DICOM associations requested of the Storage SCP, by result.",
            _counter_samples(
                scp.counter(metrics.ASSOCIATIONS), ["result"], [("accepted",), ("rejected",)]
            ),
        ),
        Family(
            "associations_wrong_called_ae_total",
            "counter",
            "Associations that named another called AE title than dicom.ae_title, by calling "
            "and called AE (accepted, or rejected with dicom.require_called_ae: true).",
            _counter_samples(scp.counter(metrics.WRONG_CALLED_AE), ["calling_ae", "called_ae"]),
        ),
        Family(
            "instances_received_total",
            "counter",
            "C-STORE requests that reached the spool, by SOP class, calling AE and result "
            "(stored = answered 0x0000, refused = answered 0xA700).",
            _counter_samples(
                scp.counter(metrics.RECEIVED), ["sop_class_uid", "calling_ae", "result"]
            ),
        ),
        Family(
            "jobs",
            "gauge",
            "Jobs in the job table, by state.",
            [({"state": state.value}, count) for state, count in queue.counts.items()],
        ),
        Family(
            "jobs_locked",
            "gauge",
            "LOCKED jobs by the node holding them (`host:pid` of its gateway; several nodes "
            "share one job database with spool.backend postgresql).",
            [({"node": node}, count) for node, count in sorted((queue.holders or {}).items())],
        ),
        Family(
            "deliveries",
            "gauge",
            "Jobs in the job table by delivery outcome: delivered (DONE), retrying (READY after "
            "a failed attempt), rejected (FAILED, not a usable report, quarantined), failed "
            "(FAILED, refused by the sink or out of attempts). Drops when DONE jobs are purged.",
            [({"outcome": name}, queue.outcomes.get(name, 0)) for name in OUTCOMES],
        ),
        Family(
            "fhir_responses_total",
            "counter",
            "HTTP responses of the FHIR server to the workers, by method and status code.",
            _counter_samples(workers.counter(metrics.FHIR_RESPONSES), ["method", "code"]),
        ),
        Family(
            "delivery_latency_seconds",
            "histogram",
            "Seconds from the C-STORE response (instance spooled) to the job marked delivered.",
            histogram=workers.histograms.get(metrics.LATENCY, Histogram()),
        ),
        Family(
            "spool_files",
            "gauge",
            "Files in the spool, by folder (files = waiting or kept for retry, quarantine).",
            [({"folder": name}, size.files) for name, size in queue.spool.items()],
        ),
        Family(
            "spool_bytes",
            "gauge",
            "Bytes of the files in the spool, by folder.",
            [({"folder": n}, s.bytes) for n, s in queue.spool.items() if s.bytes is not None],
        ),
        Family(
            "spool_free_bytes",
            "gauge",
            "Bytes free on the data folder's filesystem.",
            [({}, queue.free_bytes)] if queue.free_bytes is not None else [],
        ),
        Family(
            "spool_min_free_bytes",
            "gauge",
            "spool.min_free_bytes: below it C-STOREs are refused (0xA700); 0 = no limit.",
            [({}, queue.min_free_bytes)],
        ),
        Family(
            "workers",
            "gauge",
            "Worker processes (or threads), by state.",
            [({"state": "alive"}, workers_alive), ({"state": "configured"}, workers_total)],
        ),
    ]
    return "\n".join(line for family in families for line in family.render()) + "\n"
