"""Small server-side SVG charts for the dashboards: bars and lines with a title, a
description and an optional reference line (a cap), and an HTML legend that wraps on small
screens. No scripts and no inline styles, so they render under the app's CSP; every chart on
a page also has a table with the same numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Calm colours that keep 3:1 against white (WCAG 1.4.11 for graphical objects), told apart
# by lightness and by line style, not by hue alone.
TEAL = "#2f5d62"
OCHRE = "#c08a3e"
PLUM = "#6d5a8c"
RUST = "#9b3d12"
GRID = "#e4e1d8"
INK = "#444444"

# Class names for the HTML legend's colour keys (static/app.css).
KEY_CLASS = {TEAL: "teal", OCHRE: "ochre", PLUM: "plum", RUST: "rust"}

WIDTH = 720
HEIGHT = 250
# Room for tick labels and the unit at the larger text size used on small screens.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 68, 16, 46, 38


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str = TEAL
    dashed: bool = False


@dataclass(frozen=True)
class Reference:
    """A horizontal line across the chart, such as a cap."""

    value: float
    label: str
    colour: str = RUST


@dataclass(frozen=True)
class Chart:
    svg: Markup
    legend: Markup


def nice_scale(largest: float, intervals: int = 4) -> tuple[float, float]:
    """The top of the axis and the step between gridlines: round numbers covering `largest`."""
    if not math.isfinite(largest) or largest <= 0:
        return float(intervals), 1.0
    rough = largest / intervals
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude * intervals >= largest)
    return step * math.ceil(largest / step - 1e-9), step


def number(value: float) -> str:
    """A tick or value label: whole numbers without a decimal point, others to one decimal."""
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


class _Canvas:
    def __init__(self, chart_id: str, title: str, desc: str) -> None:
        self.id = chart_id
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
            f'font-family="system-ui, sans-serif" font-size="12" fill="{INK}">',
            f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
            f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
        ]

    def add(self, text: str) -> None:
        self.parts.append(text)

    def markup(self) -> Markup:
        return Markup("".join([*self.parts, "</svg>"]))  # noqa: S704 (every value escaped)


class _Plot:
    """Coordinates of the plotting area for a y axis from 0 to `top`."""

    def __init__(self, top: float) -> None:
        self.top = top
        self.left = PAD_LEFT
        self.right = WIDTH - PAD_RIGHT
        self.y0 = HEIGHT - PAD_BOTTOM
        self.height = HEIGHT - PAD_TOP - PAD_BOTTOM

    @property
    def width(self) -> float:
        return self.right - self.left

    def y(self, value: float) -> float:
        return self.y0 - self.height * max(0.0, value) / self.top


def _axes(canvas: _Canvas, plot: _Plot, step: float, unit: str) -> None:
    for k in range(round(plot.top / step) + 1):
        tick = k * step
        y = plot.y(tick)
        canvas.add(
            f'<line x1="{plot.left}" x2="{plot.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        canvas.add(
            f'<text x="{plot.left - 6}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="central">{number(tick)}</text>'
        )
    canvas.add(f'<text class="unit" x="4" y="22" font-weight="600">{escape(unit)}</text>')


def _x_labels(
    canvas: _Canvas, plot: _Plot, centres: Sequence[float], labels: Sequence[str], every: int
) -> None:
    for i, (x, label) in enumerate(zip(centres, labels, strict=True)):
        if i % every == 0:
            # Small screens draw text larger and show only every other label ("minor").
            minor = ' class="minor"' if i % (2 * every) else ""
            canvas.add(
                f'<text{minor} x="{x:.1f}" y="{plot.y0 + 7}" text-anchor="middle" '
                f'dominant-baseline="hanging">{escape(label)}</text>'
            )


def legend(series: Sequence[Series], reference: Reference | None, *, lines: bool = False) -> Markup:
    """The chart's key as an HTML list (it wraps on narrow screens; the SVG does not)."""
    items = []
    for s in series:
        shape = "line dashed" if s.dashed else "line" if lines else "box"
        items.append(
            f'<li><span class="key {shape} {KEY_CLASS.get(s.colour, "teal")}" '
            f'aria-hidden="true"></span>{escape(s.name)}</li>'
        )
    if reference is not None:
        items.append(
            f'<li><span class="key line dashed {KEY_CLASS.get(reference.colour, "rust")}" '
            f'aria-hidden="true"></span>{escape(reference.label)}</li>'
        )
    return Markup('<ul class="legend">' + "".join(items) + "</ul>")  # noqa: S704 (escaped)


