"""Plots for the Agreement page, drawn on the server as inline SVG (no
script, no CDN), and the number formats the page and the plots share.

Every function is pure and returns markup that is safe to insert: each
piece is built with ``format_html``, which escapes its arguments, and pieces
are joined with ``format_html_join``, which keeps them safe without ever
marking text safe by hand. Labels and names are user content.

A plot stays readable without colour: a hollow point means a small n, a
down-pointing triangle a value below the axis, the word "undefined" an
undefined figure, and the two reference lines differ in dash and are
labelled in text. Only presentation attributes are used (the CSP refuses
inline styles); agreement.css adds the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

MINUS = "\u2212"
UNDEFINED = "undefined"

# Krippendorff (2004, p. 241): the two thresholds the plots draw.
RELIABLE = 0.800
TENTATIVE = 0.667

# Geometry, in SVG user units (CSS pixels at 1:1).
LEFT = 48  # the y axis and its tick labels
RIGHT = 118  # the reference lines' labels
TOP = 16
PLOT_H = 200
BOTTOM = 56  # x labels, n, the small-n flag
STEP = 84  # horizontal room per point
LABEL_CHARS = 12
SUMMARY_POINTS = 12  # an aria-label lists at most this many points
EMPTY = SafeString()


# --- number formats ----------------------------------------------------------


def number(value: float | None, digits: int = 2) -> str:
    """A figure as text: "undefined" for None (never 0), a true minus sign."""
    if value is None:
        return UNDEFINED
    text = f"{value:.{digits}f}"
    # "-0.00" would suggest a negative figure that rounds to nothing.
    if text.startswith("-"):
        text = MINUS + text[1:] if float(text) != 0 else text[1:]
    return text


def percent(value: float | None) -> str:
    return UNDEFINED if value is None else f"{100 * value:.0f}%"


def shade(value: float | None) -> str:
    """The heat-map class of a coefficient: a band of 0.2, a class of its
    own for undefined and for below-zero values. The cell also carries the
    value as text, so the shade is never the only signal."""
    if value is None:
        return "heat--none"
    if value < 0:
        return "heat--neg"
    return f"heat--{min(4, int(value * 5))}"


# --- the trend plot ----------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One x position of a trend plot: a week or a guideline version."""

    label: str
    value: float | None
    n: int
    low: float | None = None
    high: float | None = None
    small: bool = False
    reason: str = ""

    @property
    def value_text(self) -> str:
        return number(self.value)

    @property
    def interval_text(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"{number(self.low)} to {number(self.high)}"

    @property
    def below_axis(self) -> bool:
        return self.value is not None and self.value < 0


def _join(parts: Iterable[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _y(value: float) -> float:
    """The vertical position of a value, clipped to the 0..1 axis."""
    return round(TOP + (1 - min(1.0, max(0.0, value))) * PLOT_H, 1)


def _x(index: int) -> float:
    return LEFT + STEP * index + STEP / 2


def _width(count: int) -> int:
    return LEFT + STEP * max(count, 1) + RIGHT


def _axes(count: int) -> SafeString:
    right = LEFT + STEP * max(count, 1)
    ticks = []
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = _y(tick)
        ticks.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d7de" stroke-width="1"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#57606a">{}</text>',
                LEFT,
                y,
                right,
                y,
                LEFT - 6,
                y + 4,
                f"{tick:.1f}",
            )  # fmt: skip
        )
    axes = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1b1f24" stroke-width="1"/>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1b1f24" stroke-width="1"/>',
        LEFT, TOP, LEFT, _y(0), LEFT, _y(0), right, _y(0),
    )  # fmt: skip
    return _join([*ticks, axes])


def _references(count: int) -> SafeString:
    """The two thresholds: dashed (reliable) and dotted (tentative), each
    named in text at its right end."""
    right = LEFT + STEP * max(count, 1)
    lines = (
        (RELIABLE, "6 3", "#1a7f37", "reliable ≥ .800"),
        (TENTATIVE, "2 3", "#7a4d00", "tentative ≥ .667"),
    )
    return _join(
        format_html(
            '<line class="chart__ref" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" '
            'stroke-width="1.5" stroke-dasharray="{}"/>'
            '<text x="{}" y="{}" font-size="11" fill="{}">{}</text>',
            LEFT,
            _y(value),
            right,
            _y(value),
            colour,
            dash,
            right + 6,
            _y(value) + 4,
            colour,
            text,
        )  # fmt: skip
        for value, dash, colour, text in lines
    )


