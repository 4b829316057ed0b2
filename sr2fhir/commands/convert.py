"""`sr2fhir convert PATH... [--out DIR]`: offline conversion of SR files to Bundles."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sr2fhir.config import Config, SinkKind, load_config
from sr2fhir.config.preflight import preflight_fhir
from sr2fhir.delivery import Sink, build_sink
from sr2fhir.delivery.retry import GaveUp, RetryPolicy, deliver_with_retries
from sr2fhir.errors import MappingError, SrParseError
from sr2fhir.exits import ExitStatus
from sr2fhir.fsutil import write_atomically
from sr2fhir.mapping import MappingOptions, bundle_to_json, convert_dataset, read_sr_bytes
from sr2fhir.mapping.dataset import ElementSource
from sr2fhir.runtime import configure_pydicom_reading, tune_garbage_collector
from sr2fhir.spool import InstanceInfo
from sr2fhir.uids import is_valid_uid
from sr2fhir.validation import BundleValidator, find_validator


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert SR files to FHIR transaction Bundles (offline)",
        description=(
            "Convert every file under each PATH (files or folders, recursive) to one FHIR R5 "
            "transaction Bundle per SR. With one file and no --out the Bundle goes to stdout."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    parser.add_argument("--out", type=Path, metavar="DIR", help="write DIR/<SOPInstanceUID>.json")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="check every Bundle with the HL7 FHIR validator (or, without Java, a structural "
        "R5 check) and report what is not conformant; exit 1 if anything is",
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="send every Bundle to the FHIR server of the configuration (one-shot backfill)",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML configuration (fhir, mapping)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths
    out: Path | None = args.out
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"sr2fhir convert: no such file or folder: {missing[0]}", file=sys.stderr)
        return ExitStatus.USAGE
    if out is None and not args.push and (len(paths) != 1 or paths[0].is_dir()):
        print("sr2fhir convert: --out DIR is needed for folders or several files", file=sys.stderr)
        return ExitStatus.USAGE
    config = load_config(args.config)
    if args.push and not config.fhir.base_url:
        print(
            "sr2fhir convert: --push needs fhir.base_url (--config FILE or SR2FHIR_FHIR_BASE_URL)",
            file=sys.stderr,
        )
        return ExitStatus.USAGE
    if args.push:
        preflight_fhir(config)
    options = config.mapping_options
    files = sorted(_files(paths))
    validator = find_validator() if args.validate else None
    configure_pydicom_reading()
    tune_garbage_collector()
    if out is None and not args.push:
        return _convert_to_stdout(files[0], options, validator)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    pusher = _pusher(config) if args.push else None
    progress = Progress(len(files), sys.stderr) if _wants_progress(paths) else None
    rejected = 0
    held: dict[str, Converted] = {}  # kept only to validate them all in one run
    for n, path in enumerate(files, start=1):
        result = _convert(path, options)
        if result is None:
            rejected += 1
        else:
            if out is not None:
                data = bundle_to_json(result.bundle)
                write_atomically(out / f"{result.sop_instance_uid}.json", data)
            if validator is not None:
                held[str(path)] = result
            elif pusher is not None:
                pusher.push(str(path), result)
        if progress is not None:
            progress.update(n)
    if progress is not None:
        progress.finish(len(files) - rejected, rejected)
    nonconformant: set[str] = set()
    if validator is not None:
        nonconformant = report_validation(validator, {k: v.bundle for k, v in held.items()})
        if pusher is not None:
            for name, result in held.items():
                if name not in nonconformant:
                    pusher.push(name, result)
    if pusher is not None:
        pusher.summary(skipped=rejected + len(nonconformant))
    failed = bool(nonconformant) or (pusher is not None and pusher.failed > 0)
    return ExitStatus.FAILED if rejected or failed else ExitStatus.OK


def _pusher(config: Config) -> Pusher:
    sink = build_sink(config, SinkKind.FHIR)
    policy = RetryPolicy.from_config(config.workers, max_attempts=PUSH_ATTEMPTS)
    return Pusher(sink, str(config.fhir.base_url), policy)


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file())
        else:
            yield path


@dataclass(frozen=True, slots=True)
class Converted:
    sop_instance_uid: str
    bundle: dict[str, Any]


def read_sr_file(path: Path, max_bytes: int | None = None) -> ElementSource:
    """Read a DICOM file; raise SrParseError naming why it is not readable DICOM (or larger
    than `max_bytes`, dicom.max_dataset_bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SrParseError(f"cannot read file: {exc.strerror}") from exc
    return read_sr_bytes(data, max_bytes)


def _convert(path: Path, options: MappingOptions) -> Converted | None:
    """The Bundle, or None after one line on stderr naming the file and the reason."""
    try:
        ds = read_sr_file(path, options.max_dataset_bytes)
        bundle = convert_dataset(ds, options)
    except (SrParseError, MappingError) as exc:
        where = f" at item {exc.item_path}" if exc.item_path else ""
        print(f"{path}: rejected{where}: {exc}", file=sys.stderr)
        return None
    uid = str(ds.get("SOPInstanceUID", "")).strip()
    if not is_valid_uid(uid):  # it names the output file
        print(
            f"{path}: rejected: SOP Instance UID {uid[:70]!r} is not a valid UID", file=sys.stderr
        )
        return None
    return Converted(uid, bundle)


def _convert_to_stdout(
    path: Path, options: MappingOptions, validator: BundleValidator | None
) -> int:
    result = _convert(path, options)
    if result is None:
        return ExitStatus.FAILED
    sys.stdout.buffer.write(bundle_to_json(result.bundle, indent=2))
    sys.stdout.flush()
    if validator is not None and report_validation(validator, {str(path): result.bundle}):
        return ExitStatus.FAILED
    return ExitStatus.OK


def report_validation(validator: BundleValidator, bundles: dict[str, dict[str, Any]]) -> set[str]:
    """One line per non-conformant file and a summary on stderr; the non-conformant names."""
    if not bundles:
        return set()
    findings = validator.validate(bundles)
    bad: set[str] = set()
    known = 0
    for name, found in findings.items():
        errors = [f for f in found if f.known_defect is None]
        known += len(found) - len(errors)
        if errors:
            bad.add(name)
            print(
                f"{name}: not conformant: {len(errors)} error(s), first: "
                f"{errors[0].resource}: {errors[0].message[:200]}",
                file=sys.stderr,
            )
    print(
        f"validated {len(bundles)} Bundle(s) with {validator.description}: "
        f"{len(bundles) - len(bad)} conformant, {len(bad)} not"
        + (
            f" ({known} error(s) from known IG defects ignored, see docs/conformance.md)"
            if known
            else ""
        ),
        file=sys.stderr,
    )
    return bad


PUSH_ATTEMPTS = 3  # a one-shot backfill: a few tries, not the gateway's workers.max_attempts


class Pusher:
    """`--push`: deliver each Bundle under the gateway's retry rules (delivery.retry: the
    same classification and backoff, PUSH_ATTEMPTS attempts), count the outcome."""

    def __init__(
        self,
        sink: Sink,
        base_url: str,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.sink = sink
        self.base_url = base_url
        self.policy = policy
        self.sleep = sleep
        self.rng = rng
        self.sent = self.failed = 0

    def push(self, name: str, result: Converted) -> None:
        instance = InstanceInfo("", result.sop_instance_uid, "convert")
        try:
            deliver_with_retries(
                self.sink, result.bundle, instance, self.policy, self.sleep, self.rng
            )
        except GaveUp as exc:
            self.failed += 1
            print(f"{name}: not sent: {exc}", file=sys.stderr)
        else:
            self.sent += 1

    def summary(self, skipped: int) -> None:
        print(
            f"pushed to {self.base_url}: sent {self.sent}, failed {self.failed}, skipped {skipped}",
            file=sys.stderr,
        )


def _wants_progress(paths: list[Path]) -> bool:
    return any(p.is_dir() for p in paths) and sys.stderr.isatty()


class Progress:
    """A one-line progress bar on a terminal (stderr)."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width

    def update(self, done: int) -> None:
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total}")
        self.stream.flush()

    def finish(self, converted: int, rejected: int) -> None:
        self.stream.write(f"\nconverted {converted}, rejected {rejected}\n")
        self.stream.flush()
