"""The election-safety section: who led which term, when the cluster had no leader.

From `checker.elections`'s result and the fault windows:

- a lane per node: a bar for each term it led, from its election until it stepped down, began
  a new life, or a higher term was logged (`until_ms`); a term that two nodes led is red;
- a lane for leaderless time (and a faint shade over the node lanes), fault bands over all;
- in words, each two-leader term ("n1 and n3 were both leader in term 7: n1 from 3.200 s to
  5.000 s, n3 from 3.400 s to 3.900 s, during partition ..."), each term regression, and each
  reset term (a node back in a lower term after a restart: reported, not held against the run).

The result lists at most `checker.elections.ELECTIONS_MAX` elections and leaderless intervals;
the page says when there were more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from checker.sections import SectionContext, section
from checker.views.draw import (
    TimeAxis,
    as_dict,
    as_list,
    as_number,
    during_words,
    fault_bands,
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

WIDTH_PX = 1000
LABEL_PX = 70
LANE_PX = 20
BAR_PX = 12
TOP_PX = 16
TERM_COLOURS = ("#2a6fdb", "#6b9be8")  # alternate terms, so that adjacent ones differ
TWO_LEADERS = "#d9534f"
LEADERLESS = "#888888"
WORDS_MAX = 20  # two-leader terms and regressions described


@section("election-safety")
def render(result: Mapping[str, Any], ctx: SectionContext) -> str:
    parts: list[Any] = [_headline(result)]
    two = [d for d in (as_dict(x) for x in as_list(result.get("two_leader_terms"))) if d]
    words = [_two_leaders(d, ctx) for d in two[:WORDS_MAX]]
    for r in [as_dict(x) for x in as_list(result.get("term_regressions"))][:WORDS_MAX]:
        words.append(
            f"{show(r.get('node'))}'s term went back from {show(r.get('from_term'))} to "
            f"{show(r.get('to_term'))} at {_s(r.get('at_ms'))} ({show(r.get('where'))}), "
            "within one life: it lost the term it had adopted and may vote twice in it."
        )
    if words:
        parts.append(Markup('<div class="story">{}</div>').format(
            join(Markup("<p>{}</p>").format(w) for w in words)))
    bars = _leaderships(result)
    if bars or as_list(result.get("leaderless_intervals")):
        parts.append(_timeline(result, bars, {d.get("term") for d in two}, ctx))
    resets = [as_dict(x) for x in as_list(result.get("term_resets"))]
    if resets:
        parts.append(Markup('<p class="note">Reset terms (a node back in a lower term after a '
                            "restart; allowed): {}.</p>").format("; ".join(
            f"{show(r.get('node'))} from {show(r.get('from_term'))} to "
            f"{show(r.get('to_term'))} at {_s(r.get('at_ms'))}" for r in resets[:WORDS_MAX])))
    malformed = as_number(result.get("malformed_records")) or 0
    if malformed:
        examples = [as_dict(x) for x in as_list(result.get("malformed_examples"))]
        parts.append(Markup('<p class="note">{} malformed record(s) not judged: {}</p>').format(
            int(malformed), "; ".join(f"{show(e.get('where'))}: {show(e.get('problem'))}"
                                      for e in examples[:5])))
    return section_html("elections", *parts)


def _s(ms: Any) -> str:
    ns = ms_to_ns(ms)
    return "?" if ns is None else seconds(ns)


def _headline(result: Mapping[str, Any]) -> Markup:
    valid = result.get("valid")
    leaders = ", ".join(show(n) for n in as_list(result.get("leaders"))) or "none"
    longest = as_dict(result.get("leaderless_longest"))
    longest_text = (f", longest from {_s(longest.get('start_ms'))} to "
                    f"{_s(longest.get('end_ms'))}" if longest else "")
    facts = (f"{result.get('elections_count', '?')} election(s), terms up to "
             f"{show(result.get('terms_reached'))}, leaders {leaders}; leaderless for "
             f"{show(result.get('leaderless_ms'))} ms in "
             f"{show(result.get('leaderless_interval_count'))} interval(s){longest_text}")
    if valid is True:
        return Markup('<p class="ok-note">At most one leader per term: {}.</p>').format(facts)
    if valid is False:
        found = []
        two = as_number(result.get("two_leader_terms_count")) or 0
        if two:
            found.append(f"{int(two)} term(s) with two leaders")
        back = as_number(result.get("term_regressions_count")) or 0
        if back:
            found.append(f"{int(back)} term regression(s)")
        return Markup("<p><b>Election safety violated</b>: {}. {}.</p>").format(
            ", ".join(found) or "see the result", facts)
    return Markup("<p>Election safety is unknown: {}.</p>").format(
        result.get("reason") or "nothing to judge")


def _two_leaders(d: Mapping[str, Any], ctx: SectionContext) -> str:
    leaders = [as_dict(x) for x in as_list(d.get("leaders"))]
    names = [show(x.get("node")) for x in leaders]
    both = "both" if len(names) == 2 else "all"
    spans = []
    for x in leaders:
        text = f"{show(x.get('node'))} from {_s(x.get('at_ms'))}"
        if as_number(x.get("until_ms")) is not None:
            text += f" to {_s(x.get('until_ms'))}"
        spans.append(text)
    line = (f"{_and(names)} were {both} leader in term {show(d.get('term'))}: "
            f"{', '.join(spans)}")
    starts = [t for t in (ms_to_ns(x.get("at_ms")) for x in leaders) if t is not None]
    if starts:
        line += f"; the second was elected {during_words(ctx.faults, max(starts[:2]), None)}"
    return line + "."


def _and(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _leaderships(result: Mapping[str, Any]) -> dict[tuple[str, Any], tuple[float, float | None]]:
    """(node, term) -> (from ns, until ns or None), from the elections and two-leader terms."""
    bars: dict[tuple[str, Any], tuple[float, float | None]] = {}
    for e in (as_dict(x) for x in as_list(result.get("elections"))):
        at = ms_to_ns(e.get("at_ms"))
        if at is not None and e.get("leader") is not None:
            bars[(show(e.get("leader")), e.get("term"))] = (at, ms_to_ns(e.get("until_ms")))
    for d in (as_dict(x) for x in as_list(result.get("two_leader_terms"))):
        for x in (as_dict(y) for y in as_list(d.get("leaders"))):
            at = ms_to_ns(x.get("at_ms"))
            if at is not None:
                bars.setdefault((show(x.get("node")), d.get("term")),
                                (at, ms_to_ns(x.get("until_ms"))))
    return bars


def _timeline(result: Mapping[str, Any], bars: dict[tuple[str, Any], tuple[float, float | None]],
              two_terms: set[Any], ctx: SectionContext) -> Markup:
    nodes = {show(n) for n in as_list(result.get("nodes"))} | {n for n, _ in bars}
    lanes = sorted(nodes, key=node_order)
    lane_of = {n: i for i, n in enumerate(lanes)}
    start = ms_to_ns(result.get("start_ms")) or 0.0
    end = ms_to_ns(result.get("end_ms"))
    ends = [u for _, u in bars.values() if u is not None] + [a for a, _ in bars.values()]
    end_ns = max([end or 0.0, float(ctx.end_ns), *ends])
    axis = TimeAxis(min(start, 0.0), end_ns, LABEL_PX, WIDTH_PX - LABEL_PX - 10)
    leaderless_y = TOP_PX + len(lanes) * LANE_PX
    bottom = leaderless_y + LANE_PX
    parts: list[Any] = [axis.ticks(TOP_PX, bottom)]
    for i, node in enumerate([*lanes, "no leader"]):
        y: float = TOP_PX + i * LANE_PX
        parts.append(tag("rect", {"class": "lane", "data-node": node, "x": LABEL_PX, "y": y,
                                  "width": axis.width, "height": LANE_PX,
                                  "fill": "#fafafa" if i % 2 else "#f2f2f2"}))
        parts.append(tag("text", {"class": "lane-label", "x": 4, "y": y + LANE_PX - 6}, node))
    parts.append(fault_bands(ctx.faults, axis, 0, bottom, end_ns=end_ns))
    for iv in (as_dict(x) for x in as_list(result.get("leaderless_intervals"))):
        a, b = ms_to_ns(iv.get("start_ms")), ms_to_ns(iv.get("end_ms"))
        if a is None or b is None:
            continue
        x1, x2 = axis.x(a), axis.x(b)
        words = title(f"no leader from {seconds(a)} to {seconds(b)} ({(b - a) / 1e6:.1f} ms)")
        parts.append(tag("rect", {"class": "leaderless-shade", "x": x1, "y": TOP_PX,
                                  "width": max(1.0, x2 - x1), "height": leaderless_y - TOP_PX,
                                  "fill": LEADERLESS, "fill-opacity": "0.10"}, words))
        parts.append(tag("rect", {"class": "leaderless", "x": x1, "y": leaderless_y + 4,
                                  "width": max(1.0, x2 - x1), "height": BAR_PX,
                                  "fill": LEADERLESS}, words))
    for (node, term), (at, until) in sorted(bars.items(), key=lambda kv: kv[1][0]):
        stop = until if until is not None else end_ns
        x1, x2 = axis.x(at), axis.x(stop)
        y = TOP_PX + lane_of[node] * LANE_PX + (LANE_PX - BAR_PX) / 2
        two = term in two_terms
        n = as_number(term)
        colour = TWO_LEADERS if two else TERM_COLOURS[int(n or 0) % 2]
        width = max(2.0, x2 - x1)
        parts.append(tag(
            "rect",
            {"class": "leader" + (" two-leaders" if two else ""), "data-node": node,
             "data-term": show(term), "x": x1, "y": y, "width": width, "height": BAR_PX,
             "fill": colour},
            title(f"{node} leader of term {show(term)} from {seconds(at)}"
                  + (f" to {seconds(until)}" if until is not None else " (until the end)")
                  + (": ANOTHER NODE LED THIS TERM TOO" if two else "")),
        ))
        label = f"t{show(term)}"
        if width > 7 * len(label) + 4:
            parts.append(tag("text", {"x": x1 + 3, "y": y + BAR_PX - 2, "style": "fill:#fff",
                                      "pointer-events": "none"}, label))
    notes = []
    count = as_number(result.get("elections_count")) or 0
    listed = len(as_list(result.get("elections")))
    if count > listed:
        notes.append(f"The result lists the first {listed} of {int(count)} elections: later "
                     "terms are not drawn.")
    intervals = as_number(result.get("leaderless_interval_count")) or 0
    listed_iv = len(as_list(result.get("leaderless_intervals")))
    if "leaderless_intervals" not in result:
        notes.append("This result does not list its leaderless intervals: none is shaded.")
    elif intervals > listed_iv:
        notes.append(f"The first {listed_iv} of {int(intervals)} leaderless intervals are shaded.")
    return Markup("{}{}{}").format(
        svg(WIDTH_PX, bottom + 20, *parts, cls="elections-timeline"),
        legend([(TERM_COLOURS[0], "leader (t: its term)"), (TWO_LEADERS, "a term two nodes led"),
                (LEADERLESS, "no leader")]),
        Markup('<p class="note">{}</p>').format(" ".join(notes)) if notes else "",
    )
