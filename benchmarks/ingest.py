"""Gateway speed and memory: dcmtk storescp against `sr2fhir serve`, over real associations.

    python3 benchmarks/ingest.py [--count 500] [--concurrency 4] [--memory-run 5000]

Generates N benchmark reports (tests/support/sr/benchmark.py), then sends them with dcmtk
`storescu -R` (TCP_NODELAY=1) over one association, and over `--concurrency` associations:
  1. to dcmtk's own `storescp -od DIR` (writes files, no fsync): the reference ingest rate;
     the CPU time the storescu senders themselves used is printed too;
  2. to benchmarks/noop_scp.py, a pynetdicom SCP that answers Success and stores nothing:
     the floor any pynetdicom-based SCP starts from on this machine;
  3. to `sr2fhir serve` on a fresh data folder (fsync + job row before each answer).
It prints ingest SR/s for each and their ratio; for sr2fhir also end-to-end SR/s (first
C-STORE until the Nth Bundle is in the outbox), p50/p95 latency from C-STORE response to
Bundle written (the job row's receive time vs the Bundle file's mtime), and peak RSS of the
gateway's processes (sum of VmHWM). --memory-run M sends M reports through one gateway in
batches and prints its RSS after each batch (flat memory check).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.dcmtk import running_storescp, storescu
from tests.support.processes import accepts_tcp, free_port, stop_process, wait_until
from tests.support.serve import GatewayProcess, outbox_uids, start_gateway
from tests.support.sr.benchmark import write_reports


@dataclass(frozen=True)
class GatewayRun:
    ingest_s: float
    end_to_end_s: float
    latencies: list[float]
    peak_rss_kb: int


def send(port: int, files: Sequence[Path], associations: int, called: str) -> float:
    """Wall time for `associations` parallel storescu runs sharing the files."""
    chunks = [files[i::associations] for i in range(associations)]
    began = time.perf_counter()
    with ThreadPoolExecutor(associations) as pool:
        results = list(
            pool.map(
                lambda c: storescu(port, c, calling="BENCH", called=called, timeout=3600), chunks
            )
        )
    took = time.perf_counter() - began
    for result in results:
        if result.returncode != 0:
            raise SystemExit(f"storescu failed: {result.stderr[-500:]}")
    return took


def dcmtk_ingest(files: Sequence[Path], work: Path, associations: int) -> tuple[float, float]:
    """Wall time to dcmtk's storescp, and the CPU seconds the storescu senders used."""
    out = work / f"storescp-{associations}"
    with running_storescp(out) as port:
        cpu = children_cpu_s()
        took = send(port, files, associations, "STORESCP")
        cpu = children_cpu_s() - cpu
    received = len(list(out.iterdir()))
    if received != len(files):
        raise SystemExit(f"storescp stored {received} of {len(files)}")
    return took, cpu


def noop_ingest(files: Sequence[Path], associations: int) -> float:
    """The same sending to benchmarks/noop_scp.py: pynetdicom's own cost, nothing stored."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("noop_scp.py")), str(port)],
        start_new_session=True,
    )
    try:
        wait_until(lambda: accepts_tcp(port), 60, "the no-op SCP to listen")
        return send(port, files, associations, "NOOP")
    finally:
        stop_process(proc)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def group_pids(pgid: int) -> list[int]:
    """The processes of a process group (the gateway and its workers)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def group_rss_kb(pgid: int, field: str) -> int:
    """Sum of a /proc status field (VmHWM = peak, VmRSS = now) over a process group."""
    total = 0
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def done_jobs(data_dir: Path) -> int:
    """DONE rows in the gateway's job table (read beside the running gateway)."""
    with closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        return int(db.execute("SELECT count(*) FROM jobs WHERE status='DONE'").fetchone()[0])


def start_ready_gateway(
    data_dir: Path, workers: int, mode: str, env: Mapping[str, str] | None = None
) -> GatewayProcess:
    """A gateway whose workers have delivered one warm-up report; `env` adds settings
    (e.g. the fhir sink)."""
    settings = {"SR2FHIR_WORKERS_MODE": mode, **(env or {})}  # INFO logging, as deployed
    gateway = start_gateway(data_dir, "--workers", str(workers), env=settings)
    probe = write_reports(data_dir.parent / "probe", 1, start=10**6)  # workers up and mapping
    send(gateway.port, probe, 1, "SR2FHIR")
    wait_until(lambda: done_jobs(data_dir), 120, "the warm-up delivery")
    for bundle in gateway.outbox.glob("*.json"):
        bundle.unlink()
    return gateway


