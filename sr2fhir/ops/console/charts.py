"""Small server-rendered SVG charts: no script, no library; they scale with the page
(viewBox) and name what they show for screen readers (<title>, role="img")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sr2fhir.ops.console.markup import Html, h

WIDTH, HEIGHT, PAD = 600, 120, 4


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: its name (the legend and CSS class suffix) and its points."""

    name: str
    values: Sequence[float]


def bucket(values: Sequence[float], width: int) -> list[float]:
    """`values` summed into at most `width` buckets of equal size (oldest first)."""
    if len(values) <= width:
        return list(values)
    size = -(-len(values) // width)  # ceiling
    return [float(sum(values[i : i + size])) for i in range(0, len(values), size)]


def _points(values: Sequence[float], top: float) -> str:
    count = len(values)
    step = (WIDTH - 2 * PAD) / max(count - 1, 1)
    usable = HEIGHT - 2 * PAD
    return " ".join(
        f"{PAD + i * step:.1f},{HEIGHT - PAD - (v / top) * usable if top else HEIGHT - PAD:.1f}"
        for i, v in enumerate(values)
    )


def line_chart(title: str, series: Sequence[Series], unit: str, span: str) -> Html:
    """A line per series over a shared scale; the largest value and the span are labelled."""
    top = max((max(s.values, default=0) for s in series), default=0)
    lines = [
        h(
            "polyline",
            {"class": f"line line-{index}", "points": _points(s.values, top)},
        )
        for index, s in enumerate(series)
        if s.values
    ]
    label = f"{title}: " + "; ".join(
        f"{s.name} total {sum(s.values):g}" if unit == "per minute" else s.name for s in series
    )
    svg = h(
        "svg",
        {
            "class": "chart",
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "role": "img",
            "aria-label": label,
            "preserveAspectRatio": "none",
        },
        h("title", None, label),
        h(
            "line",
            {"class": "axis", "x1": PAD, "y1": HEIGHT - PAD, "x2": WIDTH - PAD, "y2": HEIGHT - PAD},
        ),
        lines,
    )
    legend = h(
        "ul",
        {"class": "legend"},
        [h("li", {"class": f"key-{i}"}, s.name) for i, s in enumerate(series)],
    )
    scale = h("p", {"class": "scale"}, f"max {top:g} {unit} · {span}")
    return h("figure", {"class": "chart-box"}, h("figcaption", None, title), svg, legend, scale)


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], unit: str) -> Html:
    """Horizontal bars with their values written beside them (None: no data, said so)."""
    row_height = 22
    height = row_height * max(len(bars), 1) + 2 * PAD
    top = max((v for _, v in bars if v is not None), default=0.0)
    label_width, value_width = 120, 90
    usable = WIDTH - label_width - value_width - 2 * PAD
    parts: list[Html] = []
    for index, (name, value) in enumerate(bars):
        y = PAD + index * row_height
        parts.append(h("text", {"x": PAD, "y": y + 15}, name))
        if value is None:
            parts.append(h("text", {"x": label_width, "y": y + 15}, "no deliveries"))
            continue
        width = max(usable * value / top, 1.0) if top else 1.0
        bar: dict[str, str | int | None] = {"class": f"bar-{index % 2}", "x": label_width}
        parts.append(h("rect", {**bar, "y": y + 3, "height": 14, "width": f"{width:.1f}"}))
        parts.append(
            h("text", {"x": f"{label_width + width + 6:.1f}", "y": y + 15}, f"{value:.2f} {unit}")
        )
    label = f"{title}: " + "; ".join(
        f"{name} {'none' if value is None else f'{value:.2f} {unit}'}" for name, value in bars
    )
    svg = h(
        "svg",
        {
            "class": "chart bars",
            "viewBox": f"0 0 {WIDTH} {height}",
            "role": "img",
            "aria-label": label,
        },
        h("title", None, label),
        parts,
    )
    return h("figure", {"class": "chart-box"}, h("figcaption", None, title), svg)
