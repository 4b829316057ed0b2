"""Tests of tools/validator/validate.py: `python -m pytest tools/validator`.

The parsing tests need no Java. The end-to-end test runs the validator (about 30-60 s) and is
skipped unless setup.sh has been run and the IG folder exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate

PROFILE = "http://example.org/StructureDefinition/p"


def _issue(severity: str, expression: str, text: str, line: int = 1) -> dict:
    return {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line",
                "valueInteger": line,
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col",
                "valueInteger": 2,
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
                "valueCode": "X",
            },
        ],
        "severity": severity,
        "code": "invalid",
        "details": {"text": text},
        "expression": [expression],
    }


def test_parse_bundle_of_outcomes_attributes_entries(tmp_path: Path) -> None:
    obs = tmp_path / "Observation-a.json"
    obs.write_text(
        json.dumps({"resourceType": "Observation", "id": "a", "meta": {"profile": [PROFILE]}})
    )
    bundle = tmp_path / "Bundle-b.json"
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "p"}},
                    {
                        "resource": {
                            "resourceType": "Observation",
                            "id": "o",
                            "meta": {"profile": [PROFILE]},
                        }
                    },
                ],
            }
        )
    )
    files = validate.expand_paths([obs, bundle])
    resources = {str(f): validate._resources_of(f) for f in files}
    outcome = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-file",
                            "valueString": str(bundle),
                        }
                    ],
                    "issue": [
                        _issue(
                            "error",
                            "Bundle.entry[1].resource/*Observation/o*/.status",
                            "missing status",
                            7,
                        ),
                        _issue("warning", "Bundle.entry[0].resource/*Patient/p*/", "no narrative"),
                        _issue("information", "Bundle", "All OK"),
                    ],
                }
            },
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-file",
                            "valueString": str(obs),
                        }
                    ],
                    "issue": [_issue("fatal", "Observation", "broken")],
                }
            },
        ],
    }
    issues = validate.parse_outcome(outcome, files, resources)
    assert [(i.file, i.resource, i.severity) for i in issues] == [
        (str(bundle), "Observation/o", "error"),
        (str(bundle), "Patient/p", "warning"),
        (str(bundle), "Bundle", "information"),
        (str(obs), "Observation/a", "fatal"),
    ]
    assert issues[0].profiles == (PROFILE,) and issues[0].line == 7 and issues[0].message_id == "X"
    assert issues[1].profile_key == "(base) Patient"
    assert [i.is_error for i in issues] == [True, False, False, True]


def test_single_outcome_and_directory_expansion(tmp_path: Path) -> None:
    (tmp_path / "Patient-x.json").write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    (tmp_path / "StructureDefinition-y.json").write_text(
        json.dumps({"resourceType": "StructureDefinition"})
    )
    (tmp_path / "notes.txt").write_text("not FHIR")
    assert len(validate.expand_paths([tmp_path])) == 2
    files = validate.expand_paths([tmp_path], skip_conformance=True)
    assert [f.name for f in files] == ["Patient-x.json"]
    resources = {str(f): validate._resources_of(f) for f in files}
    outcome = {"resourceType": "OperationOutcome", "issue": [_issue("warning", "Patient", "dom-6")]}
    (issue,) = validate.parse_outcome(outcome, files, resources)
    assert issue.file == str(files[0]) and issue.resource == "Patient/x" and not issue.is_error


def test_packages_pin_the_support_packages() -> None:
    pins = validate.read_packages()
    assert pins["hl7.fhir.r5.core"] == "5.0.0"
    assert {"hl7.terminology.r5", "hl7.fhir.uv.extensions.r5", "hl7.terminology"} <= set(pins)


@pytest.mark.skipif(
    not (validate.available() and validate.DEFAULT_IG.is_dir()),
    reason="needs tools/validator/setup.sh and ../shared/ig/resources",
)
def test_end_to_end_detects_profile_violations(tmp_path: Path) -> None:
    good = validate.DEFAULT_IG / "Observation-imaging-measurement-001.json"
    broken = json.loads(good.read_text())
    broken.pop("valueQuantity")
    broken["id"] = "broken"
    bad = tmp_path / "Observation-broken.json"
    bad.write_text(json.dumps(broken))
    issues = validate.validate([good, bad], timeout=900)
    errors = [i for i in issues if i.is_error]
    assert not [i for i in errors if i.file == str(good)]
    assert any("value[x]" in i.message and i.file == str(bad) for i in errors)