def _whisker(x: float, point: Point) -> SafeString:
    """The interval as a vertical line; a cap only where the interval ends
    inside the axis (an end clipped at 0 has none)."""
    if point.low is None or point.high is None:
        return EMPTY
    top, bottom = _y(point.high), _y(point.low)
    caps = [
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1b1f24" stroke-width="1.5"/>',
            x - 5,
            y,
            x + 5,
            y,
        )  # fmt: skip
        for y, inside in ((top, point.high <= 1), (bottom, point.low >= 0))
        if inside
    ]
    line = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1b1f24" stroke-width="1.5"/>',
        x, top, x, bottom,
    )  # fmt: skip
    return _join([line, *caps])


def _marker(x: float, point: Point) -> SafeString:
    """A filled circle; hollow for a small n; a triangle pointing down, at
    the axis, for a value below 0; the word "undefined" for no value."""
    if point.value is None:
        return format_html(
            '<text x="{}" y="{}" text-anchor="middle" font-size="11" font-style="italic" '
            'fill="#57606a">{}</text>',
            x, _y(0) - 8, UNDEFINED,
        )  # fmt: skip
    y = _y(point.value)
    text_x = x + 9
    if point.below_axis:
        shape = format_html(
            '<path class="chart__below" d="M {} {} L {} {} L {} {} Z" fill="#b42318"/>',
            x - 6, y - 10, x + 6, y - 10, x, y,
        )  # fmt: skip
        label = format_html(
            '<text x="{}" y="{}" font-size="11" fill="#1b1f24">{}</text>'
            '<text x="{}" y="{}" font-size="10" fill="#57606a">below 0</text>',
            text_x, y - 12, point.value_text, text_x, y - 1,
        )  # fmt: skip
        return _join([shape, label])
    fill = "#ffffff" if point.small else "#1b1f24"
    return format_html(
        '<circle cx="{}" cy="{}" r="4.5" fill="{}" stroke="#1b1f24" stroke-width="1.5"/>'
        '<text x="{}" y="{}" font-size="11" font-weight="600" fill="#1b1f24">{}</text>',
        x, y, fill, text_x, y + 4, point.value_text,
    )  # fmt: skip


def _x_label(x: float, point: Point) -> SafeString:
    base = _y(0)
    small = (
        format_html(
            '<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="#57606a">small n</text>',
            x,
            base + 44,
        )  # fmt: skip
        if point.small and point.value is not None
        else EMPTY
    )
    return format_html(
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#1b1f24">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="#57606a">n={}</text>{}',
        x, base + 16, Truncator(point.label).chars(LABEL_CHARS), x, base + 30, point.n, small,
    )  # fmt: skip


def _connector(points: Sequence[Point]) -> SafeString:
    """A thin line through consecutive defined points (weeks follow each
    other; versions do not, so their plot has none)."""
    coords = [f"{_x(i)},{_y(p.value)}" for i, p in enumerate(points) if p.value is not None]
    if len(coords) < 2:
        return EMPTY
    return format_html(
        '<polyline points="{}" fill="none" stroke="#8c959f" stroke-width="1"/>', " ".join(coords)
    )


def summary(title: str, points: Sequence[Point]) -> str:
    """What a screen reader hears for the plot: the title and each point."""
    if not points:
        return f"{title}: no data."
    shown = [f"{p.label} {p.value_text} (n={p.n})" for p in points[:SUMMARY_POINTS]]
    more = len(points) - SUMMARY_POINTS
    tail = f", and {more} more in the table below" if more > 0 else ""
    return f"{title}: " + "; ".join(shown) + tail + "."


def trend_plot(
    points: Sequence[Point], *, title: str, y_label: str = "α", connect: bool = False
) -> SafeString:
    """Points with interval whiskers over a 0..1 axis, the .667 and .800
    reference lines, the value beside each point and x labels with n."""
    count = len(points)
    width, height = _width(count), TOP + PLOT_H + BOTTOM
    body = [_axes(count), _references(count)]
    if connect:
        body.append(_connector(points))
    for i, point in enumerate(points):
        x = _x(i)
        body += [_whisker(x, point), _marker(x, point), _x_label(x, point)]
    if not points:
        body.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#57606a">{}</text>',
                LEFT + STEP / 2,
                _y(0.5),
                "No data yet",
            )  # fmt: skip
        )
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" '
        'width="{}" height="{}" viewBox="0 0 {} {}" font-family="system-ui, sans-serif">'
        "<title>{}</title>"
        '<text x="{}" y="{}" text-anchor="middle" font-size="13" fill="#1b1f24">{}</text>'
        "{}</svg>",
        summary(title, points), width, height, width, height, title,
        10, _y(0.5) + 4, y_label, _join(body),
    )  # fmt: skip
