"""Small inline SVG pictures for the report: timelines, the co-action subgraph, histograms.

Each function returns one ``<svg>`` element as a string. Every piece of text
that may come from the input (handles, objects) goes through ``_text``, which
escapes it: the input is attacker-controlled and these strings are inserted
into the page as markup. Nothing refers to anything outside the page.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone

SIGNAL_COLOURS = {
    "share": "#d62728",
    "reply": "#9467bd",
    "quote": "#8c564b",
    "url": "#1f77b4",
    "domain": "#aec7e8",
    "hashtag": "#2ca02c",
    "mention": "#98df8a",
    "copy": "#ff7f0e",
    "identity": "#17becf",
    "infrastructure": "#7f7f7f",
}
OTHER_COLOUR = "#bcbd22"
SHARED_COLOUR = "#d62728"
ACTIVITY_COLOUR = "#9aa5b1"
LABEL_CHARS = 22


def _text(value: object, limit: int | None = None) -> str:
    """Escaped text, shortened to ``limit`` characters with an ellipsis."""
    s = str(value)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True)


def signal_colour(signal: str) -> str:
    return SIGNAL_COLOURS.get(signal, OTHER_COLOUR)


def _date(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%d")


def _clock(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class TimelineCell:
    """Events of one member (row) in one time bin (column); ``shared`` of them on the cluster's shared objects."""

    row: int
    column: int
    events: int
    shared: int


def activity_timeline(labels: list[str], cells: list[TimelineCell], *, columns: int, start_s: float, end_s: float) -> str:
    """Members as rows, time as columns: grey where a member was active, red where it acted on a shared object.

    Synchrony shows as red marks stacked in the same column across many rows.
    """
    left, top, row_h, col_w = 170, 8, 14, 3
    width, height = left + columns * col_w + 10, top + len(labels) * row_h + 34
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, label in enumerate(labels):
        y = top + i * row_h
        if i % 2 == 0:
            parts.append(f'<rect x="{left}" y="{y}" width="{columns * col_w}" height="{row_h}" fill="#f4f6f8"/>')
        parts.append(f'<text x="{left - 6}" y="{y + row_h - 3}" text-anchor="end" font-size="10">{_text(label, LABEL_CHARS)}</text>')
    for cell in cells:
        x, y = left + cell.column * col_w, top + cell.row * row_h + 2
        colour = SHARED_COLOUR if cell.shared else ACTIVITY_COLOUR
        opacity = min(1.0, 0.35 + 0.2 * math.log2(1 + (cell.shared or cell.events)))
        title = f"{cell.events} events, {cell.shared} on shared objects"
        parts.append(f'<rect x="{x}" y="{y}" width="{col_w}" height="{row_h - 4}" fill="{colour}" fill-opacity="{opacity:.2f}"><title>{title}</title></rect>')
    axis_y = top + len(labels) * row_h + 14
    parts.append(f'<text x="{left}" y="{axis_y}" font-size="10">{_date(start_s)}</text>')
    parts.append(f'<text x="{left + columns * col_w}" y="{axis_y}" font-size="10" text-anchor="end">{_date(end_s)}</text>')
    parts.append(
        f'<text x="{left}" y="{axis_y + 14}" font-size="10" fill="#555">grey: any activity; red: actions on objects the cluster co-acted on '
        f'(one column = {duration((end_s - start_s) / columns)})</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}{'s' if value >= 2 and unit != 'min' else ''}"
    return f"{seconds:.0f} s"


def object_burst(labels: list[str], times: list[list[float]], *, start_s: float, end_s: float) -> str:
    """One shared object: each member's actions on it, in seconds from the first; a tight column is synchrony."""
    left, top, row_h, inner = 170, 8, 12, 600
    span = max(end_s - start_s, 1.0)
    width, height = left + inner + 20, top + len(labels) * row_h + 34
    parts = [f'<svg class="burst" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for i, (label, row) in enumerate(zip(labels, times)):
        y = top + i * row_h + row_h / 2
        parts.append(f'<text x="{left - 6}" y="{y + 3}" text-anchor="end" font-size="10">{_text(label, LABEL_CHARS)}</text>')
        parts.append(f'<line x1="{left}" x2="{left + inner}" y1="{y}" y2="{y}" stroke="#e3e7eb"/>')
        for t in row:
            x = left + inner * (t - start_s) / span
            parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="3.5" fill="{SHARED_COLOUR}"><title>{_clock(t)}</title></circle>')
    axis_y = top + len(labels) * row_h + 14
    parts.append(f'<text x="{left}" y="{axis_y}" font-size="10">{_clock(start_s)}</text>')
    parts.append(f'<text x="{left + inner}" y="{axis_y}" font-size="10" text-anchor="end">{_clock(end_s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class GraphEdge:
    a: int
    b: int
    weight: float
    signal: str


def subgraph(labels: list[str], positions: list[tuple[float, float]], edges: list[GraphEdge], *, size: int = 420) -> str:
    """Nodes at ``positions`` (each in [-1, 1]²), edges coloured by their strongest signal, width by weight."""
    pad = 14
    scale = (size - 2 * pad) / 2
    xy = [(pad + (x + 1) * scale, pad + (y + 1) * scale) for x, y in positions]
    top = max((e.weight for e in edges), default=1.0) or 1.0
    parts = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img">']
    parts.append(f'<rect width="{size}" height="{size}" fill="#fbfcfd"/>')
    for e in edges:
        (x1, y1), (x2, y2) = xy[e.a], xy[e.b]
        w = 0.6 + 2.4 * e.weight / top
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{signal_colour(e.signal)}" '
            f'stroke-opacity="0.55" stroke-width="{w:.2f}"/>'
        )
    for label, (x, y) in zip(labels, xy):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#2f3e4e" stroke="#fff" stroke-width="1"><title>{_text(label)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(counts: list[int], *, start_s: float, bin_s: float, caption: str) -> str:
    """Bars of ``counts`` per bin from ``start_s``; a tall narrow bar is a batch of accounts created together."""
    left, top, inner_w, inner_h = 36, 8, 600, 90
    width, height = left + inner_w + 12, top + inner_h + 36
    peak = max(counts, default=0) or 1
    bar_w = inner_w / max(len(counts), 1)
    parts = [f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    parts.append(f'<line x1="{left}" x2="{left + inner_w}" y1="{top + inner_h}" y2="{top + inner_h}" stroke="#888"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak}</text>')
    for i, count in enumerate(counts):
        if not count:
            continue
        h = inner_h * count / peak
        x = left + i * bar_w
        day = _date(start_s + i * bin_s)
        parts.append(
            f'<rect x="{x:.1f}" y="{top + inner_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="#1f77b4">'
            f"<title>{count} created from {day} ({duration(bin_s)})</title></rect>"
        )
    axis_y = top + inner_h + 14
    parts.append(f'<text x="{left}" y="{axis_y}" font-size="10">{_date(start_s)}</text>')
    parts.append(f'<text x="{left + inner_w}" y="{axis_y}" font-size="10" text-anchor="end">{_date(start_s + len(counts) * bin_s)}</text>')
    parts.append(f'<text x="{left}" y="{axis_y + 14}" font-size="10" fill="#555">{_text(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)
