"""What the report sections share: safe markup, a time axis, fault bands, colours, words.

Markup is built with `markupsafe` (jinja2's own escaping): `tag("rect", {"x": 1}, title)`
escapes every attribute value and every child that is not already `Markup`, and
`Markup("<b>{}</b>").format(value)` escapes `value`. So a value from the run (a key, an
element, a node name, a fault label) cannot open a tag whichever way it reaches the page.

SVG is written as well-formed XML (every attribute quoted, every element closed), so a test
can parse it with `xml.etree`; elements carry `class` and `data-*` attributes naming what
they draw (`class="op ok" data-index="12"`), for tests and for the page's own scripts.

Times are the history's: ns since the run started. A history imported without times (a
Porcupine etcd log, where `time` is the position) is drawn against positions: `TimeAxis`'s
`unit` is then `"position"` and its labels read `#12`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from checker.sections import FaultWindow

COLOURS = {"ok": "#3a9d5d", "fail": "#d9534f", "info": "#f0ad4e", "open": "#9e9e9e"}
FAULT_FILL = "#e8a33d"
FAULT_OPACITY = "0.16"
LOST_COLOUR = "#c9302c"
PREFIX_COLOUR = "#2a6fdb"
TEXT_CHARS = 120  # characters of one value shown in words or a tooltip

STYLE = Markup(
    "<style>"
    ".cv{font:13px/1.45 system-ui,sans-serif;color:#222}"
    ".cv svg{display:block;max-width:100%;height:auto;margin:6px 0}"
    ".cv svg text{font:11px system-ui,sans-serif}"
    ".cv svg .lane-label{font-weight:600}"
    ".cv svg .fault-label{fill:#8a5a12}"
    ".cv table{border-collapse:collapse;margin:6px 0}"
    ".cv th,.cv td{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
    ".cv th{background:#f4f4f4}"
    ".cv .story{background:#fff4f4;border-left:4px solid #d9534f;padding:6px 10px;"
    "max-width:70em}"
    ".cv .ok-note{background:#f2faf4;border-left:4px solid #3a9d5d;padding:6px 10px}"
    ".cv .note{color:#666;font-size:12px}"
    ".cv .legend span{display:inline-block;margin-right:14px}"
    ".cv .swatch{display:inline-block;width:12px;height:10px;margin-right:4px;"
    "vertical-align:middle}"
    ".cv code{background:#f4f4f4;padding:0 3px}"
    "</style>"
)


def tag(name: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Markup:
    """`<name attrs>children</name>` (self-closed without children), everything escaped.

    Attributes whose value is None are left out; floats are written with one decimal."""
    parts = [f"<{name}"]
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        parts.append(f' {key}="{escape(_attr(value))}"')
    if not children:
        return Markup("".join(parts) + "/>")
    inner = "".join(str(escape(c)) for c in children if c is not None)
    return Markup("".join(parts) + ">" + inner + f"</{name}>")


def _attr(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def svg(width: float, height: float, *children: Any, cls: str | None = None) -> Markup:
    return tag(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": cls,
            "width": round(width),
            "height": round(height),
            "viewBox": f"0 0 {round(width)} {round(height)}",
        },
        *children,
    )


def title(text: str) -> Markup:
    return tag("title", None, clip(text, 600))


def join(items: Iterable[Any]) -> Markup:
    return Markup("").join(escape(i) for i in items)


def clip(text: str, limit: int = TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A value from the run as short text (JSON-like: lists in brackets, nil for None)."""
    if value is None:
        return "nil"
    if isinstance(value, str):
        return value or '""'

    if isinstance(value, list | tuple):
        return clip("[" + ", ".join(show(v) for v in value) + "]")
    return clip(str(value))


def seconds(ns: float) -> str:
    return f"{ns / 1e9:.3f} s"


def node_order(name: Any) -> tuple[Any, ...]:
    """Natural order for node and process names: n2 before n10, 4 before 12."""
    if isinstance(name, bool) or name is None:
        return (2, str(name))
    if isinstance(name, int | float):
        return (0, name)
    text = str(name)
    return (1, *[(int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"(\d+)", text) if p])