def gateway_run(
    files: Sequence[Path], work: Path, associations: int, workers: int, mode: str
) -> GatewayRun:
    data_dir = work / f"gateway-{associations}" / "data"
    gateway = start_ready_gateway(data_dir, workers, mode)
    try:
        began = time.perf_counter()
        ingest = send(gateway.port, files, associations, "SR2FHIR")
        wait_until(
            lambda: len(outbox_uids(gateway.outbox)) >= len(files), 3600, "every Bundle", 0.01
        )
        end_to_end = time.perf_counter() - began
        peak = group_rss_kb(gateway.proc.pid, "VmHWM")
        latencies = bundle_latencies(data_dir)
    finally:
        stop_process(gateway.proc)
    return GatewayRun(ingest, end_to_end, latencies, peak)


def bundle_latencies(data_dir: Path) -> list[float]:
    """Seconds from each job's receive (just before its C-STORE response) to its Bundle."""
    db = sqlite3.connect(data_dir / "jobs.sqlite3")
    rows = db.execute("SELECT sop_instance_uid, received_at FROM jobs WHERE status='DONE'")
    latencies = []
    for uid, received_at in rows:
        bundle = data_dir / "outbox" / f"{uid}.json"
        if bundle.exists():
            latencies.append(bundle.stat().st_mtime - received_at)
    db.close()
    return sorted(latencies)


def memory_run(total: int, work: Path, workers: int, mode: str, batch: int = 500) -> None:
    data_dir = work / "memory" / "data"
    gateway = start_ready_gateway(data_dir, workers, mode)
    try:
        print(f"\nmemory run: {total} SRs in batches of {batch} (RSS of all gateway processes)")
        for start in range(0, total, batch):
            folder = work / "memory" / f"batch-{start}"
            files = write_reports(folder, min(batch, total - start), start=20_000 + start)
            send(gateway.port, files, 1, "SR2FHIR")
            done = start + len(files)
            wait_until(lambda n=done: len(outbox_uids(gateway.outbox)) >= n, 3600, "Bundles")
            rss = group_rss_kb(gateway.proc.pid, "VmRSS")
            print(f"  after {done:>6} SRs: RSS {rss / 1024:7.1f} MiB")
            for path in files:
                path.unlink()
    finally:
        stop_process(gateway.proc)


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100)[int(fraction * 100) - 1] if len(values) > 1 else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=("process", "thread"), default="process")
    parser.add_argument("--memory-run", type=int, default=0, metavar="M")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sr2fhir-bench-") as tmp:
        work = Path(tmp)
        files = write_reports(work / "srs", args.count)
        print(
            f"{args.count} benchmark SRs, {os.cpu_count()} cores, workers={args.workers} "
            f"({args.mode}); storescu -R, TCP_NODELAY=1\n"
        )
        for associations in (1, args.concurrency):
            dcmtk, sender_cpu = dcmtk_ingest(files, work, associations)
            noop = args.count / noop_ingest(files, associations)
            run = gateway_run(files, work, associations, args.workers, args.mode)
            rate, ours = args.count / dcmtk, args.count / run.ingest_s
            print(f"{associations} association(s):")
            print(f"  ingest  dcmtk storescp : {rate:7.1f} SR/s")
            print(f"  ingest  no-op pynetdicom: {noop:7.1f} SR/s  (stores nothing: the floor)")
            print(f"  ingest  sr2fhir serve  : {ours:7.1f} SR/s  ({ours / rate:.2f}x dcmtk)")
            print(f"  end to end (Nth Bundle): {args.count / run.end_to_end_s:7.1f} SR/s")
            p50, p95 = percentile(run.latencies, 0.5), percentile(run.latencies, 0.95)
            print(f"  C-STORE -> Bundle      : p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
            print(f"  peak RSS (all procs)   : {run.peak_rss_kb / 1024:.1f} MiB")
            sender_ms = sender_cpu / args.count * 1000
            print(f"  storescu CPU per SR    : {sender_ms:.1f} ms (the sender's own work)\n")
        if args.memory_run:
            memory_run(args.memory_run, work, args.workers, args.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