def _reference(canvas: _Canvas, plot: _Plot, reference: Reference | None) -> None:
    if reference is None:
        return
    y = plot.y(reference.value)
    canvas.add(
        f'<line class="reference" x1="{plot.left}" x2="{plot.right}" y1="{y:.1f}" '
        f'y2="{y:.1f}" stroke="{reference.colour}" stroke-width="2" stroke-dasharray="6 4"/>'
    )


def _largest(series: Sequence[Series], reference: Reference | None) -> float:
    values = [v for s in series for v in s.values]
    if reference is not None:
        values.append(reference.value)
    return max(values, default=0.0)


def bar_chart(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str,
    reference: Reference | None = None,
    label_every: int = 1,
) -> Chart:
    """Grouped vertical bars, one group per label, one bar per series."""
    top, step = nice_scale(_largest(series, reference))
    plot = _Plot(top)
    canvas = _Canvas(chart_id, title, desc)
    _axes(canvas, plot, step, unit)
    band = plot.width / max(1, len(labels))
    bar = band * 0.8 / max(1, len(series))
    for i, label in enumerate(labels):
        for j, s in enumerate(series):
            value = s.values[i]
            height = plot.y0 - plot.y(value)
            if value > 0:
                height = max(height, 1.5)  # a little exposure is still visible
            x = plot.left + i * band + band * 0.1 + j * bar
            canvas.add(
                f'<rect x="{x + 0.5:.1f}" y="{plot.y0 - height:.1f}" width="{bar - 1:.1f}" '
                f'height="{height:.1f}" fill="{s.colour}"><title>{escape(label)}: '
                f"{escape(s.name)} {number(value)}</title></rect>"
            )
    centres = [plot.left + (i + 0.5) * band for i in range(len(labels))]
    _x_labels(canvas, plot, centres, labels, label_every)
    _reference(canvas, plot, reference)
    return Chart(canvas.markup(), legend(series, reference))


def line_chart(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str,
    reference: Reference | None = None,
) -> Chart:
    """Lines over evenly spaced points, with a marker and its value at each point."""
    top, step = nice_scale(_largest(series, reference))
    plot = _Plot(top)
    canvas = _Canvas(chart_id, title, desc)
    _axes(canvas, plot, step, unit)
    band = plot.width / max(1, len(labels))
    centres = [plot.left + (i + 0.5) * band for i in range(len(labels))]
    _reference(canvas, plot, reference)
    for s in series:
        points = " ".join(
            f"{x:.1f},{plot.y(v):.1f}" for x, v in zip(centres, s.values, strict=True)
        )
        dash = ' stroke-dasharray="7 4"' if s.dashed else ""
        canvas.add(
            f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2.5"'
            f"{dash}/>"
        )
        for x, v, label in zip(centres, s.values, labels, strict=True):
            tip = f"<title>{escape(label)}: {escape(s.name)} {number(v)}</title>"
            if s.dashed:
                canvas.add(
                    f'<rect x="{x - 4:.1f}" y="{plot.y(v) - 4:.1f}" width="8" height="8" '
                    f'fill="{s.colour}">{tip}</rect>'
                )
            else:
                canvas.add(
                    f'<circle cx="{x:.1f}" cy="{plot.y(v):.1f}" r="4.5" fill="{s.colour}">'
                    f"{tip}</circle>"
                )
    _x_labels(canvas, plot, centres, labels, 1)
    return Chart(canvas.markup(), legend(series, reference, lines=True))
