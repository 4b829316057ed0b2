"""docs/configuration.md is written from config/sr2fhir.yaml and the schema by
tools/config_reference.py: every key is documented there, and the page is up to date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from sr2fhir.config.schema import SECTIONS, section_keys

REPO = Path(__file__).resolve().parents[3]


def tool() -> ModuleType:
    path = REPO / "tools" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_every_key_of_the_schema_is_described_in_the_sample_in_schema_order() -> None:
    documented = tool().read_sample((REPO / "config" / "sr2fhir.yaml").read_text())
    assert sorted(documented) == sorted(SECTIONS)
    for section in SECTIONS:
        groups = documented[section]
        described = [name for group in groups for name, _ in group.keys]
        assert described == [key.name for key in section_keys(section)], section
        assert all(group.text for group in groups), f"a key of {section} has no comment"


def test_the_reference_page_is_what_the_tool_writes() -> None:
    """Else: python3 tools/config_reference.py (after changing the sample or the schema)."""
    assert (REPO / "docs" / "configuration.md").read_text() == tool().render()


def test_the_gateway_page_points_at_the_reference_instead_of_a_table_of_its_own() -> None:
    gateway = (REPO / "docs" / "gateway.md").read_text()
    assert "configuration.md" in gateway
    assert "| section | keys |" not in gateway
