"""A source document's text cut into segments for highlighting quoted passages and boxed values."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from evidence_publisher.site.pages import QuoteGroup


@dataclass
class Segment:
    text: str
    marked: bool  # inside at least one quote
    number: str | None = None  # anchor id of the number span this segment starts (opens a <span>)
    closes_number: bool = False  # this segment ends the number span
    anchors: list[str] = field(default_factory=list)  # quote anchors that start here
    refs: list[tuple[str, int]] = field(default_factory=list)  # footnote links after this segment


def choose_boxes(quotes: Iterable[dict]) -> list[tuple[int, int]]:
    """The value spans to box in a document, shortest first, none overlapping another (so a
    number inside a longer quoted title keeps its own box)."""
    spans = {(s, e) for q in quotes for v in q.get("values", []) for s, e in v.get("spans", [])}
    kept: list[tuple[int, int]] = []
    for s, e in sorted(spans, key=lambda span: (span[1] - span[0], span)):
        if all(e <= ks or s >= ke for ks, ke in kept):
            kept.append((s, e))
    return sorted(kept)


def highlight(
    text: str, numbers: list[tuple[int, int]], groups: dict[tuple[int, int], QuoteGroup]
) -> list[Segment]:
    """Cut ``text`` at every quote and boxed-value boundary (``numbers`` do not overlap)."""
    cuts = {0, len(text)}
    for s, e in list(groups) + numbers:
        cuts.update((s, e))
    points = sorted(c for c in cuts if 0 <= c <= len(text))
    starts = {s: e for s, e in numbers}
    ends = {e for _s, e in numbers}
    quote_starts: dict[int, list[str]] = {}
    quote_ends: dict[int, list[tuple[str, int]]] = {}
    for (s, e), g in groups.items():
        quote_starts.setdefault(s, []).append(g.anchor)
        quote_ends.setdefault(e, []).append((f"u-{s}-{e}", g.number))
    segments = []
    for a, b in itertools.pairwise(points):
        marked = any(s <= a and b <= e for s, e in groups)
        seg = Segment(text[a:b], marked)
        if a in starts:
            seg.number = f"n-{a}-{starts[a]}"
        seg.closes_number = b in ends
        seg.anchors = quote_starts.get(a, [])
        seg.refs = quote_ends.get(b, [])
        segments.append(seg)
    return segments