@dataclass(frozen=True)
class TimeAxis:
    """Time `t0..t1` drawn on `x0..x0+width` px. `unit` "s" (ns times) or "position"."""

    t0: float
    t1: float
    x0: float
    width: float
    unit: str = "s"

    def x(self, t: float) -> float:
        span = max(self.t1 - self.t0, 1e-9)
        frac = min(1.0, max(0.0, (t - self.t0) / span))
        return round(self.x0 + frac * self.width, 1)

    def fmt(self, t: float) -> str:
        return seconds(t) if self.unit == "s" else f"#{round(t)}"

    def ticks(self, y_top: float, y_bottom: float) -> Markup:
        """Vertical grid lines with labels under `y_bottom`."""
        span = self.t1 - self.t0
        if span <= 0:
            return Markup("")
        scale = 1e9 if self.unit == "s" else 1.0
        step = nice_step(span / scale / 8) * scale
        first = math.ceil(self.t0 / step) * step
        out: list[Markup] = []
        t = first
        while t <= self.t1 + step * 1e-6 and len(out) < 40:
            x = self.x(t)
            label = f"{t / 1e9:g} s" if self.unit == "s" else f"#{round(t)}"
            out.append(tag("line", {"class": "tick", "x1": x, "x2": x, "y1": y_top,
                                    "y2": y_bottom, "stroke": "#e4e4e4"}))
            out.append(tag("text", {"x": x, "y": y_bottom + 12, "text-anchor": "middle"}, label))
            t += step
        return join(out)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is at least `raw` (> 0)."""
    if raw <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * base >= raw:
            return float(m * base)
    return float(10 * base)


def fault_label(w: FaultWindow) -> str:
    return clip(str(w.label), 80)


def fault_span(w: FaultWindow, unit: str = "s") -> str:
    fmt = seconds if unit == "s" else (lambda t: f"#{round(t)}")
    end = "never healed" if w.end_ns is None else f"to {fmt(w.end_ns)}"
    return f"from {fmt(w.start_ns)} {end}"


def fault_bands(
    faults: Sequence[FaultWindow], axis: TimeAxis, y: float, height: float, *, end_ns: float,
    labels: bool = True,
) -> Markup:
    """One shaded band per fault that overlaps the axis, labelled at its top when it is wide
    enough; a fault never healed runs to `end_ns`."""
    out = []
    for n, w in enumerate(faults):
        end = w.end_ns if w.end_ns is not None else end_ns
        if end < axis.t0 or w.start_ns > axis.t1:
            continue
        x1, x2 = axis.x(w.start_ns), axis.x(end)
        width = max(1.5, x2 - x1)
        out.append(tag(
            "rect",
            {"class": "fault", "data-fault": n, "x": x1, "y": y, "width": width,
             "height": height, "fill": FAULT_FILL, "fill-opacity": FAULT_OPACITY},
            title(f"{fault_label(w)} {fault_span(w, axis.unit)}"),
        ))
        if labels and width > 40:
            out.append(tag("text", {"class": "fault-label", "x": x1 + 3, "y": y + 10},
                           clip(fault_label(w), max(4, int(width / 6)))))
    return join(out)


def faults_during(
    faults: Sequence[FaultWindow], start_ns: float, end_ns: float | None
) -> list[FaultWindow]:
    """The faults active at some instant of [start_ns, end_ns] (an instant when end is None)."""
    end = start_ns if end_ns is None else end_ns
    return [
        w for w in faults
        if w.start_ns <= end and (w.end_ns is None or w.end_ns >= start_ns)
    ]  # fmt: skip


def during_words(faults: Sequence[FaultWindow], start_ns: float, end_ns: float | None,
                 unit: str = "s") -> str:
    """"during partition ... (from 3.000 s to 9.000 s)", or what the nearest earlier fault was."""
    active = faults_during(faults, start_ns, end_ns)
    if active:
        shown = "; ".join(f"{fault_label(w)} ({fault_span(w, unit)})" for w in active[:3])
        more = f" and {len(active) - 3} more" if len(active) > 3 else ""
        return f"during {shown}{more}"
    earlier = [w for w in faults if w.end_ns is not None and w.end_ns < start_ns]
    if earlier:
        last = max(earlier, key=lambda w: w.end_ns or 0)
        return (f"while no fault was active (the last one before, {fault_label(last)}, "
                f"{fault_span(last, unit)})")
    return "while no fault was active"


def legend(items: Iterable[tuple[str, str]]) -> Markup:
    """A row of colour swatches: (colour, words)."""
    spans = [
        Markup('<span><i class="swatch" style="background:{}"></i>{}</span>').format(c, words)
        for c, words in items
    ]
    return Markup('<div class="legend note">{}</div>').format(join(spans))


def section_html(name: str, *parts: Any) -> str:
    """The section's fragment: the shared style and the parts, in a `div.cv`."""
    return str(tag("div", {"class": f"cv cv-{name}"}, STYLE, *parts))


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ms_to_ns(value: Any) -> float | None:
    n = as_number(value)
    return None if n is None else n * 1e6
