"""The set-full section: each lost element, when and where it was acknowledged, and who lacks it.

From `checker.setfull`'s result (its `lost_details` and `final_reads`) and the fault windows:

- in words, the lost elements grouped by which final reads lack them: how many, when they
  were acknowledged, during which fault ("100 elements acknowledged from 2.299 s to 3.390 s,
  92 of them during partition ..., are missing from the final reads of n1 and n3");
- a table, one row per listed lost element: the element, when it was acknowledged (its `ok`
  add, or the first read that saw it), by which node and process, during which fault, which
  final reads lack it, and the last read that saw it;
- a timeline: one lane per node, a red tick where it acknowledged a lost element, its final
  read (red when it lacks lost elements), the last read that saw each one, and fault bands;
- the stale, never-read, unexpected and failed-but-read elements, as short lists with counts.

The result lists at most `checker.setfull.LIST_LIMIT` elements per category; the page says when
there are more. A valid result gets a one-line summary and an unknown one its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from checker.sections import SectionContext, section
from checker.views.draw import (
    COLOURS,
    LOST_COLOUR,
    TimeAxis,
    as_dict,
    as_list,
    as_number,
    clip,
    during_words,
    fault_bands,
    fault_label,
    faults_during,
    join,
    legend,
    ms_to_ns,
    node_order,
    seconds,
    section_html,
    show,
    svg,
    tag,
    title,
)

TABLE_ROWS = 20  # lost elements in the table before "more"
GROUPS_MAX = 6  # groups of lost elements described in words
LIST_SHOWN = 50  # elements of a stale/never-read/... list written out
WIDTH_PX = 1000
LABEL_PX = 60
LANE_PX = 22
TOP_PX = 16


@section("set-full")
def render(result: Mapping[str, Any], ctx: SectionContext) -> str:
    valid = result.get("valid")
    parts: list[Any] = [_headline(result, valid)]
    lost = [d for d in (as_dict(x) for x in as_list(result.get("lost_details"))) if d]
    if lost:
        parts.append(_groups(lost, result, ctx))
        parts.append(_timeline(lost, result, ctx))
        parts.append(_table(lost, result, ctx))
    elif as_list(result.get("lost")):  # an older result: elements only
        parts.append(_elements("Lost", result, "lost"))
    for name, what in (
        ("unexpected", "Unexpected (read, never added)"),
        ("failed_but_read", "Failed but read (the add failed, yet a read saw it)"),
        ("stale", "Stale (allowed: read late at first, then stably)"),
        ("never_read", "Never read (known, but no read could have seen it)"),
    ):
        if as_list(result.get(name)):
            parts.append(_elements(what, result, name))
    latency = as_dict(result.get("stable_latency_ms"))
    if latency:
        parts.append(Markup('<p class="note">Stable latency (from known to stably read): {}.'
                            "</p>").format(_quantiles(latency)))
    return section_html("set-full", *parts)


def _count(result: Mapping[str, Any], name: str) -> int:
    n = as_number(result.get(f"{name}_count"))
    return int(n) if n is not None else len(as_list(result.get(name)))


def _headline(result: Mapping[str, Any], valid: Any) -> Markup:
    known, reads = result.get("known_count", "?"), result.get("read_count", "?")
    finals = result.get("final_read_count", "?")
    if valid is True:
        return Markup(
            '<p class="ok-note">Every one of the {} known elements was read stably: {} stable '
            "({} stale at first), over {} reads ({} final).</p>"
        ).format(known, result.get("stable_count", "?"), _count(result, "stale"), reads, finals)
    if valid is False:
        found = [
            f"{_count(result, name)} {words}"
            for name, words in (("lost", "lost"), ("unexpected", "unexpected"),
                                ("failed_but_read", "failed but read"))
            if _count(result, name)
        ]
        if not found and _count(result, "stale"):
            found.append(f"{_count(result, 'stale')} stale (the set must be linearizable)")
        return Markup("<p><b>Not every acknowledged element stayed visible</b>: {} of {} known "
                      "elements, judged by {} reads ({} final).</p>").format(
            ", ".join(found) or "an anomaly", known, reads, finals)
    reason = result.get("reason")
    if not reason:
        reason = ("no read succeeded" if not result.get("read_count") else
                  "no element was both known and read: nothing to judge")
    return Markup("<p>set-full is unknown: {}.</p>").format(reason)


def _known_ns(d: Mapping[str, Any]) -> float | None:
    return ms_to_ns(d.get("known_ms"))


def _final_nodes(d: Mapping[str, Any]) -> list[str]:
    return sorted({show(as_dict(r).get("node")) for r in as_list(d.get("missing_from_final"))},
                  key=node_order)


def _groups(lost: list[dict[str, Any]], result: Mapping[str, Any], ctx: SectionContext) -> Markup:
    """The lost elements in words, grouped by which final reads lack them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for d in lost:
        groups.setdefault(tuple(_final_nodes(d)), []).append(d)
    lines = []
    for nodes, members in sorted(groups.items(), key=lambda g: -len(g[1]))[:GROUPS_MAX]:
        times = [t for t in (_known_ns(d) for d in members) if t is not None]
        when = ""
        if times:
            lo, hi = min(times), max(times)
            when = (f" acknowledged at {seconds(lo)}" if lo == hi else
                    f" acknowledged from {seconds(lo)} to {seconds(hi)}")
        by_fault: dict[str, int] = {}
        for t in times:
            for w in faults_during(ctx.faults, t, None):
                by_fault[fault_label(w)] = by_fault.get(fault_label(w), 0) + 1
        faults = "; ".join(f"{n} of them during {label}" for label, n in
                           sorted(by_fault.items(), key=lambda kv: -kv[1])[:3])
        faults = f" ({faults})" if faults else " (no fault was active)" if times else ""
        acked_by = sorted({show(d.get("node")) for d in members}, key=node_order)
        where = (f"missing from the final reads of {_and(nodes)}" if nodes else
                 "missing from the last reads that could have seen them (no final read lacks "
                 "them)")
        first = ", ".join(show(d.get("element")) for d in members[:8])
        more = f", ... ({len(members)} in all)" if len(members) > 8 else ""
        lines.append(
            f"{len(members)} element(s) [{first}{more}]{when} by {_and(acked_by)}{faults} are "
            f"{where}."
        )
    count = _count(result, "lost")
    cut = (f" The result lists the first {len(lost)} of the {count} lost elements."
           if count > len(lost) else "")
    return Markup('<div class="story">{}{}</div>').format(
        join(Markup("<p>{}</p>").format(line) for line in lines),
        Markup('<p class="note">{}</p>').format(cut) if cut else "",
    )


