"""Delivery speed: `sr2fhir serve` with the fhir sink against the FHIR server's own rate.

    python3 benchmarks/deliver.py (--fhir-url URL | --start-hapi) [--count 500] [--workers 2]
                                  [--warmup 20] [--gateway-first] [--stages S]

Two phases, each against a FHIR R5 server that has taken --warmup transactions first
(--start-hapi: a fresh HAPI test server per phase, so neither phase meets the other's data;
--fhir-url: both on that server, the second one with the first one's data in it):
  - HAPI direct: N benchmark reports, converted beforehand (convert_dataset, then the
    Patient/ServiceRequest/ImagingStudy references resolved as the gateway resolves them) and
    JSON-encoded, are POSTed as transaction Bundles one at a time, in order, with requests;
  - sr2fhir: N other reports go with dcmtk `storescu -R` (TCP_NODELAY=1) over one association
    to `sr2fhir serve` (delivery.sink fhir, workers already up), until the Nth job is DONE.
Each phase sends its own fresh SOP Instance UIDs (new in every run), so both phases create
their resources; the Observation count before and after each phase shows it. The Patient,
order and study the reports name are created first if missing, so references resolve to
literal ones, as against an EHR. Per phase it prints SR/s, latency p50/p95 (HAPI: one POST;
sr2fhir: the job row's received_at, taken just before the C-STORE response, to its DONE
updated_at, taken just after the transaction response), CPU per SR of HAPI, of the gateway's
processes and of everything else, and the load average; then the ratio. --stages S times a
worker's steps (map, resolve, encode, HTTP) for S more reports, one at a time, in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest import group_pids, group_rss_kb, percentile, send, start_ready_gateway
from sr2fhir.delivery.fhir.client import FhirEndpoint, FhirHttp
from sr2fhir.delivery.fhir.resolve import ReferenceResolver, logical_references
from sr2fhir.mapping import convert_dataset, read_sr_bytes
from tests.support.paths import REPO
from tests.support.processes import stop_process, wait_until
from tests.support.sr.benchmark import write_reports

RUN_SH = REPO / "tests" / "fhir-server" / "run.sh"
T = TypeVar("T")
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass(frozen=True)
class Phase:
    seconds: float  # first request (or C-STORE) until the last transaction committed
    latencies: list[float]  # sorted
    latency: str  # what a latency is
    created: int  # Observations on the server after the phase minus before
    cpu: dict[str, float]  # CPU seconds used during the phase, per process group and "all"
    notes: str = ""


def server_pid(base: str) -> int | None:
    """The process listening on the base URL's port (HAPI's JVM), as `ss` reports it."""
    listening = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{urlsplit(base).port}"], capture_output=True, text=True
    )
    found = re.search(r"pid=(\d+)", listening.stdout)
    return int(found.group(1)) if found else None


def cpu_seconds(groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes, and by the whole machine ("all")."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {name: sum(map(_process_ticks, pids)) / tick for name, pids in groups.items()}
    with open("/proc/stat") as stat:  # cpu user nice system idle iowait irq softirq steal
        jiffies = [int(x) for x in stat.readline().split()[1:9]]
    used["all"] = (sum(jiffies) - jiffies[3] - jiffies[4]) / tick
    return used


def _process_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def used_since(before: dict[str, float], groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
    after = cpu_seconds(groups)
    return {name: after[name] - before[name] for name in before}


@contextmanager
def fhir_server(url: str | None) -> Iterator[str]:
    """The given base URL, or a fresh R5 HAPI test server in its own state folder."""
    if url:
        yield url.rstrip("/")
        return
    state = tempfile.mkdtemp(prefix="sr2fhir-bench-hapi-")
    env = {**os.environ, "TEST_FHIR_SERVER_STATE": state}
    try:
        began = time.perf_counter()
        started = subprocess.run(
            [str(RUN_SH), "start", "--fhir-version", "R5"], env=env, capture_output=True, text=True
        )
        if started.returncode != 0:
            raise SystemExit(f"HAPI did not start:\n{started.stderr[-2000:]}")
        print(f"HAPI R5 started in {time.perf_counter() - began:.0f} s ({state})")
        yield started.stdout.strip()
    finally:
        subprocess.run([str(RUN_SH), "stop"], env=env, capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def ready_server(
    url: str | None, sample: dict[str, Any], warm: Sequence[Path]
) -> Iterator[tuple[str, list[int]]]:
    """(base URL, HAPI's pid if found) of a server that knows the reports' Patient, order and
    study and has taken the warm-up transactions."""
    with fhir_server(url) as base:
        session = new_session()
        ensure_ehr_records(session, base, sample)
        post_bundles(session, base, prepare_bundles(base, warm))
        pid = server_pid(base)
        print(f"\n{base} (pid {pid}), warmed up; {load()}")
        yield base, [pid] if pid else []


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers.update({**HEADERS, "Cache-Control": "no-cache"})
    return session


def observation_count(session: requests.Session, base: str) -> int:
    response = session.get(f"{base}/Observation", params={"_summary": "count"}, timeout=300)
    response.raise_for_status()
    return int(response.json()["total"])


def find_or_create(session: requests.Session, base: str, resource: dict[str, Any]) -> str:
    """`Type/id` of a resource with the same identifier; created if the server has none."""
    kind, identifier = resource["resourceType"], resource["identifier"][0]
    token = f"{identifier['system']}|{identifier['value']}"
    params = {"identifier": token, "_elements": "id"}
    found = session.get(f"{base}/{kind}", params=params, timeout=60).json()
    if found.get("entry"):
        return f"{kind}/{found['entry'][0]['resource']['id']}"
    response = session.post(f"{base}/{kind}", json=resource, timeout=60)
    response.raise_for_status()
    return f"{kind}/{response.json()['id']}"


def ensure_ehr_records(session: requests.Session, base: str, bundle: dict[str, Any]) -> None:
    """The Patient, ServiceRequest and ImagingStudy the Bundle names by identifier exist on
    the server (reports about known orders are the common case), so references resolve."""
    named = {ref["type"]: ref["identifier"] for ref in logical_references(bundle)}
    patient = find_or_create(
        session, base, {"resourceType": "Patient", "identifier": [named["Patient"]]}
    )
    subject = {"reference": patient}
    for resource_type, fields in (
        ("ServiceRequest", {"status": "active", "intent": "order"}),
        ("ImagingStudy", {"status": "available"}),
    ):
        resource = {"resourceType": resource_type, "identifier": [named[resource_type]]}
        find_or_create(session, base, {**resource, **fields, "subject": subject})


def map_report(data: bytes) -> dict[str, Any]:
    return convert_dataset(read_sr_bytes(data))


def compact_json(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, separators=(",", ":")).encode("utf-8")  # as FhirHttp sends it


def prepare_bundles(base: str, files: Sequence[Path]) -> list[bytes]:
    """Each report as the gateway would send it: mapped, references resolved, compact JSON."""
    resolver = ReferenceResolver(FhirHttp(FhirEndpoint(base_url=base)))
    bundles = []
    for path in files:
        bundle = map_report(path.read_bytes())
        resolver.resolve_bundle(bundle)
        bundles.append(compact_json(bundle))
    return bundles


def post_bundles(session: requests.Session, base: str, bundles: Sequence[bytes]) -> list[float]:
    """POST each transaction in turn; seconds per request (until the response is read)."""
    latencies = []
    for body in bundles:
        began = time.perf_counter()
        response = session.post(base, data=body, timeout=300)
        latencies.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise SystemExit(f"HAPI answered {response.status_code}: {response.text[:1000]}")
    return latencies


def direct_phase(base: str, files: Sequence[Path], hapi: Sequence[int]) -> Phase:
    session = new_session()
    bundles = prepare_bundles(base, files)
    before = observation_count(session, base)
    groups = {"HAPI": hapi, "client": [os.getpid()]}
    cpu = cpu_seconds(groups)
    began = time.perf_counter()
    latencies = post_bundles(session, base, bundles)
    took = time.perf_counter() - began
    used = used_since(cpu, groups)
    created = observation_count(session, base) - before
    return Phase(took, sorted(latencies), "one POST", created, used)


def delivered(data_dir: Path, since: float, count: int) -> bool:
    """True once `count` jobs received since `since` are DONE; stops at the first FAILED."""
    with closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        rows = db.execute(
            "SELECT status, count(*), max(last_error) FROM jobs WHERE received_at >= ? "
            "GROUP BY status",
            (since,),
        ).fetchall()
    counts: dict[str, int] = {status: n for status, n, _ in rows}
    if counts.get("FAILED"):
        errors = [error for status, _, error in rows if status == "FAILED"]
        raise SystemExit(f"{counts['FAILED']} job(s) FAILED, e.g. {errors[0]}")
    return counts.get("DONE", 0) >= count


def job_times(data_dir: Path, since: float) -> list[tuple[float, float, int]]:
    """(received_at, updated_at at DONE, attempts) of the jobs received since `since`."""
    with closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        query = "SELECT received_at, updated_at, attempts FROM jobs WHERE status='DONE' "
        return db.execute(query + "AND received_at >= ?", (since,)).fetchall()


def gateway_phase(
    base: str, files: Sequence[Path], work: Path, workers: int, mode: str, hapi: Sequence[int]
) -> Phase:
    session = new_session()
    data_dir = work / "gateway" / "data"
    env = {"SR2FHIR_DELIVERY_SINK": "fhir", "SR2FHIR_FHIR_BASE_URL": base}
    gateway = start_ready_gateway(data_dir, workers, mode, env)
    try:
        before = observation_count(session, base)
        groups = {"HAPI": hapi, "sr2fhir": group_pids(gateway.proc.pid)}
        cpu = cpu_seconds(groups)
        began = time.time()
        ingest = send(gateway.port, files, 1, "SR2FHIR")
        wait_until(lambda: delivered(data_dir, began, len(files)), 3600, "every delivery", 0.1)
        used = used_since(cpu, groups)
        peak = group_rss_kb(gateway.proc.pid, "VmHWM")
        conflicts = gateway.log_text().count("conflict, retrying once")
    finally:
        stop_process(gateway.proc)
    times = job_times(data_dir, began)
    retried = sum(attempts > 1 for _, _, attempts in times)
    notes = (
        f"ingest {len(files) / ingest:.1f} SR/s, peak RSS {peak / 1024:.0f} MiB, "
        f"{retried} job(s) retried, {conflicts} 409/412 conflict(s) retried in the sink"
    )
    return Phase(
        max(done for _, done, _ in times) - began,
        sorted(done - received for received, done, _ in times),
        "C-STORE response -> committed",
        observation_count(session, base) - before,
        used,
        notes,
    )


def timed(took: dict[str, list[float]], stage: str, step: Callable[..., T], *args: Any) -> T:
    began = time.perf_counter()
    result = step(*args)
    took[stage].append(time.perf_counter() - began)
    return result


def stage_times(base: str, files: Sequence[Path]) -> None:
    """A worker's steps for each report timed apart, here, one report at a time. Even reports
    go through the sink's FhirHttp.transaction, odd ones are POSTed pre-encoded with plain
    requests: both HTTP paths under the same conditions."""
    http = FhirHttp(FhirEndpoint(base_url=base))
    resolver = ReferenceResolver(http)
    plain = new_session()
    took: dict[str, list[float]] = defaultdict(list)
    for n, path in enumerate(files):
        bundle = timed(took, "read + map", map_report, path.read_bytes())
        timed(took, "resolve references", resolver.resolve_bundle, bundle)
        body = timed(took, "JSON encode", compact_json, bundle)
        if n % 2:
            took["POST, plain requests"] += post_bundles(plain, base, [body])
        else:
            timed(took, "FhirHttp.transaction (encode+POST+decode)", http.transaction, bundle)
    print(f"\nA worker's steps, {len(files)} reports one at a time ({resolver.searches} searches):")
    for stage, seconds in took.items():
        mean, p50 = statistics.fmean(seconds) * 1000, statistics.median(seconds) * 1000
        print(f"  {stage:<42} mean {mean:6.1f} ms, p50 {p50:6.1f} ms")


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(name: str, count: int, phase: Phase) -> float:
    rate = count / phase.seconds
    p50, p95 = percentile(phase.latencies, 0.5), percentile(phase.latencies, 0.95)
    print(f"{name}: {rate:.2f} SR/s ({count} in {phase.seconds:.1f} s); {load()}")
    print(f"  latency ({phase.latency}): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    cores = phase.cpu["all"] / phase.seconds
    others = phase.cpu["all"] - sum(v for k, v in phase.cpu.items() if k != "all")
    shares = [f"{k} {v / count * 1000:.0f}" for k, v in phase.cpu.items() if k != "all"]
    print(
        f"  CPU ms per SR: {', '.join(shares)}, other processes {others / count * 1000:.0f}; "
        f"machine busy {cores:.2f} of {os.cpu_count()} cores"
    )
    print(f"  {phase.created} Observations created" + (f"; {phase.notes}" if phase.notes else ""))
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fhir-url", help="base URL of a running FHIR R5 server")
    where.add_argument("--start-hapi", action="store_true", help="start (and stop) a HAPI")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=("process", "thread"), default="process")
    parser.add_argument("--warmup", type=int, default=20, help="direct POSTs before timing")
    parser.add_argument("--gateway-first", action="store_true")
    parser.add_argument(
        "--stages", type=int, default=0, metavar="S", help="then time a worker's steps for S more"
    )
    args = parser.parse_args(argv)

    first = int(time.time()) * 10**6  # report indexes, hence UIDs, new in every run
    with tempfile.TemporaryDirectory(prefix="sr2fhir-bench-") as tmp:
        work = Path(tmp)
        warm = write_reports(work / "warm", args.warmup, start=first)
        direct = write_reports(work / "direct", args.count, start=first + args.warmup)
        sent = write_reports(work / "sent", args.count, start=first + args.warmup + args.count)
        staged = write_reports(
            work / "staged", args.stages, start=first + args.warmup + 2 * args.count
        )
        sample = map_report(direct[0].read_bytes())
        kinds = [entry["resource"]["resourceType"] for entry in sample["entry"]]
        print(
            f"{args.count} benchmark SRs per phase ({len(kinds)} resources, "
            f"{kinds.count('Observation')} Observations each); {os.cpu_count()} cores; "
            f"workers={args.workers} ({args.mode}); {args.warmup} warm-up transactions; "
            + ("one server for both phases" if args.fhir_url else "a fresh server per phase")
        )
        phases: dict[str, Callable[[str, list[int]], Phase]] = {
            "HAPI direct": lambda base, hapi: direct_phase(base, direct, hapi),
            "sr2fhir serve": lambda base, hapi: gateway_phase(
                base, sent, work, args.workers, args.mode, hapi
            ),
        }
        order = list(reversed(phases)) if args.gateway_first else list(phases)
        rates = {}
        for name in order:
            with ready_server(args.fhir_url, sample, warm) as (base, hapi):
                rates[name] = report(name, args.count, phases[name](base, hapi))
                if staged and name == order[-1]:
                    stage_times(base, staged)
        ratio = rates["sr2fhir serve"] / rates["HAPI direct"]
        print(f"\nsr2fhir / HAPI direct: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
