"""Check Bundles before they leave: the official HL7 validator (tools/validator) when it is
set up and the IG is at hand, else an in-process structural R5 check (fhir.resources).

Errors that are defects of the IG's own profiles (docs/conformance.md) are reported as such
and do not count as failures.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from sr2fhir.errors import ConfigError, MappingError
from sr2fhir.mapping import bundle_to_json
from sr2fhir.report_facts import Converter, MappedReport

_CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree, when run from one
VALIDATOR_DIR_ENV = "SR2FHIR_VALIDATOR_DIR"
IG_DIR_ENV = "SR2FHIR_IG_DIR"

# Defects of the IG's profiles or of its example DICOM, each explained in docs/conformance.md.
KNOWN_IG_DEFECTS: dict[str, re.Pattern[str]] = {
    "derived-imaging-measurement derivedFrom slicing": re.compile(
        r"derived-imaging-measurement.*Element matches more than one slice"
        r"|Invalid Resource target type\. Found ImagingSelection, "
        r"but expected one of \(\[Observation\]\)"
    ),
    "region-in-space SOP Class typo": re.compile(
        r"Slice 'ImagingSelection\.instance:rtStructureInstance'"
    ),
    "logical reference to the ImagingStudy": re.compile(
        r"Slice 'Observation\.partOf:imagingStudyRef': a matching slice"
        r"|Unable to find a profile match for urn:uuid:\S+ among choices: "
        r"\S+imaging-measurement-group"
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One error about one Bundle; `known_defect` names the IG defect it stems from."""

    resource: str
    message: str
    known_defect: str | None = None


class BundleValidator(Protocol):
    """Validates named Bundles; returns the errors per name."""

    description: str

    def validate(self, bundles: dict[str, dict[str, Any]]) -> dict[str, list[Finding]]: ...


def known_defect(message: str) -> str | None:
    return next((name for name, p in KNOWN_IG_DEFECTS.items() if p.search(message)), None)


class Hl7Validator:
    """The HL7 validator in one JVM for all Bundles (tools/validator/validate.py)."""

    def __init__(self, module: ModuleType, ig_dir: Path) -> None:
        self.module = module
        self.ig_dir = ig_dir
        self.description = "the HL7 FHIR validator (offline, with the IG's profiles)"

    def validate(self, bundles: dict[str, dict[str, Any]]) -> dict[str, list[Finding]]:
        with tempfile.TemporaryDirectory(prefix="sr2fhir-validate-") as tmp:
            paths = {}
            for n, (name, bundle) in enumerate(bundles.items()):
                path = Path(tmp) / f"{n:06d}.json"
                path.write_bytes(bundle_to_json(bundle))
                paths[str(path.resolve())] = name
            report = self.module.run(list(paths), [self.ig_dir])
        found: dict[str, list[Finding]] = {name: [] for name in bundles}
        for issue in report.issues:
            if issue.is_error:
                name = paths[str(Path(issue.file).resolve())]
                found[name].append(
                    Finding(issue.resource, issue.message, known_defect(issue.message))
                )
        return found


class StructuralValidator:
    """FHIR R5 structure (types, cardinality, unknown elements) of every resource, in-process;
    neither profiles nor bindings nor invariants."""

    description = "an in-process structural R5 check (fhir.resources; no profiles)"

    def __init__(self) -> None:
        try:
            import fhir.resources  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the structural FHIR check needs fhir.resources: pip install 'sr2fhir[validate]'"
            ) from None

    def validate(self, bundles: dict[str, dict[str, Any]]) -> dict[str, list[Finding]]:
        from fhir.resources import get_fhir_model_class
        from pydantic import ValidationError

        found: dict[str, list[Finding]] = {}
        for name, bundle in bundles.items():
            findings = found.setdefault(name, [])
            for entry in bundle.get("entry", []):
                resource = entry["resource"]
                label = f"{resource['resourceType']}/{resource.get('id', '?')}"
                try:
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                except ValidationError as exc:
                    for error in exc.errors():
                        where = ".".join(str(p) for p in error["loc"])
                        findings.append(Finding(label, f"{where}: {error['msg']}"))
        return found


def validating_converter(convert: Converter, validator: BundleValidator) -> Converter:
    """`delivery.validate`: a Bundle with errors fails its job (MappingError) before delivery."""

    def checked(data: bytes) -> MappedReport:
        mapped = convert(data)
        bundle = mapped.bundle
        findings = validator.validate({"bundle": bundle})["bundle"]
        errors = [f for f in findings if f.known_defect is None]
        if errors:
            first = errors[0]
            raise MappingError(
                f"not conformant ({len(errors)} error(s), {validator.description}): "
                f"{first.resource}: {first.message[:200]}"
            )
        return mapped

    return checked


def _load_hl7_module(validator_dir: Path) -> ModuleType | None:
    script = validator_dir / "validate.py"
    if not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location("sr2fhir_hl7_validate", script)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module if module.available() else None


def find_validator() -> BundleValidator:
    """The best validator this machine has; ConfigError when there is none."""
    hl7_dir, ig_dir = validator_dir(), ig_resources()
    module = _load_hl7_module(hl7_dir) if hl7_dir is not None else None
    if module is not None and ig_dir is not None and ig_dir.is_dir():
        return Hl7Validator(module, ig_dir)
    try:
        return StructuralValidator()
    except ConfigError:
        raise ConfigError(f"no validator available: {_how_to_get_one()}") from None


def validator_dir() -> Path | None:
    """$SR2FHIR_VALIDATOR_DIR, else tools/validator of the source checkout sr2fhir runs from
    (an installed wheel has none)."""
    given = os.environ.get(VALIDATOR_DIR_ENV)
    if given:
        return Path(given)
    checkout = _CHECKOUT / "tools" / "validator"
    return checkout if (checkout / "validate.py").is_file() else None


def ig_resources() -> Path | None:
    """$SR2FHIR_IG_DIR, else the IG beside the checkout (../shared/ig/resources) if there."""
    given = os.environ.get(IG_DIR_ENV)
    if given:
        return Path(given)
    beside = _CHECKOUT.parent / "shared" / "ig" / "resources"
    return beside if beside.is_dir() else None


def _how_to_get_one() -> str:
    structural = "pip install 'sr2fhir[validate]' (structural R5 check)"
    hl7 = f"Java and the IG's resources in {IG_DIR_ENV}"
    if (_CHECKOUT / "tools" / "validator" / "setup.sh").is_file():  # a source checkout
        return f"{structural}, or run tools/validator/setup.sh (HL7 validator; {hl7})"
    return (
        f"{structural}, or set {VALIDATOR_DIR_ENV} to the tools/validator folder of the "
        f"sr2fhir source after its setup.sh (HL7 validator; {hl7})"
    )
