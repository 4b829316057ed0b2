"""The named cases: ``ALL_GOOD`` (every report the mapping tests convert, named as its
golden Bundle in tests/data/golden/), ``GOOD_CASES`` / ``BAD_CASES`` (what ``write_all``
writes for peers and by hand), and the byte-for-byte self check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydicom import Dataset

from tests.support.sr.bad_inputs import (
    basic_text_sr_bytes,
    ct_image_bytes,
    empty_bytes,
    malformed_tree_bytes,
    no_tid1500_structure_sr,
    non_tid1500_sr_bytes,
    not_dicom_bytes,
    truncated_sr_bytes,
)
from tests.support.sr.benchmark import benchmark_report
from tests.support.sr.containers import derived_report, qualitative_container_report
from tests.support.sr.documents import as_sop_class
from tests.support.sr.identity import make_uid
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import (
    finding_site_without_modifiers_report,
    large_report,
    no_observation_uid_report,
    no_template_id_report,
    partial_report,
    participant_report,
    planar_report,
    preliminary_report,
    qualifier_report,
    srt_codes_report,
    tracking_without_finding_site_report,
    units_report,
)
from tests.support.sr.volumetric import scoord3d_report, volumetric_report

ALL_GOOD: dict[str, Callable[[], Dataset]] = {
    "planar": planar_report,
    "volumetric": volumetric_report,
    "qualitative-root": lambda: qualitative_container_report("root"),
    "qualitative-inside": lambda: qualitative_container_report("inside"),
    "derived-root": lambda: derived_report("root"),
    "derived-inside": lambda: derived_report("inside"),
    "no-observation-uid": no_observation_uid_report,
    "qualifier": qualifier_report,
    "srt-codes": srt_codes_report,
    "site-without-modifiers": finding_site_without_modifiers_report,
    "tracking-without-site": tracking_without_finding_site_report,
    "preliminary": preliminary_report,
    "partial": partial_report,
    "participant": participant_report,
    "no-template-id": no_template_id_report,
    "units": units_report,
    "scoord3d": scoord3d_report,
}
"""Every good report the mapping tests convert; the name is its golden Bundle's
(tests/data/golden/<name>.json)."""

WITH_WARNINGS = frozenset({"units"})
"""The ``ALL_GOOD`` reports that convert with warnings (what they leave out is what they test)."""

GOOD_CASES: dict[str, Callable[[], Dataset]] = {
    "planar": planar_report,
    "volumetric": volumetric_report,
    "qualitative_root": lambda: qualitative_container_report("root"),
    "qualitative_inside": lambda: qualitative_container_report("inside"),
    "derived_root": lambda: derived_report("root"),
    "derived_inside": lambda: derived_report("inside"),
    "no_observation_uid": no_observation_uid_report,
    "qualifier": qualifier_report,
    "srt_codes": srt_codes_report,
    "finding_site_without_modifiers": finding_site_without_modifiers_report,
    "tracking_without_finding_site": tracking_without_finding_site_report,
    "preliminary": preliminary_report,
    "partial": partial_report,
    "large": large_report,
    "participant": participant_report,
    "no_template_id": no_template_id_report,
    "benchmark_00001": lambda: benchmark_report(1),
    "planar_enhanced": lambda: _variant(planar_report(), "enhanced", "planar_enhanced"),
    "planar_comprehensive3d": lambda: _variant(
        planar_report(), "comprehensive3d", "planar_comprehensive3d"
    ),
    "planar_extensible": lambda: _variant(planar_report(), "extensible", "planar_extensible"),
    "volumetric_extensible": lambda: _variant(
        volumetric_report(), "extensible", "volumetric_extensible"
    ),
}
"""What ``write_all`` writes as ``<name>.dcm``: the reports and their SOP class variants."""

BAD_CASES: dict[str, Callable[[], bytes]] = {
    "not_dicom": not_dicom_bytes,
    "empty": empty_bytes,
    "truncated_sr": truncated_sr_bytes,
    "ct_image": ct_image_bytes,
    "non_tid1500_sr": non_tid1500_sr_bytes,
    "basic_text_sr": basic_text_sr_bytes,
    "malformed_tree": malformed_tree_bytes,
    "no_tid1500_structure": lambda: to_bytes(no_tid1500_structure_sr()),
}
"""What ``write_all`` writes as ``<name>.bad``: inputs to refuse or quarantine."""


def _variant(ds: Dataset, kind: str, name: str) -> Dataset:
    return as_sop_class(ds, kind, sop_instance_uid=make_uid(name, "instance"))


def write_all(folder: str | Path) -> dict[str, Path]:
    """Write every good case as ``<name>.dcm`` and every bad one as ``<name>.bad``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, build in GOOD_CASES.items():
        written[name] = out / f"{name}.dcm"
        build().save_as(written[name], enforce_file_format=True)
    for name, build_bytes in BAD_CASES.items():
        written[name] = out / f"{name}.bad"
        written[name].write_bytes(build_bytes())
    return written


def selfcheck() -> list[str]:
    """Build every case twice; return the names whose bytes differ."""
    differ = []
    for name, build in GOOD_CASES.items():
        if to_bytes(build()) != to_bytes(build()):
            differ.append(name)
    for name, build_bytes in BAD_CASES.items():
        if build_bytes() != build_bytes():
            differ.append(name)
    return differ
