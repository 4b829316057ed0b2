"""UCUM unit codes: is a code valid UCUM, and how does a clinician read it?

The syntax is UCUM's grammar (§1-§7 of the specification: terms of components joined by "."
and "/", components with an optional exponent and annotation, parentheses, integer factors,
prefixes on metric atoms only); the prefixes and atoms with their names are read from the
UCUM project's own ucum-essence.xml (data/, unmodified; see data/README.md for its licence).
The display is the units' UCUM names composed as English reads them: "mm2" is
"square millimeter", "mL/s" "milliliter per second", "[hnsf'U]" "Hounsfield unit".
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from importlib import resources

_NS = "{http://unitsofmeasure.org/ucum-essence}"
_EXPONENT = re.compile(r"^(.+?)([+-]?\d+)?$")
_POWERS_OF_TEN = frozenset({"10*", "10^"})
_POWER_WORDS = {2: "square", 3: "cubic"}


class UcumError(ValueError):
    """A unit code that is not valid UCUM; the message says where and why."""


@dataclass(frozen=True, slots=True)
class _Atom:
    name: str
    metric: bool


@dataclass(frozen=True, slots=True)
class _Essence:
    prefixes: dict[str, str]  # code -> name
    atoms: dict[str, _Atom]


@functools.cache
def _essence() -> _Essence:
    """Prefixes and atoms of ucum-essence.xml (read once, ~5 ms)."""
    data = resources.files("sr2fhir.mapping").joinpath("data/ucum-essence.xml").read_bytes()
    root = ElementTree.fromstring(data)
    prefixes: dict[str, str] = {}
    atoms: dict[str, _Atom] = {}
    for element in root:
        code = element.get("Code", "")
        name = (element.findtext(f"{_NS}name") or code).strip()
        if element.tag == f"{_NS}prefix":
            prefixes[code] = name
        elif element.tag == f"{_NS}base-unit":
            atoms[code] = _Atom(_si_name(name), metric=True)
        elif element.tag == f"{_NS}unit":
            si = element.get("class") == "si"
            atoms[code] = _Atom(_si_name(name) if si else name, element.get("isMetric") == "yes")
    return _Essence(prefixes, atoms)


def _si_name(name: str) -> str:
    """SI unit names are written lower case ("pascal", "kelvin"; SI Brochure 5.2)."""
    return name[:1].lower() + name[1:]


def is_valid_ucum(code: str) -> bool:
    try:
        ucum_display(code)
    except UcumError:
        return False
    return True


def ucum_display(code: str) -> str:
    """The unit as a clinician reads it ("square millimeter"); "" for the unity "1".
    Raises UcumError when `code` is not valid UCUM."""
    if not code or not code.isascii() or any(ch.isspace() for ch in code):
        raise UcumError("a UCUM code is printable ASCII without spaces")
    parser = _Parser(code, _essence())
    text = parser.main_term()
    if parser.at < len(code):
        raise UcumError(f"unexpected {code[parser.at]!r} at position {parser.at + 1}")
    return "" if code == "1" else text


class _Parser:
    """Recursive descent over one code; each rule returns the display of what it read."""

    def __init__(self, code: str, essence: _Essence) -> None:
        self.code = code
        self.at = 0
        self.essence = essence

    def peek(self) -> str:
        return self.code[self.at] if self.at < len(self.code) else ""

    def main_term(self) -> str:
        if self.peek() == "/":
            self.at += 1
            return f"per {self.term()}"
        return self.term()

    def term(self) -> str:
        text = self.component()
        while self.peek() in (".", "/"):
            operator = self.peek()
            self.at += 1
            right = self.component()
            text = f"{text} per {right}" if operator == "/" else f"{text} {right}"
        return text

    def component(self) -> str:
        if self.peek() == "{":
            return self.annotation()
        if self.peek() == "(":
            self.at += 1
            inner = self.term()
            if self.peek() != ")":
                raise UcumError(f"missing ')' at position {self.at + 1}")
            self.at += 1
            text = f"({inner})"
        else:
            text = self.annotatable()
        if self.peek() == "{":
            text = f"{text} ({self.annotation()})"
        return text

    def annotation(self) -> str:
        end = self.code.find("}", self.at)
        inner = self.code[self.at + 1 : end]
        if end < 0 or "{" in inner:
            raise UcumError(f"unbalanced '{{' at position {self.at + 1}")
        self.at = end + 1
        return inner

    def annotatable(self) -> str:
        start = self.at
        while self.peek() and self.peek() not in "./(){}":
            if self.peek() == "[":
                close = self.code.find("]", self.at)
                if close < 0:
                    raise UcumError(f"unbalanced '[' at position {self.at + 1}")
                self.at = close
            self.at += 1
        token = self.code[start : self.at]
        if not token:
            raise UcumError(f"a unit is missing at position {start + 1}")
        if token.isdigit():
            if int(token) == 0:
                raise UcumError("a factor is a positive integer")
            return token
        match = _EXPONENT.match(token)
        assert match is not None  # the token is not empty
        symbol, exponent = match.group(1), match.group(2)
        return _with_exponent(self.simple_unit(symbol, start), symbol, exponent)

    def simple_unit(self, symbol: str, start: int) -> str:
        atoms, prefixes = self.essence.atoms, self.essence.prefixes
        atom = atoms.get(symbol)
        if atom is not None:
            return atom.name
        for prefix, prefix_name in prefixes.items():
            rest = symbol[len(prefix) :]
            if symbol.startswith(prefix) and rest in atoms:
                if not atoms[rest].metric:
                    raise UcumError(f"{rest!r} takes no prefix (it is not a metric unit)")
                return f"{prefix_name}{atoms[rest].name}"
        raise UcumError(f"{symbol!r} at position {start + 1} is not a UCUM unit")


def _with_exponent(name: str, symbol: str, exponent: str | None) -> str:
    if symbol in _POWERS_OF_TEN:
        return f"10^{int(exponent or 1)}"
    if exponent is None:
        return name
    power = int(exponent)
    if power == 0:
        raise UcumError("an exponent of 0 is not a unit")
    if power == 1:
        return name
    if power == -1:
        return f"per {name}"
    if abs(power) in _POWER_WORDS:
        return ("per " if power < 0 else "") + f"{_POWER_WORDS[abs(power)]} {name}"
    return f"{name} to the power {power}"
