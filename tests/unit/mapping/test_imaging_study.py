"""fhir.imaging_study create-if-missing: the Bundle creates the SR's ImagingStudy unless the
server has it, and partOf points at that entry; R5 and R4 both parse strictly; without the
setting nothing changes (the golden Bundles check the bytes)."""

from __future__ import annotations

import copy
from typing import Any

import fhirclient.models.bundle as r4_bundle
import fhirclient.models.imagingstudy as r4_imaging_study
from fhir.resources.bundle import Bundle

from sr2fhir.config import load_config
from sr2fhir.mapping import MappingOptions, convert_dataset
from sr2fhir.mapping.r4 import to_r4
from tests.support.sr.reports import planar_report

CREATE = MappingOptions(create_imaging_study=True)


def parts_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for e in bundle["entry"] for p in e["resource"].get("partOf", [])]


def test_the_bundle_creates_the_study_unless_it_exists_and_points_at_it() -> None:
    ds = planar_report()
    bundle = convert_dataset(ds, CREATE)
    first = bundle["entry"][0]
    study_uid = str(ds.StudyInstanceUID)
    assert first["request"] == {
        "method": "POST",
        "url": "ImagingStudy",
        "ifNoneExist": f"identifier=urn:dicom:uid|urn:oid:{study_uid}",
    }
    study = first["resource"]
    assert "id" not in study  # the server names it (or has it already)
    assert study["identifier"][0]["value"] == f"urn:oid:{study_uid}"
    assert study["subject"]["identifier"]["value"] == str(ds.PatientID)
    assert study["basedOn"][0]["identifier"]["value"] == str(ds.AccessionNumber)
    assert study["series"][0]["uid"] == str(ds.SeriesInstanceUID)
    assert study["series"][0]["instance"][0]["uid"] == str(ds.SOPInstanceUID)
    refs = parts_of(bundle)
    assert refs and all(p["reference"] == first["fullUrl"] for p in refs)
    assert all(p["identifier"]["value"] == f"urn:oid:{study_uid}" for p in refs)  # kept
    Bundle.model_validate(bundle)  # R5 structure


def test_every_sr_of_a_study_names_the_same_entry() -> None:
    one = planar_report()
    other = copy.deepcopy(one)
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = "2.25.4711"
    first, second = (convert_dataset(ds, CREATE)["entry"][0] for ds in (one, other))
    assert first["fullUrl"] == second["fullUrl"]
    assert convert_dataset(one, CREATE) == convert_dataset(one, CREATE)  # deterministic


def test_r4_carries_the_conditional_create_too() -> None:
    bundle = to_r4(convert_dataset(planar_report(), CREATE))
    r4_bundle.Bundle(bundle, strict=True)
    study = bundle["entry"][0]
    r4_imaging_study.ImagingStudy(study["resource"], strict=True)
    assert study["resource"]["series"][0]["modality"]["code"] == "SR"
    assert all(p["reference"] == study["fullUrl"] for p in parts_of(bundle))


def test_by_default_partof_stays_a_reference_by_identifier() -> None:
    bundle = convert_dataset(planar_report(), load_config(env={}).mapping_options)
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    assert all("reference" not in p for p in parts_of(bundle))


def test_the_setting_reaches_the_mapping() -> None:
    config = load_config(env={"SR2FHIR_FHIR_IMAGING_STUDY": "create-if-missing"})
    assert config.mapping_options.create_imaging_study
