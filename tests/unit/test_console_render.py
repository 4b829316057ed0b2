"""The console's pure renderers: charts, the report outline, OperationOutcome lists."""

from __future__ import annotations

import re

from sr2fhir.mapping import convert_dataset
from sr2fhir.ops.console.charts import Series, bar_chart, bucket, line_chart
from sr2fhir.ops.console.outcome import outcome_list
from sr2fhir.ops.console.outline import outline
from tests.support.sr.reports import planar_report


def test_a_day_of_minutes_is_summed_into_ten_minute_buckets() -> None:
    minutes = [1] * 1440
    assert bucket(minutes, 144) == [10.0] * 144
    assert bucket([1, 2, 3], 144) == [1, 2, 3]


def test_a_line_chart_names_its_totals_for_screen_readers_and_scales_to_the_largest() -> None:
    svg = line_chart(
        "Last hour",
        [Series("received", [0, 2, 4]), Series("delivered", [0, 1, 1])],
        "per minute",
        "60 minutes",
    )
    assert 'aria-label="Last hour: received total 6; delivered total 2"' in svg
    assert "max 4 per minute" in svg
    points = re.findall(r'points="([^"]+)"', svg)[0].split()
    assert points[-1].endswith(",4.0")  # the largest value touches the top padding


def test_latency_bars_say_when_there_is_no_data() -> None:
    svg = bar_chart("Delivery latency", [("p50, 1 h", 0.25), ("p95, 1 h", None)], "s")
    assert "0.25 s" in svg and "no deliveries" in svg


def test_the_outline_lists_each_group_with_its_measurements() -> None:
    html = outline(convert_dataset(planar_report()))
    assert "2 measurement group(s)" in html
    group_one = html.split("Group 1: ", 1)[1].split("Group 2: ", 1)[0]
    assert "<strong>Length</strong>: 21.4 mm" in group_one
    assert "Outside a group" not in html


def test_an_outcome_is_a_list_of_issues_and_other_answers_are_shown_as_they_are() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "details": {"text": "bad <status>"},
                "expression": ["Observation.status"],
            },
            {"severity": "warning", "code": "informational"},
        ],
    }
    html = outcome_list(outcome)
    assert html.count("<li") == 2
    assert "ERROR</strong> [invalid] bad &lt;status&gt;" in html
    assert "at Observation.status" in html
    assert "The server sent no OperationOutcome." in outcome_list(None)
    assert "<pre" in outcome_list({"resourceType": "Bundle"})
