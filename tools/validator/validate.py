#!/usr/bin/env python3
"""Validate FHIR JSON files with the official HL7 FHIR validator, offline, in one JVM.

Usage:
    python tools/validator/validate.py [--ig DIR] [options] FILE_OR_DIR...

Runs the HL7 validator (org.hl7.fhir.validation, installed by tools/validator/setup.sh) once
for all the given files with ``-version 5.0.0 -tx n/a -ig DIR`` (DIR defaults to the IG's
compiled resources, ``../shared/ig/resources`` relative to the repository root), reads the
OperationOutcome(s) it writes with ``-output``, and prints a per-file and a per-profile summary
of errors, warnings and information, then every error with its location. Exit status: 0 when
there is no error, 1 when any issue has severity error or fatal, 2 when the validator could not
be run.

A directory stands for the ``*.json`` files directly in it. A transaction/collection Bundle is
validated as a whole; the validator validates each entry against the entry's ``meta.profile``,
and this script attributes every issue under ``Bundle.entry[n]`` to that entry's profiles.

Importable (stdlib only):

    from validate import validate          # with tools/validator on sys.path
    issues = validate(["out/Observation-1.json"])   # list[Issue]
    errors = [i for i in issues if i.is_error]

``available()`` tells whether setup.sh has been run (for pytest skips).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_IG = REPO_ROOT.parent / "shared" / "ig" / "resources"
LIB_DIR = HERE / "lib"
CLASSES_DIR = HERE / "build" / "classes"
SETTINGS_FILE = HERE / "fhir-settings.json"
PACKAGES_FILE = HERE / "packages.txt"
MAIN_CLASS = "sr2fhir.validator.OfflineValidatorCli"
FHIR_VERSION = "5.0.0"
DEFAULT_JAVA_OPTS = "-Xmx2g -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
JAVA_OPTS_ENV = "SR2FHIR_VALIDATOR_JAVA_OPTS"

#: resource types that define things rather than being instances; --skip-conformance drops them
#: when expanding directories
CONFORMANCE_TYPES = frozenset(
    {
        "StructureDefinition",
        "ConceptMap",
        "CodeSystem",
        "ValueSet",
        "ImplementationGuide",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "NamingSystem",
        "StructureMap",
        "CompartmentDefinition",
        "GraphDefinition",
        "MessageDefinition",
    }
)

SEVERITY_ORDER = ("fatal", "error", "warning", "information")
_EXT = "http://hl7.org/fhir/StructureDefinition/"
_ENTRY_RE = re.compile(r"^Bundle\.entry\[(\d+)\]")


class ValidatorError(RuntimeError):
    """The validator could not be run, or produced no readable output."""


@dataclasses.dataclass(frozen=True)
class Issue:
    """One issue reported by the validator."""

    file: str  #: the validated file, as given (absolute path)
    resource: str  #: "Type/id" of the resource the issue is about (a Bundle entry if inside one)
    resource_type: str
    profiles: tuple[str, ...]  #: meta.profile of that resource; empty: validated against the base
    severity: str  #: fatal | error | warning | information
    code: str  #: OperationOutcome issue type
    location: str  #: FHIRPath expression (or location) given by the validator
    line: int | None
    col: int | None
    message: str
    message_id: str | None
    source: str | None  #: validator component (InstanceValidator, TerminologyEngine, ...)

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    @property
    def profile_key(self) -> str:
        """The label used for the per-profile summary."""
        return " + ".join(self.profiles) if self.profiles else f"(base) {self.resource_type}"


@dataclasses.dataclass
class Report:
    """Everything one validator run produced."""

    files: list[str]
    issues: list[Issue]
    wall_seconds: float
    returncode: int
    log: str  #: the validator's console output
    command: list[str]
    resources: dict[str, list[tuple[str, str, tuple[str, ...]]]]  #: file -> (ref, type, profiles)

    @property
    def error_count(self) -> int:
        return sum(1 for i in self.issues if i.is_error)


# ----------------------------------------------------------------------------------------- setup


def read_packages(path: Path = PACKAGES_FILE) -> dict[str, str]:
    """NAME -> VERSION from packages.txt."""
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2:
            pins[fields[0]] = fields[1]
    return pins


def package_cache() -> Path:
    return Path.home() / ".fhir" / "packages"


def missing_setup() -> list[str]:
    """What setup.sh still has to provide (empty when ready)."""
    missing = []
    if not list(LIB_DIR.glob("org.hl7.fhir.validation-*.jar")):
        missing.append(f"validator jars in {LIB_DIR}")
    if not (CLASSES_DIR / "sr2fhir" / "validator" / "OfflineValidatorCli.class").exists():
        missing.append(f"compiled launcher in {CLASSES_DIR}")
    for name, version in read_packages().items():
        if not (package_cache() / f"{name}#{version}" / "package" / "package.json").exists():
            missing.append(f"FHIR package {name}#{version} in {package_cache()}")
    if _java() is None:
        missing.append("a java executable")
    return missing


def available() -> bool:
    """True when the validator can be run (setup.sh has been run)."""
    return not missing_setup()


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


# ------------------------------------------------------------------------------------------ input


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def expand_paths(
    paths: Iterable[str | os.PathLike[str]], skip_conformance: bool = False
) -> list[Path]:
    """Files to validate: files as given, directories as their *.json files (not recursive)."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p).resolve()
        if path.is_dir():
            candidates = sorted(c for c in path.glob("*.json") if c.is_file())
            if skip_conformance:
                candidates = [
                    c
                    for c in candidates
                    if (_read_json(c) or {}).get("resourceType") not in CONFORMANCE_TYPES
                ]
        elif path.is_file():
            candidates = [path]
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
        for c in candidates:
            if c not in seen:
                seen.add(c)
                out.append(c)
    return out


