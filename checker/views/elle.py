"""The Elle section (`list-append`, `rw-register`): each anomaly's cycle drawn, and said in words.

From the result alone (`checker.elle.verdict`: `anomalies`, each cycle case with `cycle`, the
transactions in order and the first again at the end, and `steps`, one per edge, whose `type`
is `ww`, `wr`, `rw`, `realtime` or `process`):

- the verdict, the consistency models asked for, and counts per anomaly type;
- for each cycle: its transactions as nodes on a ring (`T1`, `T2`, ... labelled with their
  history index), an arrow per edge from each transaction to the next, labelled with the
  dependency (ww, wr, rw, rt, process) and coloured by it, and Elle's explanation beneath;
- the anomalies that are not cycles (G1a, internal, incompatible-order...) as their one-line
  texts.

Bounded: at most `CYCLES_MAX` cycles drawn (the first cases of each type, most severe type
first, in the result's order), `RING_MAX` transactions on one ring (a longer cycle is drawn to
that length and says so), `OTHER_MAX` other cases listed; every value from the run is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from checker.sections import SectionContext, section
from checker.views.draw import as_dict, as_list, clip, join, legend, section_html, svg, tag, title

CYCLES_MAX = 8
RING_MAX = 12
OTHER_MAX = 20
EXPLANATION_CHARS = 4000
EDGE_COLOURS = {
    "ww": "#d62728",
    "wr": "#1f77b4",
    "rw": "#ff7f0e",
    "rt": "#7f7f7f",
    "process": "#2ca02c",
}
LABELS = {"realtime": "rt"}
NODE_R_PX = 20
SIZE_PX = 320


def edge_label(step: Mapping[str, Any]) -> str:
    """An edge's short name: ww, wr, rw, rt or process (anything else as given, clipped)."""
    kind = str(step.get("type", "?"))
    return clip(LABELS.get(kind, kind), 12)


def cycle_svg(case: Mapping[str, Any]) -> Markup:
    """One cycle as a ring of transactions with labelled arrows (module docstring)."""
    txns = as_list(case.get("cycle"))[:-1] or as_list(case.get("cycle"))
    steps = as_list(case.get("steps"))
    n = min(len(txns), RING_MAX)
    if n == 0:
        return Markup("")
    centre = SIZE_PX / 2
    radius = centre - NODE_R_PX - 30
    points = [
        (centre + radius * math.sin(2 * math.pi * i / n),
         centre - radius * math.cos(2 * math.pi * i / n))
        for i in range(n)
    ]
    parts: list[Markup] = [Markup(
        '<defs><marker id="elle-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="context-stroke"/></marker></defs>')]
    for i in range(n):
        if n == 1 and not steps:
            break
        (x1, y1), (x2, y2) = points[i], points[(i + 1) % n]
        step = as_dict(steps[i]) if i < len(steps) else {}
        label = edge_label(step)
        colour = EDGE_COLOURS.get(label, "#555")
        if n == 1:  # a transaction before itself: a loop above it
            path = (f"M{x1 - 8:.1f},{y1 - NODE_R_PX:.1f} C{x1 - 40:.1f},{y1 - 80:.1f} "
                    f"{x1 + 40:.1f},{y1 - 80:.1f} {x1 + 8:.1f},{y1 - NODE_R_PX:.1f}")
            lx, ly = x1, y1 - 70
        else:
            dx, dy = x2 - x1, y2 - y1
            length = math.hypot(dx, dy) or 1.0
            ux, uy = dx / length, dy / length
            path = (f"M{x1 + ux * NODE_R_PX:.1f},{y1 + uy * NODE_R_PX:.1f} "
                    f"L{x2 - ux * NODE_R_PX:.1f},{y2 - uy * NODE_R_PX:.1f}")
            lx, ly = (x1 + x2) / 2 - uy * 12, (y1 + y2) / 2 + ux * 12
        parts.append(tag("path", {"class": f"edge edge-{label}", "d": path, "fill": "none",
                                  "stroke": colour, "stroke-width": 2,
                                  "marker-end": "url(#elle-arrow)"},
                         title(f"T{i + 1} -> T{(i + 1) % n + 1}: {label}")))
        parts.append(tag("text", {"class": "edge-label", "x": lx, "y": ly,
                                  "text-anchor": "middle", "font-size": 12, "fill": colour},
                         label))
    for i, (x, y) in enumerate(points):
        txn = as_dict(txns[i])
        parts.append(tag(
            "g", {"class": "txn"},
            tag("circle", {"cx": x, "cy": y, "r": NODE_R_PX, "fill": "#fff",
                           "stroke": "#333"}),
            tag("text", {"x": x, "y": y + 4, "text-anchor": "middle", "font-size": 12},
                f"T{i + 1}"),
            tag("text", {"x": x, "y": y + NODE_R_PX + 13, "text-anchor": "middle",
                         "font-size": 10, "fill": "#555"}, f"op {clip(str(txn.get('index')), 12)}"),
            title(f"T{i + 1} = operation {txn.get('index')} (process {txn.get('process')}, "
                  f"{txn.get('type')}): {txn.get('value')}"),
        ))
    return svg(SIZE_PX, SIZE_PX, *parts, cls="elle-cycle")


def _cycle_part(kind: str, case: Mapping[str, Any]) -> Markup:
    txns = as_list(case.get("cycle"))
    length = max(len(txns) - 1, 0)
    note = (Markup('<p class="note">{}</p>').format(
        f"{length} transactions: the first {RING_MAX} drawn") if length > RING_MAX else "")
    explanation = clip(str(case.get("explanation", "")), EXPLANATION_CHARS)
    return tag("div", {"class": "elle-anomaly"},
               tag("h4", None, kind),
               cycle_svg(case),
               note,
               tag("pre", {"class": "elle-explanation"}, explanation))


@section("list-append")
@section("rw-register")
def render_elle(result: Mapping[str, Any], ctx: SectionContext) -> str:
    anomalies = as_dict(result.get("anomalies"))
    counts = as_dict(result.get("anomaly_counts"))
    models = ", ".join(str(m) for m in as_list(result.get("consistency_models")))
    valid = result.get("valid")
    head = f"{result.get('checker', 'elle')}: valid {valid}"
    if models:
        head += f" under {models}"
    parts: list[Any] = [tag("p", None, head)]
    if result.get("reason"):
        parts.append(tag("p", {"class": "note"}, str(result["reason"])))
    if counts:
        parts.append(tag("p", None, "Anomalies: " + ", ".join(
            f"{k}: {v}" for k, v in sorted(counts.items()))))
    cycles: list[Markup] = []
    others: list[str] = []
    for kind, cases in anomalies.items():
        for case in as_list(cases):
            case = as_dict(case)
            if as_list(case.get("cycle")):
                if len(cycles) < CYCLES_MAX:
                    cycles.append(_cycle_part(str(kind), case))
            elif len(others) < OTHER_MAX:
                others.append(str(case.get("text") or kind))
    if cycles:
        parts.append(legend((c, k) for k, c in EDGE_COLOURS.items()))
        parts.extend(cycles)
    if others:
        parts.append(tag("ul", None, join(tag("li", None, clip(t, 400)) for t in others)))
    if not counts and valid is True:
        parts.append(tag("p", {"class": "note"}, "No anomaly the consistency models forbid."))
    return section_html("elle", *parts)
