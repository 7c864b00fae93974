"""The linearizability section: for a failure, the failing key's operations on their own timeline.

What a reader needs to check a counterexample by hand, from the result's `failure`
(`checker.explain`) and the history (`SectionContext.iter_ops`):

- in words: which operation cannot be placed, what it returned, what real time had already
  put before it (`preceding`), what could have given it its value (`enablers`), what the
  state could be meanwhile, and during which fault it ran;
- a timeline of the operations on that key around the failure: one lane per process, a bar
  per operation from invocation to completion coloured ok/fail/info (grey: never completed),
  fault bands, the longest linearizable prefix as numbered linearization points joined by a
  line (a valid choice of instants, the earliest, for the order the search found), the
  smallest failing set outlined, and the operation that cannot be placed in red with a line
  at its completion: no linearization of what came before reaches past it;
- the end of the longest prefix (with the value after each step) and the smallest failing set
  as tables.

Bounded: at most `MAX_OPS` operations are drawn (those nearest the failure, and always the
ones the explanation names), in at most `MAX_LANES` lanes; the page says what it left out. A
valid result gets a one-line summary, an unknown one its reason and how far each key got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from checker.models import Model, ModelError, make
from checker.search import show_key
from checker.sections import SectionContext, section
from checker.views.draw import (
    COLOURS,
    PREFIX_COLOUR,
    TimeAxis,
    as_dict,
    as_list,
    as_number,
    clip,
    during_words,
    fault_bands,
    join,
    legend,
    node_order,
    section_html,
    show,
    svg,
    tag,
    title,
)

MAX_OPS = 300  # operations drawn on the key's timeline
MAX_LANES = 60
PREFIX_ROWS = 12  # rows of the prefix table shown before "more"
NUMBERED_STEPS = 40  # prefix steps numbered on the timeline (the rest: dots on the path)
WIDTH_PX = 1000
LABEL_PX = 70
LANE_PX = 20
BAR_PX = 12
TOP_PX = 30  # fault labels, then the "no linearization" label
RIGHT_PX = 170  # room for the "cannot be placed" label
SHORT_CHARS = 18
READS = ("read", "get")
WRITES = ("write", "put")


@dataclass
class Bar:
    """One operation as drawn: its interval and what it did."""

    index: int
    process: Any
    f: str
    value: Any
    type: str  # ok, fail, info, or open (never completed)
    result: Any
    start: float
    end: float | None  # its completion; None when it never completed


@section("linearizability")
def render(result: Mapping[str, Any], ctx: SectionContext) -> str:
    valid = result.get("valid")
    if valid is True:
        return section_html("linearizability", _valid_summary(result))
    if valid is False:
        return section_html("linearizability", *_failure(result, ctx))
    return section_html("linearizability", *_unknown(result))


def _valid_summary(result: Mapping[str, Any]) -> Markup:
    return Markup(
        '<p class="ok-note">Linearizable: each of the {} operations on {} key(s) could take '
        "effect at one instant inside its interval (model {}, {} configurations explored in "
        "{} s).</p>"
    ).format(
        result.get("op_count", "?"), result.get("key_count", "?"), result.get("model", "?"),
        result.get("configs_explored", "?"), _round(result.get("time_s")),
    )


def _round(value: Any) -> str:
    n = as_number(value)
    return "?" if n is None else f"{n:.3f}"


def _unknown(result: Mapping[str, Any]) -> list[Any]:
    unknown = as_dict(result.get("unknown"))
    reason = unknown.get("reason") or result.get("reason") or "no verdict was reached"
    parts: list[Any] = [Markup("<p>Linearizability is unknown: {}.</p>").format(reason)]
    unfinished = as_dict(unknown.get("keys_unfinished"))
    if unfinished:
        rows = [
            Markup("<tr><td>{}</td><td>{} of {}</td><td>{}</td><td>{}</td></tr>").format(
                show(key), as_dict(got).get("returns_placed", "?"),
                as_dict(got).get("returns_total", "?"),
                as_dict(got).get("configs_explored", "?"), as_dict(got).get("stopped_by", "?"),
            )
            for key, got in list(unfinished.items())[:20]
        ]
        more = len(unfinished) - len(rows)
        parts.append(Markup(
            "<table><tr><th>key</th><th>completed operations placed in order</th>"
            "<th>configurations</th><th>stopped by</th></tr>{}</table>{}"
        ).format(join(rows), Markup('<p class="note">... and {} more keys</p>').format(more)
                 if more > 0 else ""))
        parts.append(Markup('<p class="note">Raise the time limit (<code>chaos check '
                            "--time-limit S</code>) to search further.</p>"))
    return parts


# --- an invalid result ------------------------------------------------------------------------


def _failure(result: Mapping[str, Any], ctx: SectionContext) -> list[Any]:
    failure = as_dict(result.get("failure"))
    failed_keys = as_list(result.get("failed_keys"))
    key = failure.get("key", failed_keys[0] if failed_keys else None)
    head = Markup("<p><b>Not linearizable</b> on {}{}.</p>").format(
        _key_words(key, result),
        Markup(" (failed keys: {})").format(", ".join(show(k) for k in failed_keys[:20]))
        if len(failed_keys) > 1 else "",
    )
    op = _op_dict(failure.get("op"))
    if op is None:
        text = failure.get("text") or "the checker found no linearization but did not explain it"
        return [head, Markup("<pre>{}</pre>").format(clip(str(text), 4000))]
    bars, unit, note = _key_bars(result, failure, ctx)
    parts: list[Any] = [head, _story(failure, op, key, result, ctx, unit)]
    if bars:
        parts.append(_timeline(bars, failure, ctx, unit))
        parts.append(legend([
            (COLOURS["ok"], "ok"), (COLOURS["fail"], "fail"), (COLOURS["info"], "info"),
            (COLOURS["open"], "never completed"),
            (PREFIX_COLOUR, "longest linearizable prefix (numbered in order)"),
            ("#000", "outlined: in the smallest failing set"),
            ("#d9534f", "red outline: cannot be placed"),
        ]))
    if note:
        parts.append(Markup('<p class="note">{}</p>').format(note))
    parts.append(_prefix_table(failure, key, unit))
    parts.append(_minimal_list(failure, key, unit))
    return parts


def _key_words(key: Any, result: Mapping[str, Any]) -> str:
    if key is None:
        return f"the {result.get('model') or 'object'}"
    return f"key {show(key)}"


def _op_dict(value: Any) -> dict[str, Any] | None:
    op = as_dict(value)
    return op if isinstance(op.get("index"), int) and isinstance(op.get("f"), str) else None


def _plain(value: Any, key: Any) -> Any:
    """A kv value `[key, v]` as `v`; anything else as it is."""
    if isinstance(value, list) and len(value) == 2 and key is not None:
        k = value[0]
        if k == key or show(k) == show(key):
            return value[1]
    return value


def phrase(op: Mapping[str, Any], key: Any) -> str:
    """`write 3`, `read`, `cas 1 -> 2`: the operation without its key."""
    f = str(op.get("f"))
    value = _plain(op.get("value"), key)
    if f in READS:
        return f
    if f == "cas" and isinstance(value, list) and len(value) == 2:
        return f"cas {show(value[0])} → {show(value[1])}"
    return f if value is None else f"{f} {show(value)}"


def short(bar: Bar, key: Any) -> str:
    """A bar's label: `w 3`, `r 1`, `cas 1→2`, `a x`, at most `SHORT_CHARS` characters."""
    value = _plain(bar.value, key)
    if bar.f in READS:
        got = _plain(bar.result, key)
        text = f"r {show(got)}" if bar.type == "ok" else "r"
    elif bar.f in WRITES:
        text = f"w {show(value)}"
    elif bar.f == "cas" and isinstance(value, list) and len(value) == 2:
        text = f"cas {show(value[0])}→{show(value[1])}"
    elif bar.f == "append":
        text = f"a {show(value)}"
    else:
        text = bar.f
    return clip(text, SHORT_CHARS)


