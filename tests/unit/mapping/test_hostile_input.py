"""Reports built to hurt the mapping: non-finite numbers, absurd depth, absurd size.

Each must end as a one-line SrParseError / MappingError (the job FAILS, the rest of the
queue flows) or as valid JSON -- never as a crash, a RecursionError or `Infinity`.
"""

from __future__ import annotations

import io
import json
import math
import zlib
from typing import Any

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from sr2fhir.errors import MappingError, SrParseError
from sr2fhir.mapping import MappingOptions, bundle_to_json, convert_dataset, read_sr_bytes
from sr2fhir.mapping.content import MAX_CONTENT_DEPTH
from sr2fhir.mapping.dataset import decode_part10
from sr2fhir.mapping.read import _read_with_pydicom, dataset_size
from sr2fhir.worker import make_converter
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.hostile import deep_report_bytes, first_num, num_value_report
from tests.support.sr.part10 import from_bytes, to_bytes
from tests.support.sr.tree import iter_items
from tests.unit.mapping.bundle_view import item_resource_id, resources

DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def strict_json(data: bytes) -> Any:
    """json.loads that refuses NaN and Infinity (which Python's own loads accepts)."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(data, parse_constant=refuse)


# ---------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize(
    ("value", "reason"),
    [(math.inf, "positive-infinity"), (-math.inf, "negative-infinity"), (math.nan, "not-a-number")],
)
def test_a_non_finite_num_has_no_value_and_says_why(value: float, reason: str) -> None:
    ds = num_value_report(1, value)
    path = next(p for p, item in iter_items(ds) if item is first_num(ds))
    bundle = convert_dataset(ds)
    strict_json(bundle_to_json(bundle))  # valid JSON: no Infinity, no NaN
    quantity = _observation_at(bundle, ds, path)["valueQuantity"]
    assert "value" not in quantity
    assert quantity["extension"] == [{"url": DATA_ABSENT, "valueCode": reason}]
    assert quantity["code"]  # the unit stays


def _observation_at(bundle: dict[str, Any], ds: Any, path: str) -> dict[str, Any]:
    wanted = item_resource_id(ds, "Observation", path)
    [found] = [r for r in resources(bundle) if r["id"] == wanted]
    return found


@pytest.mark.parametrize("indent", [None, 2])
def test_the_bundle_encoder_refuses_non_finite_numbers(indent: int | None) -> None:
    with pytest.raises(ValueError, match="JSON"):
        bundle_to_json({"resourceType": "Bundle", "value": math.inf}, indent=indent)


def test_an_infinite_scoord_coordinate_is_a_parse_error() -> None:
    ds = benchmark_report(1)
    scoord = next(i for _, i in iter_items(ds) if i.get("ValueType") == "SCOORD")
    scoord.GraphicData = [1.0, math.inf, *list(scoord.GraphicData)[2:]]
    with pytest.raises(SrParseError, match="NaN or infinite coordinate"):
        convert_dataset(from_bytes(to_bytes(ds)))


# ---------------------------------------------------------------- depth


def read_fast(data: bytes) -> Any:
    return read_sr_bytes(data)


READERS = {"fast decoder": read_fast, "pydicom": _read_with_pydicom}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("undefined_root", [False, True])
def test_a_content_tree_2000_deep_is_a_parse_error_not_a_recursion_error(
    reader: Any, undefined_root: bool
) -> None:
    data = deep_report_bytes(1, 2000, undefined_root)
    with pytest.raises(SrParseError, match=r"nested (deeper than 64 levels|too deeply to read)"):
        convert_dataset(reader(data))


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_the_depth_limit_is_the_content_trees(reader: Any) -> None:
    """The chain starts at level 2: depth - 1 more levels under it."""
    convert_dataset(reader(deep_report_bytes(1, MAX_CONTENT_DEPTH - 1)))  # deepest: level 50
    with pytest.raises(SrParseError, match="content tree nested deeper than 50 levels") as caught:
        convert_dataset(reader(deep_report_bytes(1, MAX_CONTENT_DEPTH)))
    assert caught.value.item_path is not None and "…" in caught.value.item_path


# ---------------------------------------------------------------- size


def test_more_content_items_than_the_limit_fail_before_mapping() -> None:
    ds = benchmark_report(1)
    items = sum(1 for _ in iter_items(ds))
    convert_dataset(ds, MappingOptions(max_content_items=items))
    with pytest.raises(SrParseError, match=rf"more than {items - 1} content items"):
        convert_dataset(ds, MappingOptions(max_content_items=items - 1))


@pytest.mark.parametrize("provenance", [False, True])
def test_a_bundle_over_the_entry_limit_is_a_mapping_error(provenance: bool) -> None:
    ds = benchmark_report(1)
    entries = len(convert_dataset(ds, MappingOptions(provenance=provenance))["entry"])
    convert_dataset(ds, MappingOptions(provenance=provenance, max_bundle_entries=entries))
    with pytest.raises(MappingError, match=rf"more than {entries - 1} entries"):
        convert_dataset(ds, MappingOptions(provenance=provenance, max_bundle_entries=entries - 1))


def test_a_data_set_over_the_byte_limit_is_refused_unread() -> None:
    data = benchmark_report_bytes(1)
    size = dataset_size(data)
    assert size < len(data) - 128  # the file meta is not counted
    read_sr_bytes(data, max_bytes=size)
    with pytest.raises(SrParseError, match=rf"data set of {size} bytes, more than"):
        read_sr_bytes(data, max_bytes=size - 1)


def test_a_deflated_data_set_is_not_inflated_past_the_limit() -> None:
    ds = benchmark_report(1)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    data = buffer.getvalue()
    deflated = data[len(data) - dataset_size(data) :]
    inflated = len(zlib.decompress(deflated, -zlib.MAX_WBITS))
    assert len(deflated) < inflated // 2  # within the limit as received
    assert decode_part10(data, max_inflated=inflated) is not None
    with pytest.raises(SrParseError, match="inflates to more than"):
        decode_part10(data, max_inflated=inflated // 2)


def test_the_converter_applies_every_limit_of_its_options() -> None:
    data = benchmark_report_bytes(1)
    convert = make_converter(MappingOptions(max_dataset_bytes=1000))
    with pytest.raises(SrParseError, match=r"dicom\.max_dataset_bytes"):
        convert(data)
    with pytest.raises(SrParseError, match=r"mapping\.max_content_items"):
        make_converter(MappingOptions(max_content_items=3))(data)
    with pytest.raises(MappingError, match=r"mapping\.max_bundle_entries"):
        make_converter(MappingOptions(max_bundle_entries=3))(data)