def _and(names: list[str] | tuple[str, ...]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names) or "?"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _table(lost: list[dict[str, Any]], result: Mapping[str, Any], ctx: SectionContext) -> Markup:
    head = Markup(
        "<tr><th>element</th><th>acknowledged at</th><th>by</th><th>node</th>"
        "<th>process</th><th>during</th><th>final reads lacking it</th>"
        "<th>last read that saw it</th></tr>"
    )
    rows = [_row(d, ctx) for d in lost]
    shown, rest = rows[:TABLE_ROWS], rows[TABLE_ROWS:]
    more = Markup("")
    if rest:
        more = Markup("<details><summary>{} more lost elements</summary><table>{}{}</table>"
                      "</details>").format(len(rest), head, join(rest))
    return Markup("<h4>Lost elements</h4><table>{}{}</table>{}").format(head, join(shown), more)


def _row(d: Mapping[str, Any], ctx: SectionContext) -> Markup:
    known = _known_ns(d)
    during = "?"
    if known is not None:
        active = faults_during(ctx.faults, known, None)
        during = "; ".join(fault_label(w) for w in active) or "no fault"
    by = {"add": "ok add", "broadcast": "ok broadcast"}.get(str(d.get("known_by")),
                                                          f"first {show(d.get('known_by'))}")
    finals = [as_dict(r) for r in as_list(d.get("missing_from_final"))]
    lacking = ", ".join(f"{show(r.get('node'))} ({_s(r.get('at_ms'))})" for r in finals)
    seen = as_dict(d.get("last_seen"))
    seen_text = (f"{show(seen.get('node'))} at {_s(seen.get('at_ms'))}"
                 + (" (final)" if seen.get("final") else "")) if seen else "none"
    cells = [show(d.get("element")), _s(d.get("known_ms")), by, show(d.get("node")),
             show(d.get("process")), during, lacking or "none (a later read lacks it)",
             seen_text]
    return Markup('<tr class="lost" data-element="{}">{}</tr>').format(
        show(d.get("element")), join(Markup("<td>{}</td>").format(c) for c in cells))


def _s(ms: Any) -> str:
    ns = ms_to_ns(ms)
    return "?" if ns is None else seconds(ns)