def _fmt(t: Any, unit: str) -> str:
    n = as_number(t)
    if n is None:
        return "?"
    return f"{n / 1e9:.3f} s" if unit == "s" else f"position {round(n)}"


def actor(op: Mapping[str, Any], key: Any, unit: str, *, invoked: bool = False) -> str:
    """"write 2 by process 1 (ok at 1.800 s)"."""
    kind = op.get("type")
    done = op.get("completion_time_ns")
    when = []
    if invoked:
        when.append(f"invoked at {_fmt(op.get('time_ns'), unit)}")
    if kind == "ok" and done is not None:
        when.append(f"ok at {_fmt(done, unit)}")
    elif kind == "info":
        when.append("indeterminate (info)")
    return f"{phrase(op, key)} by process {show(op.get('process'))} ({', '.join(when) or '?'})"


def _story(failure: Mapping[str, Any], op: Mapping[str, Any], key: Any,
           result: Mapping[str, Any], ctx: SectionContext, unit: str) -> Markup:
    """The counterexample in words (module docstring)."""
    where = _key_words(key, result)
    preceding = [p for p in (_op_dict(x) for x in as_list(failure.get("preceding"))) if p]
    enabling = [e for e in (_op_dict(x) for x in as_list(failure.get("enablers"))) if e]
    states = [str(s) for s in as_list(failure.get("possible_states"))]
    states_count = failure.get("possible_states_count", len(states))
    after = f"after {actor(preceding[0], key, unit)}, " if preceding else ""
    subject = actor(op, key, unit, invoked=True)
    if op.get("f") in READS and op.get("type") == "ok":
        did = f"returned {show(_plain(op.get('result'), key))}"
    else:
        did = "completed ok" if op.get("type") == "ok" else f"completed {op.get('type')}"
    needed = failure.get("needed") or "a state no linearization reaches"
    shown_states = ", ".join(clip(s, 60) for s in states[:8])
    if isinstance(states_count, int) and states_count > 8:
        shown_states += f" (and {states_count - 8} more)"
    lines = [
        f"{where.capitalize()}: {after}{subject} {did}, but no linearization allows it: "
        f"it needs {needed}, and every order of the operations before it leaves "
        f"{shown_states or 'no state at all'} while it was pending."
    ]
    enabling_ids = {e["index"] for e in enabling}
    also = [p for p in preceding[1:] if p["index"] not in enabling_ids]
    if also:
        lines.append(
            "Real time puts these before it too (they completed before it was invoked): "
            + "; ".join(actor(p, key, unit) for p in also) + "."
        )
    if enabling:
        latest = enabling[0]
        text = ("What it needed could only come from "
                + "; ".join(actor(e, key, unit, invoked=True) for e in enabling[:3]))
        if len(enabling) > 3:
            text += f" and {len(enabling) - 3} more"
        overwrote = _overwrote(latest, preceding)
        if overwrote is not None:
            text += (f"; {actor(overwrote, key, unit)} came after "
                     f"{'it' if len(enabling) == 1 else 'the latest of them'} and completed "
                     "before the operation began, so real time forbids the order it needs")
        lines.append(text + ".")
    elif "enablers" in failure:
        lines.append("No operation on this key could have produced what it needed: it was "
                     "never written (or only by an operation that failed).")
    start = as_number(op.get("time_ns"))
    if start is not None and unit == "s":
        end = as_number(op.get("completion_time_ns"))
        lines.append(f"It ran {during_words(ctx.faults, start, end)}.")
    return Markup('<div class="story">{}</div>').format(
        join(Markup("<p>{}</p>").format(line) for line in lines)
    )


