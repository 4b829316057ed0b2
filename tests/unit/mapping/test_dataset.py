"""The fast PS3.5 decoder: same Bundles as pydicom, and pydicom for everything it leaves alone."""

from __future__ import annotations

import copy
import io
import random
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from sr2fhir.errors import MappingError, SrParseError
from sr2fhir.mapping import bundle_to_json, convert_dataset, read_sr_bytes
from sr2fhir.mapping.dataset import DataSet, decode_part10
from sr2fhir.mapping.read import _read_with_pydicom
from tests.support.sr.catalogue import ALL_GOOD
from tests.support.sr.reports import participant_report, planar_report

FAST_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]


def encode(ds: Dataset, syntax: str, defined_lengths: bool | None = None) -> bytes:
    """Part-10 bytes of `ds` in `syntax`; sequences and items of defined or undefined length."""
    ds = copy.deepcopy(ds)
    ds.file_meta.TransferSyntaxUID = syntax
    if defined_lengths is not None:
        for sequence in _sequences(ds):
            sequence.is_undefined_length = not defined_lengths  # type: ignore[attr-defined]
            for item in sequence.value:  # type: ignore[attr-defined]
                item.is_undefined_length_sequence_item = not defined_lengths
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)  # also between little and big endian
    return buffer.getvalue()


def _sequences(ds: Dataset) -> Iterator[object]:
    for element in ds:
        if element.VR == "SQ":
            yield element
            for item in element.value:
                yield from _sequences(item)


def bundle_bytes(source: object) -> bytes:
    return bundle_to_json(convert_dataset(source))  # type: ignore[arg-type]


def assert_fast_and_same(data: bytes) -> None:
    fast = read_sr_bytes(data)
    assert isinstance(fast, DataSet), "the common encodings must take the fast path"
    assert bundle_bytes(fast) == bundle_bytes(_read_with_pydicom(data))


@pytest.mark.parametrize("name", sorted(ALL_GOOD))
@pytest.mark.parametrize("syntax", FAST_SYNTAXES)
def test_fast_decoder_gives_the_bundle_pydicom_gives(name: str, syntax: str) -> None:
    assert_fast_and_same(encode(ALL_GOOD[name](), syntax))


@pytest.mark.parametrize("syntax", FAST_SYNTAXES)
def test_ig_example_through_the_fast_decoder(ig_example_dataset: Dataset, syntax: str) -> None:
    assert_fast_and_same(encode(ig_example_dataset, syntax))


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
@pytest.mark.parametrize("defined", [True, False])
def test_sequences_and_items_of_defined_and_undefined_length(syntax: str, defined: bool) -> None:
    data = encode(planar_report(), syntax, defined_lengths=defined)
    assert (b"\xfe\xff\xdd\xe0" in data) is not defined  # Sequence Delimitation Items
    assert_fast_and_same(data)


def test_big_endian_is_read_by_pydicom_with_the_same_result() -> None:
    ds = planar_report()
    data = encode(ds, ExplicitVRBigEndian)
    assert decode_part10(data) is None
    read = read_sr_bytes(data)
    assert not isinstance(read, DataSet)
    assert bundle_bytes(read) == bundle_bytes(decode_part10(encode(ds, ExplicitVRLittleEndian)))


@pytest.mark.parametrize(
    ("charset", "name", "fast"),
    [
        (None, "Smith^Jane", True),
        ("ISO_IR 100", "Müller^Zoë", True),
        ("ISO_IR 192", "Müller^Zoë", True),
        (["ISO 2022 IR 6", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎", False),
    ],
)
def test_character_sets(charset: str | list[str] | None, name: str, fast: bool) -> None:
    ds = participant_report()
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    ds.ParticipantSequence[0].PersonName = name
    data = encode(ds, ExplicitVRLittleEndian)
    decoded = decode_part10(data)
    assert (decoded is not None) is fast
    read = read_sr_bytes(data)
    assert read.get("ParticipantSequence")[0].get("PersonName") == name
    assert bundle_bytes(read) == bundle_bytes(_read_with_pydicom(data))


def test_values_by_keyword() -> None:
    ds = planar_report()
    ds.SoftwareVersions = ["1.0", "2.0"]
    fast = decode_part10(encode(ds, ExplicitVRLittleEndian))
    assert fast is not None
    assert fast.get("SOPInstanceUID") == ds.SOPInstanceUID
    assert fast.get("SoftwareVersions") == ["1.0", "2.0"]
    assert fast.get("NotAKeyword", "dflt") == "dflt"
    assert fast.get("PixelData") is None
    assert "StudyInstanceUID" in fast and "PixelData" not in fast
    assert "NotAKeyword" not in fast


def test_repr_shows_no_values() -> None:
    ds = planar_report()
    fast = decode_part10(encode(ds, ExplicitVRLittleEndian))
    assert str(ds.PatientName) not in repr(fast)
    assert str(ds.PatientID) not in repr(fast)


@pytest.mark.filterwarnings("ignore:Unknown encoding")  # pydicom on a cut character set
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_truncated_files_never_take_the_fast_path_unnoticed(syntax: str) -> None:
    """At every cut the fast path either declines or reads what pydicom reads."""
    data = encode(planar_report(), syntax)
    for cut in range(133, len(data), 5):
        part = data[:cut]
        fast = decode_part10(part)
        try:
            slow: object = _read_with_pydicom(part)
        except SrParseError:
            slow = None
        if fast is None:
            continue
        assert slow is not None, f"fast path accepted a file pydicom rejects (cut {cut})"
        assert fast.get("SOPInstanceUID") == slow.get("SOPInstanceUID")  # type: ignore[attr-defined]


def test_not_part10_is_left_to_pydicom() -> None:
    data = encode(planar_report(), ExplicitVRLittleEndian)
    assert decode_part10(data[132:]) is None
    assert decode_part10(b"") is None
    assert decode_part10(b"\0" * 128 + b"DICM" + b"\xff" * 7) is None


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on mangled character sets
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_mangled_bytes_map_or_are_rejected_never_crash(syntax: str) -> None:
    """Random byte changes: a Bundle or a one-line rejection, never another exception."""
    data = encode(planar_report(), syntax)
    rng = random.Random(1500)
    outcomes = {"mapped": 0, "rejected": 0}
    for _ in range(300):
        mangled = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mangled[rng.randrange(132, len(mangled))] = rng.randrange(256)
        try:
            convert_dataset(read_sr_bytes(bytes(mangled)))
            outcomes["mapped"] += 1
        except (SrParseError, MappingError):
            outcomes["rejected"] += 1
    assert outcomes["mapped"] > 0 and outcomes["rejected"] > 0


def test_an_unknown_explicit_vr_is_left_to_pydicom_and_rejected() -> None:
    data = encode(planar_report(), ExplicitVRLittleEndian)
    at = data.index(b"\x08\x00\x55\x11UI")  # Referenced SOP Instance UID (0008,1155)
    mangled = data[: at + 4] + b"Uw" + data[at + 6 :]
    assert decode_part10(mangled) is None
    with pytest.raises(SrParseError, match="corrupt DICOM"):
        convert_dataset(read_sr_bytes(mangled))