def _timeline(lost: list[dict[str, Any]], result: Mapping[str, Any],
              ctx: SectionContext) -> Markup:
    finals = [as_dict(r) for r in as_list(result.get("final_reads"))]
    nodes: set[str] = set()
    for d in lost:
        nodes.add(show(d.get("node")))
        nodes.update(_final_nodes(d))
        if as_dict(d.get("last_seen")):
            nodes.add(show(as_dict(d.get("last_seen")).get("node")))
    nodes.update(show(r.get("node")) for r in finals)
    lanes = sorted(nodes, key=node_order)
    lane_of = {n: i for i, n in enumerate(lanes)}
    times = [t for d in lost for t in [_known_ns(d)] if t is not None]
    times += [t for r in finals for t in [ms_to_ns(r.get("at_ms"))] if t is not None]
    end_ns = max([float(ctx.end_ns), *times])
    axis = TimeAxis(0, end_ns, LABEL_PX, WIDTH_PX - LABEL_PX - 10)
    bottom = TOP_PX + len(lanes) * LANE_PX
    parts: list[Any] = [axis.ticks(TOP_PX, bottom)]
    for i, node in enumerate(lanes):
        y: float = TOP_PX + i * LANE_PX
        parts.append(tag("rect", {"class": "lane", "data-node": node, "x": LABEL_PX, "y": y,
                                  "width": axis.width, "height": LANE_PX,
                                  "fill": "#fafafa" if i % 2 else "#f2f2f2"}))
        parts.append(tag("text", {"class": "lane-label", "x": 4, "y": y + LANE_PX - 7}, node))
    parts.append(fault_bands(ctx.faults, axis, 0, bottom, end_ns=end_ns))
    for d in lost:
        t = _known_ns(d)
        if t is None:
            continue
        x = axis.x(t)
        y = TOP_PX + lane_of[show(d.get("node"))] * LANE_PX
        parts.append(tag(
            "line",
            {"class": "ack", "data-element": show(d.get("element")), "x1": x, "x2": x,
             "y1": y + 3, "y2": y + LANE_PX - 3, "stroke": LOST_COLOUR, "stroke-width": 1.5},
            title(f"lost element {show(d.get('element'))}: acknowledged by "
                  f"{show(d.get('node'))} (process {show(d.get('process'))}) at {seconds(t)}, "
                  f"{during_words(ctx.faults, t, None)}"),
        ))
        seen = as_dict(d.get("last_seen"))
        seen_ns = ms_to_ns(seen.get("at_ms"))
        if seen and seen_ns is not None:
            ys = TOP_PX + lane_of[show(seen.get("node"))] * LANE_PX + LANE_PX / 2
            parts.append(tag("circle", {"class": "last-seen", "cx": axis.x(seen_ns), "cy": ys,
                                        "r": 3, "fill": "none", "stroke": "#555"},
                             title(f"last read that saw {show(d.get('element'))}: "
                                   f"{show(seen.get('node'))} at {seconds(seen_ns)}")))
    for r in finals:
        t = ms_to_ns(r.get("at_ms"))
        if t is None:
            continue
        lacks = as_number(r.get("lacks_count")) or 0
        x = axis.x(t)
        y = TOP_PX + lane_of[show(r.get("node"))] * LANE_PX + LANE_PX / 2
        colour = LOST_COLOUR if lacks else COLOURS["ok"]
        parts.append(tag(
            "rect",
            {"class": "final-read" + (" lacking" if lacks else ""),
             "data-node": show(r.get("node")), "x": x - 5, "y": y - 5, "width": 10,
             "height": 10, "fill": colour,
             "transform": f"rotate(45 {x:.1f} {y:.1f})"},
            title(f"final read of {show(r.get('node'))} at {seconds(t)}: "
                  + (f"lacks {int(lacks)} lost element(s)" if lacks else "lacks no lost element")),
        ))
    return Markup("{}{}").format(
        svg(WIDTH_PX, bottom + 20, *parts, cls="setfull-timeline"),
        legend([(LOST_COLOUR, "tick: a lost element acknowledged by this node; diamond: a final "
                 "read lacking lost elements"),
                (COLOURS["ok"], "final read lacking none"),
                ("#555", "circle: the last read that saw a lost element")]),
    )


def _elements(what: str, result: Mapping[str, Any], name: str) -> Markup:
    listed = as_list(result.get(name))
    count = _count(result, name)
    shown = ", ".join(show(e) for e in listed[:LIST_SHOWN])
    if count > min(len(listed), LIST_SHOWN):
        shown += f", ... ({count} in all)"
    return Markup("<p><b>{}</b>: {}: {}</p>").format(what, count, clip(shown, 2000))


def _quantiles(q: Mapping[str, Any]) -> str:
    names = {"0": "min", "0.5": "p50", "0.95": "p95", "0.99": "p99", "1": "max"}
    return ", ".join(f"{names.get(k, k)} {v} ms" for k, v in q.items())