def _overwrote(
    enabler: Mapping[str, Any], preceding: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The latest preceding operation invoked after `enabler` completed, if any."""
    done = as_number(enabler.get("completion_time_ns"))
    if done is None or enabler.get("type") != "ok":
        return None
    for p in preceding:
        start = as_number(p.get("time_ns"))
        if start is not None and start > done:
            return p
    return None


# --- the key's operations ---------------------------------------------------------------------


def _bar_from(op: Mapping[str, Any]) -> Bar | None:
    start = as_number(op.get("time_ns"))
    if start is None or not isinstance(op.get("index"), int):
        return None
    kind = str(op.get("type"))
    end = as_number(op.get("completion_time_ns"))
    return Bar(op["index"], op.get("process"), str(op.get("f")), op.get("value"),
               kind if end is not None else "open", op.get("result"), start, end)


def _named(failure: Mapping[str, Any]) -> tuple[dict[int, Bar], dict[int, Bar]]:
    """The operations the explanation names, by index: the core (the failing operation, the
    smallest set, `preceding` and the latest of `enablers`), always drawn, and the others
    (the longest prefix, older enablers), drawn where they fall inside the window the core
    spans."""
    core: dict[int, Bar] = {}
    rest: dict[int, Bar] = {}
    enabling = as_list(failure.get("enablers"))
    for op in [failure.get("op"), *as_list(failure.get("minimal_ops")),
               *as_list(failure.get("preceding")), *enabling[:1]]:
        d = _op_dict(op)
        b = None if d is None else _bar_from(d)
        if b is not None:
            core.setdefault(b.index, b)
    for op in [*enabling[1:], *as_list(failure.get("longest_prefix"))]:
        d = _op_dict(op)
        b = None if d is None else _bar_from(d)
        if b is not None and b.index not in core:
            rest[b.index] = b
    return core, rest


def _key_of(model: Model | None) -> Any:
    if model is None or model.partition_key is None:
        return None
    return model.partition_key


def _key_bars(result: Mapping[str, Any], failure: Mapping[str, Any],
              ctx: SectionContext) -> tuple[list[Bar], str, str]:
    """The operations on the failing key to draw, the time unit, and a note on what was left
    out (module docstring)."""
    must, rest = _named(failure)
    if not must:
        return [], "s", "The explanation names no operation with a time: nothing to draw."
    op = _op_dict(failure.get("op"))
    failing = must.get(op["index"]) if op is not None else None
    ends = [b.end if b.end is not None else b.start for b in must.values()]
    hi = failing.end if failing is not None and failing.end is not None else max(ends)
    lo = min(b.start for b in must.values())
    span = max(hi - lo, 1.0)
    lo, hi = lo - span * 0.15, hi + span * 0.05  # some context before, a little after
    model: Model | None
    try:
        model = make(str(result.get("model")))
    except ModelError:
        model = None
    partition_key = _key_of(model)
    key = failure.get("key")
    others, seen_on_key, unread = _scan(ctx, key, partition_key, must, rest, lo, hi)
    others.extend(b for b in rest.values() if b.start <= hi and (b.end or hi) >= lo)
    others.sort(key=lambda b: b.start)
    room = max(0, MAX_OPS - len(must))
    left_out = max(0, len(others) - room)
    kept = others[len(others) - room:] if room else []
    bars = sorted([*must.values(), *kept], key=lambda b: b.start)
    unit = "position" if all(b.start == b.index for b in bars) else "s"
    notes = [unread] if unread else []
    if left_out:
        notes.append(f"{left_out} earlier operations on this key in the window are not drawn "
                     f"(at most {MAX_OPS}).")
    if seen_on_key:
        notes.append(f"The history holds {seen_on_key} completed or pending operations on "
                     f"this key; the timeline shows {len(bars)} around the failure.")
    if unit == "position":
        notes.append("This history has no times: operations are drawn by their position.")
    return bars, unit, " ".join(notes)


def _scan(ctx: SectionContext, key: Any, partition_key: Any, must: dict[int, Bar],
          rest: dict[int, Bar], lo: float, hi: float) -> tuple[list[Bar], int, str]:
    """One pass over the history: the operations on `key` that overlap [lo, hi] and are not
    in `must` (at most a few times `MAX_OPS`, the latest), how many operations the key has,
    and why the history could not be read to the end ("" if it could). Drops from `rest` the
    operations the history holds: its records of them are drawn instead."""
    others: list[Bar] = []
    seen_on_key = 0
    opened: dict[Any, Any] = {}
    unread = ""
    try:
        for hop in ctx.iter_ops():
            if hop.process == "nemesis":
                continue
            if hop.type == "invoke":
                opened[hop.process] = hop
                continue
            inv = opened.pop(hop.process, None)
            if inv is None or not _on_key(inv.value, key, partition_key):
                continue
            seen_on_key += 1
            rest.pop(inv.index, None)  # the history's own record of it is drawn instead
            if inv.index in must or inv.time > hi or hop.time < lo:
                continue
            others.append(Bar(inv.index, inv.process, inv.f, inv.value, hop.type, hop.value,
                              inv.time, hop.time))
            if len(others) > 4 * MAX_OPS:
                others.sort(key=lambda b: b.start)
                del others[: len(others) - 2 * MAX_OPS]
        for inv in opened.values():  # never completed: open to the end
            if inv.index not in must and inv.time <= hi and _on_key(inv.value, key, partition_key):
                seen_on_key += 1
                others.append(Bar(inv.index, inv.process, inv.f, inv.value, "open", None,
                                  inv.time, None))
    except (ValueError, OSError) as e:  # a HistoryError is a ValueError
        unread = (f"The history could not be read to the end ({clip(str(e), 200)}): only "
                  "what was read, and the operations the explanation names, are drawn.")
    return others, seen_on_key, unread


def _on_key(value: Any, key: Any, partition_key: Any) -> bool:
    if partition_key is None:
        return True
    try:
        return bool(show_key(partition_key(value)) == key)
    except ModelError:
        return False


# --- the timeline ------------------------------------------------------------------------------


def _timeline(bars: list[Bar], failure: Mapping[str, Any], ctx: SectionContext,
              unit: str) -> Markup:
    key = failure.get("key")
    op = _op_dict(failure.get("op")) or {}
    failing_index = op.get("index")
    prefix = [p for p in (_op_dict(x) for x in as_list(failure.get("longest_prefix"))) if p]
    prefix_count = failure.get("longest_prefix_count", len(prefix))
    first_number = (prefix_count if isinstance(prefix_count, int) else len(prefix)) - len(prefix)
    order = {p["index"]: first_number + n + 1 for n, p in enumerate(prefix)}
    state_after = {p["index"]: p.get("state_after") for p in prefix}
    minimal = {d["index"] for d in (_op_dict(x) for x in as_list(failure.get("minimal_ops")))
               if d}
    lanes = _lanes(bars, {failing_index, *minimal, *order})
    lane_of = {p: n for n, p in enumerate(lanes)}
    drawn = [b for b in bars if b.process in lane_of]
    t0 = min(b.start for b in drawn)
    t1 = max([b.end for b in drawn if b.end is not None] + [b.start for b in drawn])
    pad = max((t1 - t0) * 0.03, 1.0)
    axis = TimeAxis(t0 - pad, t1 + pad, LABEL_PX, WIDTH_PX - LABEL_PX - RIGHT_PX, unit)
    lanes_bottom = TOP_PX + len(lanes) * LANE_PX
    height = lanes_bottom + 22
    parts: list[Any] = [axis.ticks(TOP_PX, lanes_bottom)]
    for n, process in enumerate(lanes):
        y = TOP_PX + n * LANE_PX
        parts.append(tag("rect", {"class": "lane", "data-process": str(process), "x": LABEL_PX,
                                  "y": y, "width": axis.width,
                                  "height": LANE_PX, "fill": "#fafafa" if n % 2 else "#f2f2f2"}))
        parts.append(tag("text", {"class": "lane-label", "x": 4, "y": y + LANE_PX - 6},
                         f"p{show(process)}"))
    end_ns = max(ctx.end_ns, t1)
    if unit == "s":
        parts.append(fault_bands(ctx.faults, axis, 0, lanes_bottom, end_ns=end_ns))
    for b in drawn:
        parts.append(_bar(b, axis, lane_of[b.process], key=key,
                          order=order.get(b.index), state=state_after.get(b.index),
                          is_minimal=b.index in minimal, is_failing=b.index == failing_index))
    parts.append(_path(drawn, order, axis, lane_of))
    failing = next((b for b in drawn if b.index == failing_index), None)
    if failing is not None:
        at = failing.end if failing.end is not None else failing.start
        x = axis.x(at)
        parts.append(tag("line", {"class": "cannot-place", "x1": x, "x2": x, "y1": 18,
                                  "y2": lanes_bottom, "stroke": "#d9534f",
                                  "stroke-dasharray": "4 3"}))
        parts.append(tag("text", {"x": x, "y": 25, "text-anchor": "end", "fill": "#d9534f"},
                         "no linearization reaches past here →"))
    return svg(WIDTH_PX, height, *parts, cls="key-timeline")


def _lanes(bars: list[Bar], marked: set[Any]) -> list[Any]:
    processes = sorted({b.process for b in bars}, key=node_order)
    if len(processes) <= MAX_LANES:
        return processes
    first = {b.process for b in bars if b.index in marked}
    chosen = sorted(processes, key=lambda p: (p not in first, node_order(p)))[:MAX_LANES]
    return sorted(chosen, key=node_order)


def _bar(b: Bar, axis: TimeAxis, lane: int, *, key: Any, order: int | None, state: Any,
         is_minimal: bool, is_failing: bool) -> Markup:
    y = TOP_PX + lane * LANE_PX + (LANE_PX - BAR_PX) / 2
    x1 = axis.x(b.start)
    x2 = axis.x(b.end) if b.end is not None else axis.x0 + axis.width
    width = max(2.0, x2 - x1)
    classes = ["op", b.type]
    stroke, stroke_width = None, None
    if is_minimal:
        classes.append("minimal")
        stroke, stroke_width = "#000", 1.5
    if order is not None:
        classes.append("prefix")
    if is_failing:
        classes.append("unplaceable")
        stroke, stroke_width = "#d9534f", 3.0
    words = [f"#{b.index} process {show(b.process)}: {phrase(_as_op(b), key)}"]
    if b.f in READS and b.type == "ok":
        words.append(f"returned {show(_plain(b.result, key))}")
    words.append(f"{b.type}, invoked {axis.fmt(b.start)}"
                 + (f", completed {axis.fmt(b.end)}" if b.end is not None else ""))
    if order is not None:
        words.append(f"linearized #{order} of the longest prefix, value after: {show(state)}")
    if is_minimal:
        words.append("in the smallest set that cannot be linearized")
    if is_failing:
        words.append("CANNOT BE PLACED: no linearization of what came before allows it")
    parts: list[Any] = [tag(
        "rect",
        {"class": " ".join(classes), "data-index": b.index, "data-process": str(b.process),
         "data-lane": lane, "data-prefix": order, "x": x1, "y": y, "width": width,
         "height": BAR_PX, "rx": 2, "fill": COLOURS.get(b.type, COLOURS["open"]),
         "fill-opacity": "0.85", "stroke": stroke, "stroke-width": stroke_width,
         "stroke-dasharray": "3 2" if b.type == "open" else None},
        title("; ".join(words)),
    )]
    label = short(b, key)
    if width > 6 * len(label) + 4:
        parts.append(tag("text", {"x": x1 + 3, "y": y + BAR_PX - 2, "fill": "#fff",
                                  "pointer-events": "none"}, label))
    if is_failing:
        parts.append(tag("text", {"class": "unplaceable-label", "x": x1 + width + 4,
                                  "y": y + BAR_PX - 1, "fill": "#d9534f"},
                         f"✗ {label}: cannot be placed"))
    return Markup("").join(parts)


def _as_op(b: Bar) -> dict[str, Any]:
    return {"f": b.f, "value": b.value}


def _path(bars: list[Bar], order: dict[int, int], axis: TimeAxis,
          lane_of: dict[Any, int]) -> Markup:
    """The prefix's linearization points, the earliest instants in its order, joined up."""
    steps = sorted((b for b in bars if b.index in order), key=lambda b: order[b.index])
    points: list[tuple[float, float, Bar]] = []
    t = float("-inf")
    for b in steps:
        t = max(t, b.start)
        if b.type == "ok" and b.end is not None and t > b.end:
            break  # the drawn steps are not a contiguous stretch of the order: stop here
        y = TOP_PX + lane_of[b.process] * LANE_PX + LANE_PX / 2
        points.append((axis.x(t), y, b))
    if not points:
        return Markup("")
    out: list[Any] = []
    if len(points) > 1:
        out.append(tag("polyline", {
            "class": "prefix-path", "fill": "none", "stroke": PREFIX_COLOUR,
            "stroke-width": 1.2, "stroke-opacity": "0.8",
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)}))
    numbered = {id(p[2]) for p in points[-NUMBERED_STEPS:]}
    for x, y, b in points:
        out.append(tag("circle", {"class": "lin-point", "data-index": b.index, "cx": x, "cy": y,
                                  "r": 3, "fill": PREFIX_COLOUR},
                       title(f"linearization point #{order[b.index]}: #{b.index}")))
        if id(b) in numbered:
            out.append(tag("text", {"x": x + 3, "y": y - 5, "fill": PREFIX_COLOUR},
                           str(order[b.index])))
    return join(out)


