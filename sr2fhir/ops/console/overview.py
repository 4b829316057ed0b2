"""The Overview page's numbers: jobs per state, received and delivered per minute (last
hour, last 24 h) as small charts, delivery latency p50/p95, and counts per calling AE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sr2fhir.ops.console.charts import Series, bar_chart, bucket, line_chart
from sr2fhir.ops.console.layout import table
from sr2fhir.ops.console.markup import Html, h

# the queue's states in the words of the page (a state the queue adds shows by its name)
STATE_WORDS = {
    "READY": "Queued",
    "LOCKED": "In progress",
    "DONE": "Delivered",
    "FAILED": "Failed",
}
DAY_BUCKETS = 144  # ten-minute bars for the 24 h chart


def state_cards(counts: Mapping[str, int], received_1h: int, received_24h: int) -> Html:
    cards = [
        h(
            "div",
            {"class": "card received"},
            h("span", {"class": "n"}, str(received_1h)),
            "received, last hour",
        ),
        h(
            "div",
            {"class": "card received"},
            h("span", {"class": "n"}, str(received_24h)),
            "received, last 24 h",
        ),
    ]
    for state, count in counts.items():
        words = STATE_WORDS.get(state, state.title())
        link = h("a", {"href": f"/console/jobs?state={state}"}, words)
        cards.append(
            h(
                "div",
                {"class": f"card {words.lower().replace(' ', '-')}", "data-state": state},
                h("span", {"class": "n"}, str(count)),
                link,
            )
        )
    return h(
        "section", {"class": "counts"}, h("h2", None, "Jobs"), h("div", {"class": "cards"}, cards)
    )


def traffic_charts(received: Sequence[int], delivered: Sequence[int]) -> Html:
    """`received`/`delivered`: per minute, oldest first (the last 24 h)."""
    hour = [Series("received", received[-60:]), Series("delivered", delivered[-60:])]
    day = [
        Series("received", bucket(received, DAY_BUCKETS)),
        Series("delivered", bucket(delivered, DAY_BUCKETS)),
    ]
    return h(
        "div",
        {"class": "charts"},
        line_chart("Last hour", hour, "per minute", "60 minutes"),
        line_chart("Last 24 hours", day, "per 10 minutes", "24 hours"),
    )


def latency_chart(
    p50_1h: float | None, p95_1h: float | None, p50_24h: float | None, p95_24h: float | None
) -> Html:
    bars = [
        ("p50, 1 h", p50_1h),
        ("p95, 1 h", p95_1h),
        ("p50, 24 h", p50_24h),
        ("p95, 24 h", p95_24h),
    ]
    return bar_chart("Delivery latency (received to delivered)", bars, "s")


def per_ae_table(per_ae: Mapping[str, Mapping[str, int]]) -> Html:
    if not per_ae:
        return h("p", {"class": "muted"}, "No jobs yet.")
    states = sorted({state for counts in per_ae.values() for state in counts})
    rows = [
        h(
            "tr",
            None,
            h("th", {"scope": "row"}, h("a", {"href": f"/console/jobs?ae={ae}"}, ae)),
            [h("td", None, str(counts.get(state, 0))) for state in states],
        )
        for ae, counts in sorted(per_ae.items())
    ]
    return table(["Calling AE", *[STATE_WORDS.get(s, s.title()) for s in states]], rows)
