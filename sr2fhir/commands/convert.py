"""`sr2fhir convert PATH... [--out DIR]`: offline conversion of SR files to Bundles."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sr2fhir.commands.progress import Progress
from sr2fhir.config import Config, FhirVersion, SinkKind, UnresolvedReference, load_config
from sr2fhir.config.preflight import preflight_fhir
from sr2fhir.delivery import Sink, build_sink
from sr2fhir.delivery.retry import GaveUp, RetryPolicy, deliver_with_retries
from sr2fhir.errors import MappingError, SrParseError
from sr2fhir.exits import ExitStatus
from sr2fhir.fsutil import write_atomically
from sr2fhir.mapping import MappingOptions, bundle_to_json, map_report, read_sr_bytes
from sr2fhir.mapping.dataset import ElementSource
from sr2fhir.mapping.r4 import to_r4
from sr2fhir.mapping.warnings import MappingWarning, warnings_document
from sr2fhir.runtime import configure_pydicom_reading, tune_garbage_collector
from sr2fhir.spool import InstanceInfo
from sr2fhir.uids import is_valid_uid
from sr2fhir.validation import BundleValidator, find_validator


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert SR files to FHIR transaction Bundles (offline)",
        description=(
            "Convert every file under each PATH (files or folders, recursive) to one FHIR "
            "transaction Bundle per SR (R5, or R4 with --fhir-version R4 or fhir.version: R4). "
            "With one file and no --out the Bundle goes to stdout."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write DIR/<SOPInstanceUID>.json, and DIR/<SOPInstanceUID>.warnings.json beside it "
        "when the report converted with something left out",
    )
    parser.add_argument(
        "--fhir-version",
        choices=("R5", "R4"),
        help="FHIR version of the Bundles written and pushed (default: fhir.version of the "
        "configuration, R5). R4 leaves out the ImagingSelections (R4 has no such resource)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write FILE: one JSON line per input file with its result (converted or rejected "
        "and why) and the warnings of what it was converted without",
    )
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
    version = FhirVersion(args.fhir_version) if args.fhir_version else config.fhir.version
    if args.push and not config.fhir.base_url:
        print(
            "sr2fhir convert: --push needs fhir.base_url (--config FILE or SR2FHIR_FHIR_BASE_URL)",
            file=sys.stderr,
        )
        return ExitStatus.USAGE
    if args.push:
        preflight_fhir(config)
    if args.validate and version is FhirVersion.R4:
        print(
            "sr2fhir convert: --validate checks R5 Bundles against the IG (an R5 IG); "
            "it cannot check --fhir-version R4 output",
            file=sys.stderr,
        )
        return ExitStatus.USAGE
    options = config.mapping_options
    files = sorted(_files(paths))
    validator = find_validator() if args.validate else None
    configure_pydicom_reading()
    tune_garbage_collector()
    report = ConversionReport(args.report)
    if out is None and not args.push:
        status = _convert_to_stdout(files[0], options, validator, version, report)
        report.write()
        return status
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    progress = Progress(len(files), sys.stderr, bar=sys.stderr.isatty() and len(files) > 1)
    pusher = _pusher(config, version, progress.note) if args.push else None
    rejected = 0
    held: dict[str, Converted] = {}  # kept only to validate them all in one run
    for n, path in enumerate(files, start=1):
        result = _convert(path, options, report, progress.note)
        if result is None:
            rejected += 1
        else:
            if out is not None:
                write_outputs(out, result, version)
            if validator is not None:
                held[str(path)] = result
            elif pusher is not None:
                pusher.push(str(path), result)
        progress.update(n)
    progress.finish(
        f"converted {len(files) - rejected}, rejected {rejected} of {len(files)} file(s)"
    )
    report.write()
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


def _pusher(config: Config, version: FhirVersion | None = None, say: Say | None = None) -> Pusher:
    """The `--push` delivery: the configured FHIR sink, in `version` (default fhir.version)."""
    fhir = dataclasses.replace(config.fhir, version=version or config.fhir.version)
    if fhir.unresolved_reference is UnresolvedReference.HOLD:  # no queue to hold a report in
        unresolved = UnresolvedReference(fhir.hold_fallback.value)
        fhir = dataclasses.replace(fhir, unresolved_reference=unresolved)
    sink = build_sink(dataclasses.replace(config, fhir=fhir), SinkKind.FHIR)
    policy = RetryPolicy.from_config(config.workers, max_attempts=PUSH_ATTEMPTS)
    return Pusher(sink, str(config.fhir.base_url), policy, say=say)


Say = Callable[[str], None]
"""Where a line for the user goes: stderr, above a progress bar when there is one."""


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file())
        else:
            yield path


@dataclass(frozen=True, slots=True)
class Converted:
    """One converted SR: its R5 Bundle (the sink converts for an R4 server) and warnings."""

    sop_instance_uid: str
    bundle: dict[str, Any]
    warnings: tuple[MappingWarning, ...] = ()


def in_version(bundle: dict[str, Any], version: FhirVersion) -> dict[str, Any]:
    """The Bundle as the chosen FHIR version has it (the mapping writes R5)."""
    return to_r4(bundle) if version is FhirVersion.R4 else bundle


def write_outputs(out: Path, result: Converted, version: FhirVersion) -> None:
    """DIR/<uid>.json, and DIR/<uid>.warnings.json when there are warnings (a stale one from
    an earlier run of the same SR is removed when there are none)."""
    bundle = in_version(result.bundle, version)
    write_atomically(out / f"{result.sop_instance_uid}.json", bundle_to_json(bundle))
    notes = out / f"{result.sop_instance_uid}.warnings.json"
    if result.warnings:
        document = warnings_document(result.sop_instance_uid, result.warnings)
        write_atomically(notes, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    else:
        notes.unlink(missing_ok=True)


class ConversionReport:
    """`--report FILE`: one JSON line per input file, written at the end (atomically)."""

    def __init__(self, target: Path | None) -> None:
        self.target = target
        self.lines: list[str] = []

    def add(
        self,
        path: Path,
        uid: str | None,
        reason: str | None,
        warnings: tuple[MappingWarning, ...] = (),
    ) -> None:
        if self.target is None:
            return
        line = {
            "file": str(path),
            "sop_instance_uid": uid,
            "result": "rejected" if reason else "converted",
            "reason": reason,
            "warnings": [w.to_dict() for w in warnings],
        }
        self.lines.append(json.dumps(line, ensure_ascii=False))

    def write(self) -> None:
        if self.target is not None:
            data = "".join(line + "\n" for line in self.lines).encode("utf-8")
            write_atomically(self.target, data)


def read_sr_file(path: Path, max_bytes: int | None = None) -> ElementSource:
    """Read a DICOM file; raise SrParseError naming why it is not readable DICOM (or larger
    than `max_bytes`, dicom.max_dataset_bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SrParseError(f"cannot read file: {exc.strerror}") from exc
    return read_sr_bytes(data, max_bytes)


def _convert(
    path: Path, options: MappingOptions, report: ConversionReport, say: Say
) -> Converted | None:
    """The Bundle, or None after one line (`say`) naming the file and the reason; a file
    that converted with warnings gets one line too."""
    try:
        ds = read_sr_file(path, options.max_dataset_bytes)
        mapped = map_report(ds, options)
    except (SrParseError, MappingError) as exc:
        where = f" at item {exc.item_path}" if exc.item_path else ""
        say(f"{path}: rejected{where}: {exc}")
        report.add(path, None, f"{where[1:]}: {exc}" if where else str(exc))
        return None
    uid = str(ds.get("SOPInstanceUID", "")).strip()
    if not is_valid_uid(uid):  # it names the output file
        reason = f"SOP Instance UID {uid[:70]!r} is not a valid UID"
        say(f"{path}: rejected: {reason}")
        report.add(path, None, reason)
        return None
    if mapped.warnings:
        first = mapped.warnings[0]
        say(
            f"{path}: converted with {len(mapped.warnings)} warning(s), first: "
            f"{first.code.value} at item {first.item_path}: {first.message}"
        )
    report.add(path, uid, None, mapped.warnings)
    return Converted(uid, mapped.bundle, mapped.warnings)


def _convert_to_stdout(
    path: Path,
    options: MappingOptions,
    validator: BundleValidator | None,
    version: FhirVersion,
    report: ConversionReport,
) -> int:
    result = _convert(path, options, report, to_stderr)
    if result is None:
        return ExitStatus.FAILED
    sys.stdout.buffer.write(bundle_to_json(in_version(result.bundle, version), indent=2))
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
        say: Say | None = None,
    ) -> None:
        self.say = say or to_stderr
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
            self.say(f"{name}: not sent: {exc}")
        else:
            self.sent += 1

    def summary(self, skipped: int) -> None:
        print(
            f"pushed to {self.base_url}: sent {self.sent}, failed {self.failed}, skipped {skipped}",
            file=sys.stderr,
        )