def _describe(resource: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    rtype = str(resource.get("resourceType", "?"))
    rid = resource.get("id")
    profiles = tuple(str(p) for p in (resource.get("meta") or {}).get("profile") or [])
    return (f"{rtype}/{rid}" if rid else rtype), rtype, profiles


def _resources_of(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """[root, entry 0, entry 1, ...] descriptions; for a non-Bundle just [root]."""
    data = _read_json(path)
    if data is None:
        return [(path.name, "?", ())]
    described = [_describe(data)]
    if data.get("resourceType") == "Bundle":
        for entry in data.get("entry") or []:
            res = (entry or {}).get("resource")
            described.append(
                _describe(res) if isinstance(res, dict) else ("(no resource)", "?", ())
            )
    return described


# -------------------------------------------------------------------------------------------- run


def build_command(
    files: Sequence[Path],
    output: Path,
    ig_dirs: Sequence[str | os.PathLike[str]],
    java_opts: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    java = _java()
    if java is None:
        raise ValidatorError("no java executable found (set JAVA_HOME or put java on PATH)")
    pins = read_packages()
    opts = shlex.split(
        java_opts if java_opts is not None else os.environ.get(JAVA_OPTS_ENV, DEFAULT_JAVA_OPTS)
    )
    classpath = os.pathsep.join([str(CLASSES_DIR), str(LIB_DIR / "*")])
    cmd = [
        java,
        *opts,
        "-Duser.language=en",
        "-Djava.awt.headless=true",
        # no network: the validator refuses all web access, and knows no package server
        f"-Dfhir.settings.path={SETTINGS_FILE}",
        f"-Dsr2fhir.tho.version={pins['hl7.terminology.r5']}",
        f"-Dsr2fhir.extensions.version={pins['hl7.fhir.uv.extensions.r5']}",
        "-cp",
        classpath,
        MAIN_CLASS,
        *[str(f) for f in files],
        "-version",
        FHIR_VERSION,
        "-tx",
        "n/a",
    ]
    for ig in ig_dirs:
        cmd += ["-ig", str(Path(ig).resolve())]
    # a terminology cache of this run's own, so that no state carries over between runs
    cmd += ["-txCache", str(output.parent / "tx-cache"), "-output", str(output), *extra_args]
    return cmd


def run(
    paths: Iterable[str | os.PathLike[str]],
    ig_dirs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    skip_conformance: bool = False,
    java_opts: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
    echo: bool = False,
    keep_output: str | os.PathLike[str] | None = None,
) -> Report:
    """Validate all files in one validator run and return the parsed result."""
    files = expand_paths(paths, skip_conformance=skip_conformance)
    if not files:
        raise ValidatorError("nothing to validate")
    missing = missing_setup()
    if missing:
        raise ValidatorError("run tools/validator/setup.sh first; missing: " + "; ".join(missing))
    if ig_dirs is None:
        ig_dirs = [DEFAULT_IG]
    for ig in ig_dirs:
        if not Path(ig).exists():
            raise ValidatorError(f"IG folder not found: {ig}")

    with tempfile.TemporaryDirectory(prefix="sr2fhir-validator-") as tmp:
        output = Path(tmp) / "outcome.json"
        cmd = build_command(files, output, ig_dirs, java_opts, extra_args)
        start = time.monotonic()
        log_lines: list[str] = []
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        timer = threading.Timer(timeout, proc.kill) if timeout is not None else None
        try:
            if timer is not None:
                timer.start()
            assert proc.stdout is not None
            for line in proc.stdout:
                log_lines.append(line)
                if echo:
                    sys.stderr.write(line)
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if timeout is not None and time.monotonic() - start >= timeout and not output.exists():
            raise subprocess.TimeoutExpired(cmd, timeout)
        wall = time.monotonic() - start
        log = "".join(log_lines)
        if not output.exists():
            tail = "".join(log_lines[-40:])
            raise ValidatorError(
                f"the validator wrote no output (exit status {returncode}); last output:\n{tail}"
            )
        if keep_output is not None:
            shutil.copyfile(output, keep_output)
        outcome = _read_json(output)
    if outcome is None:
        raise ValidatorError("the validator's output is not JSON")

    resources = {str(f): _resources_of(f) for f in files}
    issues = parse_outcome(outcome, files, resources)
    return Report([str(f) for f in files], issues, wall, returncode, log, cmd, resources)


def validate(
    paths: Iterable[str | os.PathLike[str]],
    ig_dirs: Sequence[str | os.PathLike[str]] | None = None,
    **kwargs: Any,
) -> list[Issue]:
    """Validate the files (one JVM) and return every issue the validator reported."""
    return run(paths, ig_dirs, **kwargs).issues


# ------------------------------------------------------------------------------------------ parse


def _ext(element: dict[str, Any], name: str) -> Any:
    for ext in element.get("extension") or []:
        if ext.get("url") == _EXT + name:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def parse_outcome(
    outcome: dict[str, Any],
    files: Sequence[Path],
    resources: dict[str, list[tuple[str, str, tuple[str, ...]]]],
) -> list[Issue]:
    """Issues from the validator's -output: one OperationOutcome, or a Bundle of them."""
    if outcome.get("resourceType") == "Bundle":
        outcomes = [e.get("resource") or {} for e in outcome.get("entry") or []]
    else:
        outcomes = [outcome]
    by_path = {os.path.realpath(f): str(f) for f in files}
    issues: list[Issue] = []
    for index, oo in enumerate(outcomes):
        reported = _ext(oo, "operationoutcome-file")
        if reported and os.path.realpath(reported) in by_path:
            file = by_path[os.path.realpath(reported)]
        elif len(outcomes) == len(files):
            file = str(files[index])
        else:
            file = str(reported or "?")
        described = resources.get(file) or [("?", "?", ())]
        for raw in oo.get("issue") or []:
            location = ""
            if raw.get("expression"):
                location = raw["expression"][0]
            elif raw.get("location"):
                location = raw["location"][0]
            ref, rtype, profiles = described[0]
            match = _ENTRY_RE.match(location)
            if match and int(match.group(1)) + 1 < len(described):
                ref, rtype, profiles = described[int(match.group(1)) + 1]
            details = raw.get("details") or {}
            message = details.get("text") or raw.get("diagnostics") or ""
            issues.append(
                Issue(
                    file=file,
                    resource=ref,
                    resource_type=rtype,
                    profiles=profiles,
                    severity=raw.get("severity", "?"),
                    code=raw.get("code", "?"),
                    location=location,
                    line=_ext(raw, "operationoutcome-issue-line"),
                    col=_ext(raw, "operationoutcome-issue-col"),
                    message=message,
                    message_id=_ext(raw, "operationoutcome-message-id"),
                    source=_ext(raw, "operationoutcome-issue-source"),
                )
            )
    return issues


# ---------------------------------------------------------------------------------------- summary


def _counts(issues: Iterable[Issue]) -> collections.Counter[str]:
    c: collections.Counter[str] = collections.Counter()
    for i in issues:
        c["error" if i.severity == "fatal" else i.severity] += 1
    return c


def _short(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _generic(message: str) -> str:
    """A message with array indexes blanked out, so that repeats group together."""
    return re.sub(r"\[\d+\]", "[n]", message)


def summarize(report: Report, *, show: Sequence[str] = ("fatal", "error"), top: int = 0) -> str:
    out: list[str] = []
    w = out.append
    files = report.files
    per_file: dict[str, list[Issue]] = {f: [] for f in files}
    for i in report.issues:
        per_file.setdefault(i.file, []).append(i)

    w(
        f"Validated {len(files)} file(s) in {report.wall_seconds:.1f} s "
        f"(one JVM, exit status {report.returncode})"
    )
    times = re.search(r"Times: Loading: ([0-9:.]+), validation: ([0-9:.]+)", report.log)
    if times:
        w(f"  (validator's own timing: loading {times.group(1)}, validation {times.group(2)})")
    w("")
    w("Per file")
    width = max([len(_short(f)) for f in files] + [20])
    w(f"  {'file':<{width}}  errors  warnings  info")
    for f in files:
        c = _counts(per_file[f])
        w(f"  {_short(f):<{width}}  {c['error']:>6}  {c['warning']:>8}  {c['information']:>4}")

    # per profile: count the resources (root or bundle entries) as well as the issues
    res_per_profile: collections.Counter[str] = collections.Counter()
    for f in files:
        described = report.resources.get(f) or []
        for _, rtype, profiles in described:
            key = " + ".join(profiles) if profiles else f"(base) {rtype}"
            res_per_profile[key] += 1
    per_profile: dict[str, list[Issue]] = collections.defaultdict(list)
    for i in report.issues:
        per_profile[i.profile_key].append(i)
    w("")
    w("Per profile (meta.profile of the resource; '(base)' = validated against the core type only)")
    w("  resources  errors  warnings  info  profile")
    for key in sorted(set(res_per_profile) | set(per_profile)):
        c = _counts(per_profile.get(key, []))
        counts = f"{c['error']:>7} {c['warning']:>9} {c['information']:>5}"
        w(f"  {res_per_profile.get(key, 0):>9} {counts}  {key}")
        if top:
            common = collections.Counter(
                (i.severity, _generic(i.message))
                for i in per_profile.get(key, [])
                if i.severity != "information"
            )
            for (sev, msg), n in common.most_common(top):
                w(f"             {n:>3} x {sev}: {msg}")

    total = _counts(report.issues)
    shown = [i for i in report.issues if i.severity in show]
    if shown:
        w("")
        w("Issues (" + ", ".join(show) + ")")
        for i in shown:
            where = f"{_short(i.file)}"
            if i.line is not None:
                where += f":{i.line}:{i.col}"
            w(f"  {i.severity.upper()} {where} [{i.resource}] {i.location}")
            w(f"      {i.message}")
    w("")
    w(
        f"Total: {total['error']} error(s), {total['warning']} warning(s), "
        f"{total['information']} information"
    )
    return "\n".join(out)


def _issue_dict(i: Issue) -> dict[str, Any]:
    d = dataclasses.asdict(i)
    d["profiles"] = list(i.profiles)
    return d


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Validate FHIR R5 JSON files offline with the official HL7 validator "
        "(one JVM for all files)."
    )
    parser.add_argument(
        "paths", nargs="+", metavar="FILE_OR_DIR", help="JSON files, or folders of them"
    )
    parser.add_argument(
        "--ig",
        action="append",
        metavar="DIR",
        help=f"IG resources folder to load (repeatable; default {_short(str(DEFAULT_IG))})",
    )
    parser.add_argument(
        "--skip-conformance",
        action="store_true",
        help="in folders, skip StructureDefinition/ConceptMap/CodeSystem/ValueSet/"
        "ImplementationGuide/... files",
    )
    parser.add_argument(
        "--show-warnings", action="store_true", help="list warnings as well as errors"
    )
    parser.add_argument(
        "--show-all", action="store_true", help="list every issue, information included"
    )
    parser.add_argument(
        "--top", type=int, default=0, metavar="N", help="per profile, the N most frequent messages"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the parsed issues as JSON")
    parser.add_argument(
        "--keep-output", metavar="FILE", help="keep the validator's own -output file"
    )
    parser.add_argument(
        "--java-opts", help=f"JVM options (default ${JAVA_OPTS_ENV} or '{DEFAULT_JAVA_OPTS}')"
    )
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    parser.add_argument(
        "--verbose", action="store_true", help="echo the validator's console output to stderr"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    args = parser.parse_args(argv)

    try:
        report = run(
            args.paths,
            args.ig,
            skip_conformance=args.skip_conformance,
            java_opts=args.java_opts,
            timeout=args.timeout,
            echo=args.verbose,
            keep_output=args.keep_output,
        )
    except (ValidatorError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        print(f"validate.py: {exc}", file=sys.stderr)
        return 2

    if args.json:
        payload = {
            "files": report.files,
            "wall_seconds": round(report.wall_seconds, 2),
            "command": report.command,
            "issues": [_issue_dict(i) for i in report.issues],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    if args.quiet:
        c = _counts(report.issues)
        print(
            f"{len(report.files)} file(s), {report.wall_seconds:.1f} s: "
            f"{c['error']} error(s), {c['warning']} warning(s), {c['information']} information"
        )
    else:
        show: tuple[str, ...] = ("fatal", "error")
        if args.show_warnings:
            show += ("warning",)
        if args.show_all:
            show = SEVERITY_ORDER
        print(summarize(report, show=show, top=args.top))
    return 1 if report.error_count else 0


if __name__ == "__main__":
    sys.exit(main())