# --- tables ------------------------------------------------------------------------------------


def _row(op: Mapping[str, Any], key: Any, unit: str, extra: Any = None) -> Markup:
    what = phrase(op, key)
    if op.get("f") in READS and op.get("type") == "ok":
        what += f" → {show(_plain(op.get('result'), key))}"
    cells = [f"#{op.get('index')}", f"p{show(op.get('process'))}", what, str(op.get("type")),
             _fmt(op.get("time_ns"), unit), _fmt(op.get("completion_time_ns"), unit)]
    if extra is not None:
        cells.append(show(extra))
    return Markup("<tr>{}</tr>").format(join(Markup("<td>{}</td>").format(c) for c in cells))


def _prefix_table(failure: Mapping[str, Any], key: Any, unit: str) -> Markup:
    prefix = [p for p in (_op_dict(x) for x in as_list(failure.get("longest_prefix"))) if p]
    count = failure.get("longest_prefix_count", len(prefix))
    if not prefix:
        return Markup("<p>Longest linearizable prefix: {} operations.</p>").format(count)
    head = Markup("<tr><th>op</th><th>process</th><th>what</th><th>outcome</th>"
                  "<th>invoked</th><th>completed</th><th>value after</th></tr>")
    rows = [_row(p, key, unit, p.get("state_after")) for p in prefix]
    shown = rows[-PREFIX_ROWS:]
    earlier = rows[:-PREFIX_ROWS]
    more = Markup("")
    if earlier:
        more = Markup("<details><summary>{} earlier steps</summary><table>{}{}</table>"
                      "</details>").format(len(earlier), head, join(earlier))
    cut = ""
    if isinstance(count, int) and count > len(prefix):
        cut = f" (results.json keeps the last {len(prefix)})"
    return Markup(
        "<h4>Longest linearizable prefix: {} operations, in the order found{}</h4>{}"
        "<table>{}{}</table>"
    ).format(count, cut, more, head, join(shown))


def _minimal_list(failure: Mapping[str, Any], key: Any, unit: str) -> Markup:
    ops = [p for p in (_op_dict(x) for x in as_list(failure.get("minimal_ops"))) if p]
    if not ops:
        return Markup("")
    count = failure.get("minimal_ops_count", len(ops))
    qualifier = ("Smallest set" if failure.get("minimal") else
                 "A smaller set (the search for the smallest was cut short)")
    head = Markup("<tr><th>op</th><th>process</th><th>what</th><th>outcome</th>"
                  "<th>invoked</th><th>completed</th></tr>")
    return Markup("<h4>{} that cannot be linearized on its own: {} operations</h4>"
                  "<table>{}{}</table>").format(
        qualifier, count, head, join(_row(p, key, unit) for p in ops))
