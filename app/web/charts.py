"""Small server-rendered SVG charts for the finance dashboard: grouped bars per day, or lines per day.

No JavaScript and no CDN: the page carries the picture itself. Every text that goes into the SVG (titles,
series names, day labels) is escaped here, so an organisation's name cannot inject markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 34
MAX_DAY_LABELS = 8


@dataclass(frozen=True)
class Series:
    name: str
    color: str  # a CSS colour from this module's callers, never user input
    values: Sequence[int]


def _nice_top(peak: int) -> int:
    """A round top for the value axis (1, 2, 5 × 10^n) at or above the peak."""
    if peak <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= peak:
                return factor * step
        step *= 10


def chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str = "bar",
    value_text: Callable[[int], str] = str,
    chart_id: str | None = None,
) -> Markup:
    """An SVG chart: one group of bars (kind="bar") or one point per line (kind="line") per label."""
    if kind not in ("bar", "line"):
        raise ValueError(f"kind must be 'bar' or 'line', not {kind!r}")
    count = len(labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top(max((v for s in series for v in s.values), default=0))
    slot = plot_w / max(count, 1)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        + (f' id="{escape(chart_id)}"' if chart_id else "")
        + f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):  # value axis: zero, half, top
        value = round(top * fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="chart-grid"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" class="chart-axis">'
            f"{escape(value_text(value))}</text>"
        )
    every = max(1, -(-count // MAX_DAY_LABELS))  # ceil: at most MAX_DAY_LABELS labels under the axis
    for index, label in enumerate(labels):
        if index % every == 0 or index == count - 1:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="chart-axis">'
                f"{escape(label)}</text>"
            )
    if kind == "bar":
        width = max(slot * 0.8 / max(len(series), 1), 0.5)
        for offset, s in enumerate(series):
            for index, value in enumerate(s.values):
                if value <= 0:
                    continue
                x = LEFT + slot * index + slot * 0.1 + width * offset
                parts.append(
                    f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{width:.1f}" height="{TOP + plot_h - y(value):.1f}"'
                    f' fill="{escape(s.color)}" data-series="{escape(s.name)}" data-value="{value}">'
                    f"<title>{escape(labels[index])} {escape(s.name)}: {escape(value_text(value))}</title></rect>"
                )
    else:
        for s in series:
            points = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{escape(s.color)}" stroke-width="2"'
                f' data-series="{escape(s.name)}"/>'
            )
    legend_x = WIDTH - RIGHT
    for s in reversed(series):  # legend top right, right-aligned
        legend_x -= 14 + sum(13 if ord(c) > 127 else 7 for c in s.name) + 12
        parts.append(
            f'<rect x="{legend_x}" y="7" width="10" height="10" fill="{escape(s.color)}"/>'
            f'<text x="{legend_x + 14}" y="16" class="chart-legend">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
