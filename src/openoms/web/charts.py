"""Server-drawn SVG charts: no JavaScript library, readable without JS, printable."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Distinguishable for common colour-vision deficiencies (after Okabe & Ito), dark enough for
# white gaps between stacked segments.
PALETTE = ("#1d5fc4", "#d97706", "#16794a", "#b42318", "#6b3fb3", "#0b7f8a", "#8a6d00", "#4b5563")


@dataclass(frozen=True)
class Segment:
    series: str
    value: int
    y: float
    height: float
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    title: str
    href: str | None
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class StackedBars:
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    plot_left: float
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value)
    legend: tuple[tuple[str, str], ...]  # (series, colour)


def nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * exp >= value:
            return int(m * exp)
    return int(10 * exp)


def stacked_bars(
    columns: Sequence[tuple[str, str, str | None, Mapping[str, int]]],
    series: Sequence[str],
    *,
    width: int = 760,
    height: int = 240,
) -> StackedBars:
    """Lay out one bar per column, stacked by series. ``columns`` are
    (axis label, tooltip title, link or None, {series: value})."""
    left, right, top, bottom = 36.0, 8.0, 10.0, 26.0
    plot_h = height - top - bottom
    plot_w = width - left - right
    top_value = nice_max(max((sum(c[3].values()) for c in columns), default=0))
    slot = plot_w / max(len(columns), 1)
    bar_w = slot * 0.62
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    bars = []
    for i, (label, title, href, values) in enumerate(columns):
        y = top + plot_h
        segments = []
        for s in series:
            v = int(values.get(s, 0))
            if v <= 0:
                continue
            h = plot_h * v / top_value
            y -= h
            segments.append(Segment(s, v, round(y, 2), round(h, 2), colours[s]))
        bars.append(
            Bar(
                label,
                title,
                href,
                round(left + i * slot + (slot - bar_w) / 2, 2),
                round(bar_w, 2),
                sum(values.values()),
                tuple(segments),
            )
        )
    ticks = tuple((round(top + plot_h - plot_h * f, 2), round(top_value * f)) for f in (0, 0.5, 1))
    return StackedBars(width, height, top, top + plot_h, left, tuple(bars), ticks, tuple(colours.items()))
