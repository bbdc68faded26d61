"""Small, deterministic SVG charts, written by hand.

A plotting library was weighed and not used (docs/site.md): matplotlib's SVG embeds a creation
date and per-run ids unless configured, draws text as glyph paths or with its own font handling,
pulls in numpy, and gives 10-40 KB per chart; pygal's charts need JavaScript for their labels.
These charts need a handful of lines, circles and labels, so a builder of ~200 lines gives SVG of
1-3 KB with real text (selectable, read by screen readers), the site's colours, and the same
bytes on every run. Coordinates are rounded to two decimals.

Every chart has ``role="img"``, a ``<title>`` and a ``<desc>``; the page also gives the values
as a table (the text equivalent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from html import escape


def _n(x: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros, never '-0'."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(**attrs: object) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = _n(value) if isinstance(value, float) else str(value)
        parts.append(f'{name}="{escape(shown, quote=True)}"')
    return " ".join(parts)


class Svg:
    """An SVG document built element by element."""

    def __init__(self, width: int, height: int, title: str, desc: str, ident: str | None) -> None:
        """``ident`` names the title and description for ``aria-labelledby``; without it (a
        chart repeated on one page) the accessible name is an ``aria-label``."""
        self.width, self.height = width, height
        self.ident = ident
        self.label = title if desc == title else f"{title}. {desc}"
        if ident is None:
            self.items = [f"<title>{escape(title)}</title>"]
        else:
            self.items = [
                f'<title id="{ident}-t">{escape(title)}</title>',
                f'<desc id="{ident}-d">{escape(desc)}</desc>',
            ]

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str) -> None:
        self.items.append(
            f"<line {_attrs(x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), class_=cls)}/>"
        )

    def rect(self, x: float, y: float, w: float, h: float, cls: str) -> None:
        self.items.append(
            f"<rect {_attrs(x=float(x), y=float(y), width=float(max(w, 0.0)), height=float(h), class_=cls)}/>"
        )

    def circle(self, cx: float, cy: float, r: float, cls: str) -> None:
        self.items.append(f"<circle {_attrs(cx=float(cx), cy=float(cy), r=float(r), class_=cls)}/>")

    def text(
        self, x: float, y: float, content: str, cls: str, anchor: str = "start", rotate: bool = False
    ) -> None:
        transform = f"rotate(-90 {_n(x)} {_n(y)})" if rotate else None
        self.items.append(
            f"<text {_attrs(x=float(x), y=float(y), class_=cls, text_anchor=anchor, transform=transform)}>"
            f"{escape(content)}</text>"
        )

    def render(self, cls: str = "chart") -> str:
        name = (
            f'aria-labelledby="{self.ident}-t {self.ident}-d"'
            if self.ident is not None
            else f'aria-label="{escape(self.label, quote=True)}"'
        )
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" role="img" '
            f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" {name}>'
        )
        return head + "".join(self.items) + "</svg>"


# ---------------------------------------------------------------------------------------------
# before/after: values over time with their dispersion
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    label: str  # the timepoint as reported
    value: Decimal
    value_text: str  # exactly as the resource writes it
    low: Decimal | None = None  # value - dispersion, when a ± is reported
    high: Decimal | None = None


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten)."""
    span = hi - lo if hi > lo else abs(hi) or 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _tick_text(t: float) -> str:
    return f"{t:g}" if abs(t) < 1e6 else f"{t:.3g}"


def over_time(points: list[Point], *, title: str, unit: str, dispersion: str, ident: str) -> str:
    """One panel: the reported values (dots) at each reported timepoint, whiskers for ±."""
    left, right, top, bottom = 62, 40, 14, 58
    width, height = left + right + max(2, len(points)) * 100, 220
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(p.value) for p in points]
    values += [float(p.low) for p in points if p.low is not None]
    values += [float(p.high) for p in points if p.high is not None]
    ticks = nice_ticks(min(0.0, *values), max(values))
    lo, hi = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    desc = "; ".join(
        f"{p.label}: {p.value_text}"
        + (
            f" (whisker {_tick_text(float(p.low))} to {_tick_text(float(p.high))})"
            if p.low is not None and p.high is not None
            else ""
        )
        for p in points
    )
    svg = Svg(width, height, title, f"{desc}. Unit: {unit}. {dispersion}", ident)
    for t in ticks:
        svg.line(left, y(t), left + plot_w, y(t), "grid")
        svg.text(left - 6, y(t) + 4, _tick_text(t), "tick", anchor="end")
    svg.line(left, top, left, top + plot_h, "axis")
    svg.line(left, top + plot_h, left + plot_w, top + plot_h, "axis")
    svg.text(14, top + plot_h / 2, unit, "axis-label", anchor="middle", rotate=True)
    slot = plot_w / len(points)
    for i, p in enumerate(points):
        x = left + slot * (i + 0.5)
        if p.low is not None and p.high is not None:
            svg.line(x, y(float(p.low)), x, y(float(p.high)), "whisker")
            svg.line(x - 6, y(float(p.low)), x + 6, y(float(p.low)), "whisker")
            svg.line(x - 6, y(float(p.high)), x + 6, y(float(p.high)), "whisker")
        svg.circle(x, y(float(p.value)), 4.5, "dot")
        svg.text(x + 8, y(float(p.value)) - 6, p.value_text, "value")
        for j, word in enumerate(_wrap(p.label, max(8, int(slot / 6.2)))[:3]):
            svg.text(x, top + plot_h + 16 + 12 * j, word, "tick", anchor="middle")
    return svg.render()


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# ---------------------------------------------------------------------------------------------
# proportions and certainty
# ---------------------------------------------------------------------------------------------
def proportion_bar(
    *, affected: int | None, total: int | None, low: Decimal | None, high: Decimal | None, label: str
) -> str:
    """A bar of the denominator with the affected part filled, or a 0-100 % scale with the reported
    range marked when no denominator is stated."""
    width, height = 160, 18
    svg = Svg(width, height, label, label, None)
    svg.rect(0.5, 3.5, width - 1, 11, "bar-bg")
    if total:
        svg.rect(0.5, 3.5, (width - 1) * (affected or 0) / total, 11, "bar-fill")
        for k in range(1, total) if total <= 40 else ():
            x = 0.5 + (width - 1) * k / total
            svg.line(x, 3.5, x, 14.5, "bar-tick")
    elif low is not None and high is not None:
        svg.rect(
            0.5 + (width - 1) * float(low) / 100, 3.5, (width - 1) * float(high - low) / 100, 11, "bar-range"
        )
    return svg.render("bar")


CERTAINTY_LEVELS = {"high": 4, "moderate": 3, "low": 2, "very-low": 1}


def certainty_marks(rating: str, label: str) -> str:
    """GRADE-style four circles, as many filled as the rating's level."""
    filled = CERTAINTY_LEVELS.get(rating, 0)
    svg = Svg(64, 16, label, label, None)
    for i in range(4):
        svg.circle(8 + 16 * i, 8, 6, "cert-on" if i < filled else "cert-off")
    return svg.render("certainty")
