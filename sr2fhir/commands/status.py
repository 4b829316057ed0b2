"""`sr2fhir status`: the gateway's picture for a person, read from the data folder.

Works while the gateway runs (short read transactions, counter files replaced atomically)
and after it stopped. `--probe healthz|readyz` asks the running gateway's HTTP endpoint
instead and exits 0 only on 200: the container HEALTHCHECK.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from typing import Any

from sr2fhir.commands.data_folder import require_data_folder
from sr2fhir.config import Config, add_config_flags, config_from_args
from sr2fhir.exits import ExitStatus
from sr2fhir.ops import metrics
from sr2fhir.ops.probe import LOOPBACK, fetch
from sr2fhir.ops.queue_view import QueueView, read_queue
from sr2fhir.ops.service import HISTORY_EVERY, SCP_STATS, read_history, worker_stats_name
from sr2fhir.ops.stats import Histogram, Snapshot, read_stats, stats_dir
from sr2fhir.spool import SpoolRole, open_configured_spool

WINDOWS = ((60.0, "1 min"), (900.0, "15 min"))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="queue, rates, latency, DICOM and FHIR counters, last errors",
        description="What the gateway on this data folder is doing (also while it runs).",
    )
    add_config_flags(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--probe",
        choices=("healthz", "readyz"),
        help="ask the running gateway's HTTP endpoint; exit 0 only if it answers 200",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.probe:
        return probe(config, args.probe)
    if not require_data_folder(config, "status"):
        return ExitStatus.FAILED
    picture = gather(config)
    print(json.dumps(picture, indent=2) if args.json else describe(picture))
    return ExitStatus.OK


def probe(config: Config, path: str) -> int:
    """GET /healthz or /readyz of the gateway this config describes; print the answer."""
    if not config.http.enabled or config.http.port == 0:
        print("sr2fhir status: http is disabled or on port 0: nothing to probe", file=sys.stderr)
        return ExitStatus.FAILED
    host = LOOPBACK.get(config.http.host, config.http.host)
    code, text = fetch(host, config.http.port, path, config.http.check_timeout + 2)
    print(text, file=sys.stdout if code is not None else sys.stderr)
    return ExitStatus.OK if code == 200 else ExitStatus.FAILED


def gather(config: Config, now: float | None = None) -> dict[str, Any]:
    """Everything `status` shows, as plain data."""
    now = time.time() if now is None else now
    spool = open_configured_spool(config, SpoolRole.READER)
    try:
        queue = read_queue(spool)
    finally:
        spool.close()
    folder = stats_dir(config.spool.path)
    scp = read_stats(folder, [SCP_STATS])
    workers = read_stats(folder, [worker_stats_name(i) for i in range(config.workers.count)])
    history = read_history(folder)
    return {
        "data_dir": str(config.spool.path),
        "gateway": _gateway_state(history, now),
        "queue": {state.value: count for state, count in queue.counts.items()},
        "locked_by_node": dict(sorted((queue.holders or {}).items())),
        "deliveries": queue.outcomes,
        "rates_per_minute": {label: _rates(history, span) for span, label in WINDOWS},
        "latency_seconds": _latency(workers.histograms.get(metrics.LATENCY, Histogram())),
        "spool": {name: {"files": s.files, "bytes": s.bytes} for name, s in queue.spool.items()},
        "dicom": _dicom(scp),
        "fhir_responses": {
            " ".join(k): v for k, v in workers.counter(metrics.FHIR_RESPONSES).items()
        },
        "last_errors": _errors(queue),
    }


def _gateway_state(history: list[dict[str, Any]], now: float) -> dict[str, Any]:
    if not history:
        return {"state": "unknown", "detail": "no gateway has reported on this data folder"}
    last = history[-1]
    age = now - float(last["t"])
    if last.get("stopped"):
        return {"state": "stopped", "detail": f"stopped at {_when(last['t'])}"}
    if age <= 3 * HISTORY_EVERY:
        return {"state": "running", "detail": f"last report {age:.0f} s ago"}
    return {"state": "not reporting", "detail": f"last report at {_when(last['t'])} (killed?)"}


def _rates(history: list[dict[str, Any]], span: float) -> dict[str, float] | None:
    """Received and delivered per minute over the last `span` seconds of samples."""
    if len(history) < 2:
        return None
    last = history[-1]
    first = next(s for s in history if float(s["t"]) >= float(last["t"]) - span - 1)
    elapsed = float(last["t"]) - float(first["t"])
    if elapsed <= 0:
        return None
    return {
        key: round(max(0.0, float(last[key]) - float(first[key])) * 60 / elapsed, 1)
        for key in ("received", "delivered")
    }


def _latency(hist: Histogram) -> dict[str, Any]:
    """Count, mean and the bucket bounds holding the median and the 95th percentile."""
    count = hist.count
    if not count:
        return {"count": 0}

    def bound(q: float) -> str:
        return next(le for le, seen in hist.cumulative() if seen >= q * count)

    return {
        "count": count,
        "mean": round(hist.total / count, 3),
        "p50_le": bound(0.5),
        "p95_le": bound(0.95),
    }


def _dicom(scp: Snapshot) -> dict[str, Any]:
    received = scp.counter(metrics.RECEIVED)
    by_ae: dict[str, float] = {}
    for (_, calling_ae, result), value in received.items():
        if result == "stored":
            by_ae[calling_ae] = by_ae.get(calling_ae, 0) + value
    return {
        "associations": {labels[0]: v for labels, v in scp.counter(metrics.ASSOCIATIONS).items()},
        "stored": sum(v for k, v in received.items() if k[-1] == "stored"),
        "refused": sum(v for k, v in received.items() if k[-1] == "refused"),
        "stored_by_calling_ae": by_ae,
    }


def _errors(queue: QueueView) -> list[dict[str, Any]]:
    return [
        {
            "job": job.id,
            "state": job.status.value,
            "updated": _when(job.updated_at),
            "calling_ae": job.instance.calling_ae,
            "error": job.last_error,
        }
        for job in queue.last_errors
    ]


def describe(p: dict[str, Any]) -> str:
    """The picture as a few aligned lines."""
    gateway, dicom, latency = p["gateway"], p["dicom"], p["latency_seconds"]
    rates = [
        f"{r['received']}/min in, {r['delivered']}/min delivered ({label})"
        for label, r in p["rates_per_minute"].items()
        if r is not None
    ]
    spool = [f"{name}/ {s['files']} files ({_size(s['bytes'])})" for name, s in p["spool"].items()]
    associations = dicom["associations"]
    lines = [
        ("data folder", p["data_dir"]),
        ("gateway", f"{gateway['state']} ({gateway['detail']})"),
        ("queue", "  ".join(f"{state} {n}" for state, n in p["queue"].items())),
        ("LOCKED by", ", ".join(f"{node} {n}" for node, n in p["locked_by_node"].items()) or "-"),
        ("deliveries", ", ".join(f"{k} {v}" for k, v in p["deliveries"].items())),
        ("rates", "; ".join(rates) or "-"),
        ("latency", _describe_latency(latency)),
        ("spool", ", ".join(spool)),
        (
            "DICOM",
            f"associations accepted {associations.get('accepted', 0):g}, rejected "
            f"{associations.get('rejected', 0):g}; instances stored {dicom['stored']:g}, "
            f"refused (0xA700) {dicom['refused']:g}",
        ),
        (
            "by calling AE",
            ", ".join(f"{ae} {n:g}" for ae, n in sorted(dicom["stored_by_calling_ae"].items()))
            or "-",
        ),
        (
            "FHIR responses",
            ", ".join(f"{k} x{v:g}" for k, v in sorted(p["fhir_responses"].items())) or "-",
        ),
    ]
    text = "\n".join(f"{key + ':':<16}{value}" for key, value in lines)
    errors = p["last_errors"]
    text += "\nlast errors:" + ("" if errors else " none")
    for e in errors:
        text += f"\n  job {e['job']} {e['state']} {e['updated']} {e['calling_ae']}: {e['error']}"
    return text


def _describe_latency(latency: dict[str, Any]) -> str:
    if not latency["count"]:
        return "no delivery counted yet"
    return (
        f"C-STORE response -> delivered: median <= {latency['p50_le']} s, 95% <= "
        f"{latency['p95_le']} s, mean {latency['mean']} s ({latency['count']} deliveries)"
    )


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
