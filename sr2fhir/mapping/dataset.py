"""A small PS3.5 decoder for the Part-10 SR files the gateway receives (the fast path).

pydicom decodes every element through several layers of Python per element; an SR has
hundreds of small elements, so reading one report through pydicom costs more than mapping
it. This decoder walks the encoded bytes once, keeps each element as (VR, start, stop) and
decodes only the values the mapping asks for, by keyword.

It handles what storage SCUs send in practice: Implicit VR Little Endian, Explicit VR Little
Endian and Deflated Explicit VR Little Endian, with a single-byte or UTF-8 character set.
Anything else (Big Endian, ISO 2022 code extensions, a character set inside an item, an
unknown VR, a public element encoded as UN, a short or inconsistent encoding) makes
`decode_part10` return None, and the caller reads the file with pydicom, which gives the
exact reason when it is broken.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Protocol, TypeAlias

from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR, keyword_dict

from sr2fhir.errors import SrParseError

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"

_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_CHARSET_TAG = 0x00080005

# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN"}
    | {b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
# Values in the Specific Character Set (PS3.5 6.1.2.3); other string VRs are ASCII.
_CHARSET_VRS = frozenset({b"LO", b"LT", b"PN", b"SH", b"ST", b"UC", b"UT"})
_STRING_VRS = _CHARSET_VRS | {b"AE", b"AS", b"CS", b"DA", b"DS", b"DT", b"IS", b"TM", b"UI", b"UR"}
# String VRs whose value may contain a backslash: never split into several values.
_SINGLE_VALUED = frozenset({b"LT", b"ST", b"UT", b"UR"})
_BINARY_FORMATS = {b"FL": "f", b"FD": "d", b"SL": "l", b"SS": "h", b"UL": "L", b"US": "H"}
_BINARY_SIZES = {"f": 4, "d": 8, "l": 4, "h": 2, "L": 4, "H": 2}

# Sequences nested in sequences: the content tree limit (content.MAX_CONTENT_DEPTH, 50) plus
# the code and measured-value sequences below an item, with room to spare. Deeper is refused
# here, before the recursive walk below (two frames per level) nears the recursion limit.
MAX_SEQUENCE_DEPTH = 64

_LITTLE_TAG_LENGTH = struct.Struct("<HHL")  # Implicit VR, items and delimiters
_EXPLICIT_HEADER = struct.Struct("<HH2sH")  # tag, VR, 2-byte length (or reserved)
_EXPLICIT_LONG_LENGTH = struct.Struct("<L")


class ElementSource(Protocol):
    """What the mapping reads from a data set: values by keyword (pydicom's Dataset fits)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def __contains__(self, key: str) -> bool: ...


def as_text(value: Any) -> str:
    """An element value as text without its padding; "" when the element is absent."""
    if value is None:
        return ""
    return str(value).strip()


class _NotHandled(Exception):
    """This encoding is for pydicom to read."""


class _Encoded:
    """The bytes all data sets of one file point into, and their character set's codec."""

    __slots__ = ("buffer", "encoding")

    def __init__(self, buffer: bytes) -> None:
        self.buffer = buffer
        self.encoding = "latin_1"


_Element: TypeAlias = "tuple[bytes, int, int] | list[DataSet]"


class DataSet:
    """Elements of one data set (or sequence item), decoded on request by keyword."""

    __slots__ = ("_elements", "_encoded")

    def __init__(self, encoded: _Encoded, elements: dict[int, _Element]) -> None:
        self._encoded = encoded
        self._elements = elements

    def __contains__(self, key: str) -> bool:
        tag = keyword_dict.get(key)
        return tag is not None and tag in self._elements

    def __repr__(self) -> str:  # never the values: they may be PHI
        return f"<DataSet of {len(self._elements)} elements>"

    def get(self, key: str, default: Any = None) -> Any:
        element = self._elements.get(keyword_dict.get(key))  # type: ignore[arg-type]
        if element is None:
            return default
        if isinstance(element, list):
            return element
        vr, start, stop = element
        raw = self._encoded.buffer[start:stop]
        if vr in _STRING_VRS:
            codec = self._encoded.encoding if vr in _CHARSET_VRS else "latin_1"
            text = raw.decode(codec, "replace")  # like pydicom: a bad byte is not fatal
            if vr in _SINGLE_VALUED or "\\" not in text:
                return text.rstrip("\0 ")
            return [v.rstrip("\0 ") for v in text.split("\\")]
        return _binary(vr, raw)


def _binary(vr: bytes, raw: bytes) -> Any:
    """Numbers of a binary VR (one, several, or None when empty); other VRs stay bytes."""
    fmt = _BINARY_FORMATS.get(vr)
    if fmt is None:
        return raw
    count = len(raw) // _BINARY_SIZES[fmt]
    if count == 0:
        return None
    numbers = struct.unpack(f"<{count}{fmt}", raw[: count * _BINARY_SIZES[fmt]])
    return numbers[0] if count == 1 else list(numbers)


def decode_part10(data: bytes, max_inflated: int | None = None) -> DataSet | None:
    """The data set of a Part-10 file, or None when pydicom has to read it. A deflated data
    set that inflates to more than `max_inflated` bytes is an SrParseError (a deflate bomb
    stops there, before it fills the memory)."""
    if data[128:132] != b"DICM":
        return None
    try:
        file = _Encoded(data)
        meta, offset = _Reader(file, explicit=True).elements(132, len(data), meta=True)
        syntax = DataSet(file, meta).get("TransferSyntaxUID")
        if syntax == DEFLATED_EXPLICIT_VR_LE:
            data, offset = _inflate(data[offset:], max_inflated), 0
        elif syntax not in (IMPLICIT_VR_LE, EXPLICIT_VR_LE):
            return None
        encoded = _Encoded(data)
        reader = _Reader(encoded, explicit=syntax != IMPLICIT_VR_LE)
        elements, _ = reader.elements(offset, len(data), top_level=True)
        top = DataSet(encoded, elements)
        encoded.encoding = _codec(top.get("SpecificCharacterSet", ""))
        return top if "SOPClassUID" in top else None
    except (_NotHandled, struct.error, zlib.error, UnicodeDecodeError):
        return None


def _inflate(deflated: bytes, limit: int | None) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(deflated, 0 if limit is None else limit + 1)  # 0: no limit
    if limit is not None and len(data) > limit:
        raise SrParseError(
            f"deflated data set inflates to more than dicom.max_dataset_bytes ({limit})"
        )
    if not inflater.eof:
        raise _NotHandled  # truncated: pydicom names the fault
    return data


def _codec(term: str | list[str]) -> str:
    """Python codec of a Specific Character Set without code extensions (PS3.3 C.12.1.1.2)."""
    if isinstance(term, list) or term.startswith("ISO 2022") or term == "ISO_IR 13":
        raise _NotHandled
    codec = python_encoding.get(term)
    if codec is None:
        raise _NotHandled
    return codec


class _Reader:
    """Walks an encoded data set, recording where each element's value lies."""

    def __init__(self, encoded: _Encoded, explicit: bool) -> None:
        self.encoded = encoded
        self.explicit = explicit

    def elements(
        self,
        offset: int,
        end: int,
        top_level: bool = False,
        delimited: bool = False,
        meta: bool = False,
        depth: int = 0,
    ) -> tuple[dict[int, _Element], int]:
        """Elements up to `end`, or up to the Item Delimitation Item when `delimited`;
        `depth` is how many sequences enclose them."""
        data = self.encoded.buffer
        found: dict[int, _Element] = {}
        explicit = self.explicit
        while offset < end:
            if explicit:
                high, low, vr, length = _EXPLICIT_HEADER.unpack_from(data, offset)
            else:
                high, low, length = _LITTLE_TAG_LENGTH.unpack_from(data, offset)
            tag = high << 16 | low
            if meta and high != 0x0002:
                return found, offset
            if tag == _ITEM_END and delimited:
                return found, offset + 8
            if tag == _CHARSET_TAG and not top_level:
                raise _NotHandled  # a character set of its own inside an item
            if explicit:
                if vr in _LONG_VRS:
                    if vr == b"UN" and not high & 1:
                        raise _NotHandled  # a public element of unknown VR: pydicom knows it
                    (length,) = _EXPLICIT_LONG_LENGTH.unpack_from(data, offset + 8)
                    offset += 12
                elif vr in _SHORT_VRS:
                    offset += 8
                else:
                    raise _NotHandled  # not a VR of PS3.5 6.2: let pydicom name the fault
            else:
                vr = _implicit_vr(tag, length)
                offset += 8
            if vr == b"SQ":
                found[tag], offset = self.sequence(offset, length, depth + 1)
                continue
            if length == _UNDEFINED or offset + length > end:
                raise _NotHandled
            found[tag] = (vr, offset, offset + length)
            offset += length
        if delimited or offset != end:
            raise _NotHandled  # the data ended inside an element or before its delimiter
        return found, offset

    def sequence(self, offset: int, length: int, depth: int) -> tuple[list[DataSet], int]:
        if depth > MAX_SEQUENCE_DEPTH:
            raise SrParseError(f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")
        data = self.encoded.buffer
        end = len(data) if length == _UNDEFINED else offset + length
        if end > len(data):
            raise _NotHandled
        items: list[DataSet] = []
        while offset < end:
            high, low, item_length = _LITTLE_TAG_LENGTH.unpack_from(data, offset)
            tag = high << 16 | low
            offset += 8
            if tag == _SEQUENCE_END and length == _UNDEFINED:
                return items, offset
            if tag != _ITEM:
                raise _NotHandled
            if item_length == _UNDEFINED:
                elements, offset = self.elements(offset, len(data), delimited=True, depth=depth)
            else:
                elements, offset = self.elements(offset, offset + item_length, depth=depth)
            items.append(DataSet(self.encoded, elements))
        if length == _UNDEFINED or offset != end:
            raise _NotHandled  # the file ended before the Sequence Delimitation Item
        return items, offset


_IMPLICIT_VRS: dict[int, bytes] = {}


def _implicit_vr(tag: int, length: int) -> bytes:
    """The dictionary VR of a tag (Implicit VR); an undefined length can only be a sequence."""
    if length == _UNDEFINED:
        return b"SQ"
    vr = _IMPLICIT_VRS.get(tag)
    if vr is None:
        try:
            vr = dictionary_VR(tag).encode("ascii")
        except KeyError:
            vr = b"UN"
        _IMPLICIT_VRS[tag] = vr
    return vr
