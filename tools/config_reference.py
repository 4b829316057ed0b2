"""Writes docs/configuration.md, the reference of every configuration key, from the two
places that hold its facts:

- config/sr2fhir.yaml, the documented sample: what each key means (the comment above it;
  keys with no comment of their own share the one above them) and its default;
- the schema (sr2fhir/config/schema.py): each key's type, closed set of words, secrecy and
  environment variable.

    python3 tools/config_reference.py           # (re)write docs/configuration.md
    python3 tools/config_reference.py --check   # exit 1 if it is not what this writes

Why the sample file holds the words, and not the schema: it is what an administrator
copies and edits, so its comments must be there and right anyway; the schema stays pure
types and checks (a sentence per key would double schema.py), and the mapping section's
class lives in the mapping package. tests/unit/ux/test_config_reference.py keeps the three
in step: every key of the schema is in the sample with its default and a comment, and the
reference is what this script writes.
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "config" / "sr2fhir.yaml"
TARGET = REPO / "docs" / "configuration.md"
_KEY = re.compile(r"^  ([a-z_0-9]+):(.*)$")
_SECTION = re.compile(r"^([a-z]+):\s*$")


@dataclass
class Documented:
    """The keys one comment of the sample describes, in file order, with their defaults."""

    section: str
    text: str
    keys: list[tuple[str, str]]  # (key, default as the sample writes it)


def read_sample(text: str) -> dict[str, list[Documented]]:
    """section -> its documented groups of keys, from the sample's comments."""
    sections: dict[str, list[Documented]] = {}
    section, comment = "", []
    for line in text.splitlines():
        if match := _SECTION.match(line):
            section, comment = match.group(1), []
            sections[section] = []
        elif line.startswith("  #") and section:
            comment.append(line.strip()[2:])  # after "# ": an example keeps its indent
        elif (match := _KEY.match(line)) and section:
            key, default = match.group(1), match.group(2).strip()
            if comment or not sections[section]:
                sections[section].append(Documented(section, _prose(comment), []))
            sections[section][-1].keys.append((key, default))
            comment = []
    return sections


def _prose(lines: list[str]) -> str:
    """Comment lines as one paragraph; indented ones (examples) as code after it."""
    words = [line.strip() for line in lines if not line.startswith("  ")]
    examples = [f"`{line.strip()}`" for line in lines if line.startswith("  ")]
    text = " ".join(words) + ("<br>" + " ".join(examples) if examples else "")
    return text.replace("|", "\\|")


def kind(hint: Any) -> str:
    """The key's type in words."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return f"{kind(args[0])} or null"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in hint)
    names = {bool: "true/false", int: "integer", float: "number", str: "text"}
    if hint in names:
        return names[hint]
    if origin is tuple and typing.get_args(hint)[0] == tuple[str, str]:
        return "mapping of text to text"
    return "list"


def render() -> str:
    sys.path.insert(0, str(REPO))
    from sr2fhir.config.loading import ENV_PREFIX
    from sr2fhir.config.schema import SECTIONS, Config, section_keys

    documented = read_sample(SAMPLE.read_text())
    out = [
        "# Configuration reference",
        "",
        "<!-- Written by tools/config_reference.py from config/sr2fhir.yaml and the schema"
        " (sr2fhir/config/schema.py); edit those, then run the script. -->",
        "",
        "Every key of the gateway's configuration, by section: its type, its default and",
        "what it does. Values come from, in rising precedence: the defaults below, the YAML",
        "file (`--config FILE`; `config/sr2fhir.yaml` is a copy of the defaults with these",
        "words as comments), the environment (`SR2FHIR_<SECTION>_<KEY>`, read as YAML),",
        "and the command line's flags. `sr2fhir check-config` prints the result and checks",
        'it as `sr2fhir serve` does (docs/gateway.md, "Configuration").',
        "",
    ]
    for section in SECTIONS:
        keys = {key.name: key for key in section_keys(section)}
        doc = (type(getattr(Config(), section)).__doc__ or "").strip().split("\n\n")[0]
        out += [
            f"## `{section}`",
            "",
            " ".join(doc.split()),
            "",
            "| key | type | default | meaning |",
        ]
        out.append("| --- | --- | --- | --- |")
        for group in documented.get(section, []):
            for n, (name, default) in enumerate(group.keys):
                key = keys[name]
                env = f"{ENV_PREFIX}{section}_{name}".upper()
                secret = " (secret: shown as `***`)" if key.secret else ""
                meaning = group.text if n == 0 else "(with the key above)"
                out.append(
                    f"| `{section}.{name}`<br>`{env}` | {kind(key.hint)}{secret} | "
                    f"`{default}` | {meaning} |"
                )
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = TARGET.is_file() and TARGET.read_text() == text
        print(f"{TARGET.relative_to(REPO)}: {'up to date' if same else 'differs: regenerate'}")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
