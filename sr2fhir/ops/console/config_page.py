"""The Configuration page: every key's effective value, secrets masked, and the layer it
came from (default, file, environment variable, command-line flag)."""

from __future__ import annotations

import json
from typing import Any

from sr2fhir.config import SECTIONS, Config, config_as_dict
from sr2fhir.config.dump import ValueSource, value_source
from sr2fhir.config.flags import FLAG_KEYS
from sr2fhir.ops.console.layout import table
from sr2fhir.ops.console.markup import Html, h

FLAGS = {key: "--" + dest.replace("_", "-") for dest, key in FLAG_KEYS.items()}


def shown(value: Any) -> str:
    """A value as the file would say it (null, true, 3.0, [..]); secrets are already '***'."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def source_text(config: Config, dotted: str) -> str:
    kind, detail = value_source(config, dotted)
    if kind is ValueSource.FLAG:
        detail = FLAGS.get(dotted, "")
    return f"{kind.value} {detail}".strip()


def config_content(config: Config) -> list[Html]:
    """A table per section; keys not at their default stand out (class `set`)."""
    values = config_as_dict(config, redact=True)
    sections = []
    for section in SECTIONS:
        rows = []
        for key, value in values[section].items():
            dotted = f"{section}.{key}"
            kind, _ = value_source(config, dotted)
            css = "set" if kind is not ValueSource.DEFAULT else None
            rows.append(
                h(
                    "tr",
                    {"class": css},
                    h("th", {"scope": "row"}, h("code", None, key)),
                    h("td", {"class": "value"}, h("code", None, shown(value))),
                    h("td", {"class": "source"}, source_text(config, dotted)),
                )
            )
        sections.append(
            h(
                "section",
                {"id": f"section-{section}"},
                h("h2", None, section),
                table(["Key", "Value", "Source"], rows, "grid config"),
            )
        )
    intro = h(
        "p",
        None,
        "The configuration this gateway runs with: each value from the highest layer that "
        "sets it (flag > environment variable > file > default). Secrets show as ***.",
    )
    return [intro, *sections]
