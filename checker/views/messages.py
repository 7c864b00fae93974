"""The message diagram: the run's messages as Maelstrom's messages.svg, for a window one picks.

`message_diagram(ctx)` reads `ctx.run_dir / "messages.jsonl"`, the proxy's log (chaos/proxy.py):
one line per copy of a message, written at its outcome, `{"time": ns, "src", "dest", "type"?,
"msg_id"?, "in_reply_to"?, "fate", "delay_ms"?}`. `time` is when the outcome happened and
`delay_ms` how long the copy waited in the proxy, so a copy was sent at `time - delay_ms` and
arrived (or was lost) at `time`. Fates: `delivered`, `delayed`, `duplicated` (the extra copy)
arrive; `dropped`, `partitioned`, `unroutable`, `overflow` are lost; `forbidden` (a `chaos_`
body from a node) is refused; `malformed` frames have no destination and are only counted.

The page shows:
- an overview: a histogram of message counts over the whole run (lost ones in red), fault
  bands, the stretches whose messages are embedded, and the current window; drag over it to
  pick a window;
- inputs for the window (from, to, in seconds), buttons to page earlier and later, and a list
  of the embedded windows;
- the diagram: a vertical line per node, service and client (clients share one line when
  there are more than `CLIENT_COLUMNS_MAX`), time downward, each message an arrow from its
  sender at its send time to its receiver at its arrival; lost ones red, ending in a cross;
  hover for its type, ids, fate and delay; faults as horizontal bands.

The first window (around the failure a checker found, else the first fault, else the start)
is drawn in Python, so the page shows it without scripts and tests can check its geometry;
the inline script redraws the same geometry (`LAYOUT`) for any window picked.

Bounded: a run may log millions of messages. `checker.views.message_log` reads the file in
two passes and keeps at most `MESSAGES_MAX` messages, as compact columns (times in
microseconds, names by index). When there are more, it keeps the stretches around the
failure, each fault's start and end, and the start of the run, grown in turns until the
budget is spent, and the page says how many messages it left out and which stretches it kept.
At most `DRAW_MAX` arrows are drawn at once; a wider window says so. The script that redraws
lives in `checker.views.message_script`.
"""

from __future__ import annotations

import itertools
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from checker.sections import FaultWindow, SectionContext
from checker.views.draw import (
    FAULT_FILL,
    FAULT_OPACITY,
    STYLE,
    as_dict,
    as_list,
    as_number,
    clip,
    fault_label,
    join,
    legend,
    nice_step,
    node_order,
    section_html,
    svg,
    tag,
    title,
)
from checker.views.message_log import ARRIVES, Histogram, Kept, choose, count, keep
from checker.views.message_script import SCRIPT

MESSAGES_MAX = 100_000  # messages embedded in the page (about 25 bytes each)
DRAW_MAX = 2000  # arrows drawn at once
INITIAL_MESSAGES = 400  # messages in the first window, around its focus
CLIENT_COLUMNS_MAX = 8  # more clients than this share one line
OVERVIEW_BARS = 240
LABELS_MAX = 150  # with at most this many arrows, each carries its type as text
FATE_COLOURS = {"delivered": "#555555", "delayed": "#2a6fdb", "duplicated": "#8e44ad",
                "forbidden": "#e67e22"}
LOST_COLOUR = "#d9534f"
LAYOUT = {
    "left": 64,  # time labels
    "col": 110,  # px between lines
    "right": 20,
    "top": 34,  # names
    "bottom": 20,
    "hMin": 300,
    "hMax": 3000,
    "perMsg": 9,  # px of height per drawn message, between hMin and hMax
    "lostFrac": 0.6,  # a lost message's arrow stops this far towards its receiver
    "drawMax": DRAW_MAX,
    "labelsMax": LABELS_MAX,
    "ovLeft": 64,
    "ovWidth": 880,
    "ovHeight": 64,
}
_ids = itertools.count(1)


def message_diagram(ctx: SectionContext) -> str:
    """The diagram's HTML fragment (module docstring); one line when there is no log."""
    path = None if ctx.run_dir is None else Path(ctx.run_dir) / "messages.jsonl"
    if path is None or not path.is_file():
        return section_html("messages", Markup(
            '<p class="note">No message diagram: this run has no <code>messages.jsonl</code> '
            "(a simulated run, or an imported history, records no proxy log).</p>"))
    try:
        hist = count(path, end_ns=max(ctx.end_ns, 1))
        if not hist.count:
            return section_html("messages", Markup(
                '<p class="note">No message diagram: messages.jsonl holds no message{}.</p>'
            ).format(f" ({hist.unreadable} unreadable lines)" if hist.unreadable else ""))
        focus = _focus_times(ctx)
        chosen = choose(hist, focus, MESSAGES_MAX)
        kept = keep(path, hist, chosen, MESSAGES_MAX)
    except OSError as e:
        return section_html("messages", Markup(
            '<p class="note">No message diagram: messages.jsonl could not be read ({}).</p>'
        ).format(e.strerror or str(e)))
    return render(kept, hist, ctx.faults, focus)


def _focus_times(ctx: SectionContext) -> list[int]:
    """Times worth seeing, most telling first: where a checker found its anomaly, then each
    fault's start and end, then the start of the run."""
    results = as_dict(ctx.results.get("results")) if isinstance(ctx.results, Mapping) else {}
    if not results and isinstance(ctx.results, Mapping):  # the checkers' results themselves
        results = {k: v for k, v in ctx.results.items() if isinstance(v, Mapping)}
    found: list[int] = []
    for res in (as_dict(r) for r in results.values()):
        op = as_dict(as_dict(res.get("failure")).get("op"))
        t = as_number(op.get("completion_time_ns")) or as_number(op.get("time_ns"))
        if t is not None and res.get("checker") == "linearizability":
            found.append(int(t))
        for d in as_list(res.get("lost_details"))[:3]:
            ms = as_number(as_dict(d).get("known_ms"))
            if ms is not None:
                found.append(int(ms * 1e6))
        for d in as_list(res.get("two_leader_terms"))[:3]:
            for x in as_list(as_dict(d).get("leaders"))[1:2]:
                ms = as_number(as_dict(x).get("at_ms"))
                if ms is not None:
                    found.append(int(ms * 1e6))
    for w in ctx.faults:
        found.append(int(w.start_ns))
        if w.end_ns is not None:
            found.append(int(w.end_ns))
    found.append(0)
    return list(dict.fromkeys(max(0, t) for t in found))


# --- columns and geometry ----------------------------------------------------------------------


def columns(names: list[str]) -> tuple[list[int], list[str]]:
    """Each participant's column, and the columns' labels: nodes, then services, then clients
    (one shared column when there are more than `CLIENT_COLUMNS_MAX`)."""

    def kind(name: str) -> int:
        if _is_id(name, "n"):
            return 0
        if _is_id(name, "c"):
            return 2
        return 1

    clients = [n for n in names if kind(n) == 2]
    shared = len(clients) > CLIENT_COLUMNS_MAX
    labels: list[str] = []
    for name in sorted(names, key=lambda n: (kind(n), node_order(n))):
        label = "clients" if shared and kind(name) == 2 else name
        if label not in labels:
            labels.append(label)
    where = {label: i for i, label in enumerate(labels)}
    return [where["clients" if shared and kind(n) == 2 else n] for n in names], labels


def _is_id(name: str, prefix: str) -> bool:
    return name.startswith(prefix) and name[1:].isdigit()


def select(kept: Kept, t0_us: float, t1_us: float) -> tuple[list[int], int]:
    """The messages in flight during [t0, t1] (sent by t1, arrived or lost from t0 on): the
    first `DRAW_MAX` by send time, and how many there are in all."""
    max_dur = max(kept.dur, default=0)
    lo = bisect_left(kept.send, t0_us - max_dur)
    hi = bisect_right(kept.send, t1_us)
    out: list[int] = []
    total = 0
    for i in range(lo, hi):
        if kept.send[i] + kept.dur[i] >= t0_us:
            total += 1
            if len(out) < DRAW_MAX:
                out.append(i)
    return out, total


@dataclass(frozen=True)
class Frame:
    """The geometry of one window (the script's `draw` computes the same)."""

    t0_us: float
    t1_us: float
    height_px: float
    width_px: float

    @classmethod
    def of(cls, t0_us: float, t1_us: float, drawn: int, column_count: int) -> Frame:
        body = min(LAYOUT["hMax"], max(LAYOUT["hMin"], drawn * LAYOUT["perMsg"]))
        width = LAYOUT["left"] + column_count * LAYOUT["col"] + LAYOUT["right"]
        return cls(t0_us, t1_us, body, width)

    def y(self, t_us: float) -> float:
        return LAYOUT["top"] + (t_us - self.t0_us) / max(self.t1_us - self.t0_us, 1) * \
            self.height_px

    @staticmethod
    def x(column: int) -> float:
        return LAYOUT["left"] + column * LAYOUT["col"] + LAYOUT["col"] / 2


def arrow(kept: Kept, i: int, column_of: list[int], frame: Frame) -> tuple[float, ...]:
    """(x1, y1, x2, y2) of message i: from its sender at its send time to its receiver at its
    arrival; a lost one stops `lostFrac` of the way; one to its own column bends right."""
    xs, xd = frame.x(column_of[kept.src[i]]), frame.x(column_of[kept.dst[i]])
    ys, yr = frame.y(kept.send[i]), frame.y(kept.send[i] + kept.dur[i])
    if xs == xd:
        xd = xs + LAYOUT["col"] * 0.3
    if kept.fates[kept.fate[i]] in ARRIVES:
        return xs, ys, xd, yr
    f = LAYOUT["lostFrac"]
    return xs, ys, xs + (xd - xs) * f, ys + (yr - ys) * f


# --- rendering --------------------------------------------------------------------------------


def render(kept: Kept, hist: Histogram, faults: Sequence[FaultWindow], focus: list[int]) -> str:
    """The fragment for messages already read (`message_diagram` reads them)."""
    uid = f"cvmsg{next(_ids)}"
    column_of, labels = columns(kept.names)
    t0, t1 = initial_window(kept, focus)
    data = _data(kept, hist, faults, column_of, labels, (t0, t1))
    blob = json.dumps(data, separators=(",", ":"))
    # Inside <script>: no "</" or "<!--" may appear; JSON allows \u003c for "<" anywhere.
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    end_us = max(hist.last_ns // 1000, 1)
    drawn, total = select(kept, t0, t1)
    parts: list[Any] = [
        STYLE,
        _summary(kept, hist),
        _overview(hist, kept, faults, end_us, (t0, t1)),
        Markup(
            '<div class="msg-controls">from <input class="msg-from" type="number" step="0.001" '
            'value="{}"> to <input class="msg-to" type="number" step="0.001" value="{}"> s '
            '<button type="button" class="msg-show">show</button> '
            '<button type="button" class="msg-prev">&#9664; earlier</button> '
            '<button type="button" class="msg-next">later &#9654;</button> {}</div>'
        ).format(f"{t0 / 1e6:.6f}", f"{t1 / 1e6:.6f}", _window_list(kept)),
        Markup('<p class="note msg-note">{}</p>').format(_window_note(total, len(drawn))),
        diagram(kept, column_of, labels, faults, t0, t1, uid=uid),
        legend([(FATE_COLOURS["delivered"], "delivered"), (FATE_COLOURS["delayed"], "delayed"),
                (FATE_COLOURS["duplicated"], "duplicated copy"),
                (LOST_COLOUR, "lost (dropped, partitioned, unroutable, overflow): ends in a "
                              "cross"),
                (FATE_COLOURS["forbidden"], "forbidden"), (FAULT_FILL, "fault")]),
        Markup('<script type="application/json" class="msg-data">{}</script>').format(
            Markup(blob)),
        Markup("<script>{}</script>").format(Markup(
            SCRIPT.replace("__ID__", uid).replace("__FAULT__", FAULT_FILL)
            .replace("__OPACITY__", FAULT_OPACITY))),
    ]
    return str(tag("div", {"class": "cv cv-messages", "id": uid}, *parts))


def initial_window(kept: Kept, focus: list[int]) -> tuple[float, float]:
    """About `INITIAL_MESSAGES` messages around the first focus time that has messages near
    it (µs)."""
    n = len(kept.send)
    if not n:
        return 0.0, 1_000_000.0
    for t in [*focus, 0]:
        i = bisect_left(kept.send, t // 1000)
        if i < n and kept.send[min(i, n - 1)] - t // 1000 <= 5_000_000:
            break
    i = min(i, n - 1)
    lo = max(0, i - INITIAL_MESSAGES // 2)
    hi = min(n - 1, lo + INITIAL_MESSAGES)
    t0, t1 = float(kept.send[lo]), float(kept.send[hi])
    if t1 - t0 < 1000:
        t1 = t0 + 1000
    return t0, t1


def _window_note(total: int, drawn: int) -> str:
    if total > drawn:
        return (f"This window holds {total} messages; the first {drawn} are drawn: pick a "
                "narrower window to see the rest.")
    return f"{total} messages in this window."


def _summary(kept: Kept, hist: Histogram) -> Markup:
    fates = ", ".join(f"{n} {fate}" for fate, n in sorted(hist.fates.items(), key=lambda kv:
                                                           -kv[1]))
    text = f"messages.jsonl holds {hist.count} messages ({fates})."
    if hist.unreadable:
        text += f" {hist.unreadable} unreadable lines were skipped."
    embedded = len(kept.send)
    if kept.all_kept:
        note = f"All {embedded} messages with a sender and a receiver are embedded."
    else:
        spans = "; ".join(f"{a / 1e6:.3f} to {b / 1e6:.3f} s" for a, b in kept.windows_us[:12])
        more = f" and {len(kept.windows_us) - 12} more" if len(kept.windows_us) > 12 else ""
        note = (f"To keep the page small, {embedded} of them are embedded (at most "
                f"{MESSAGES_MAX}), around the failure and the faults: {spans}{more}. "
                f"The other {hist.count - embedded} are only counted in the overview; a window "
                "outside these stretches shows none of them.")
        if kept.cut_at_budget:
            note += " The budget ran out inside one stretch: its later messages are left out."
    return Markup('<p>{} <span class="note">{}</span></p>').format(text, note)


def _window_list(kept: Kept) -> Markup:
    if kept.all_kept or len(kept.windows_us) < 2:
        return Markup("")
    options = [Markup('<option value="">embedded stretches…</option>')]
    for a, b in kept.windows_us[:200]:
        options.append(Markup('<option value="{},{}">{:.3f} to {:.3f} s</option>').format(
            a, b, a / 1e6, b / 1e6))
    return Markup('<select class="msg-windows">{}</select>').format(join(options))


def _data(kept: Kept, hist: Histogram, faults: Sequence[FaultWindow], column_of: list[int],
          labels: list[str], view: tuple[float, float]) -> dict[str, Any]:
    deltas = [b - a for a, b in zip([0, *kept.send], kept.send, strict=False)]
    return {
        "names": kept.names, "col": column_of, "cols": labels, "types": kept.types,
        "fates": kept.fates,
        "lost": [i for i, f in enumerate(kept.fates) if f not in ARRIVES],
        "colours": [FATE_COLOURS.get(f, LOST_COLOUR) for f in kept.fates],
        "s": deltas, "d": kept.dur, "a": kept.src, "b": kept.dst, "y": kept.typ,
        "i": kept.mid, "r": kept.rid, "f": kept.fate,
        "maxd": max(kept.dur, default=0),
        "end": max(hist.last_ns // 1000, 1),
        "faults": [[w.start_ns // 1000, None if w.end_ns is None else w.end_ns // 1000,
                    fault_label(w)] for w in faults],
        "view": [view[0], view[1]],
        "embedded": [] if kept.all_kept else kept.windows_us,
        "layout": LAYOUT,
    }


def diagram(kept: Kept, column_of: list[int], labels: list[str], faults: Sequence[FaultWindow],
            t0: float, t1: float, *, uid: str) -> Markup:
    """The diagram of window [t0, t1] µs, as the script draws it."""
    drawn, _ = select(kept, t0, t1)
    frame = Frame.of(t0, t1, len(drawn), len(labels))
    height = LAYOUT["top"] + frame.height_px + LAYOUT["bottom"]
    parts: list[Any] = [tag("defs", None, *(
        Markup('<marker id="{}-a{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
               'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{}"/>'
               "</marker>").format(uid, n, FATE_COLOURS.get(fate, LOST_COLOUR))
        for n, fate in enumerate(kept.fates)
    ))] if kept.fates else []
    body: list[Any] = []
    body.append(_vertical_ticks(frame))
    body.append(_fault_rows(faults, frame))
    for c, label in enumerate(labels):
        x = frame.x(c)
        body.append(tag("line", {"class": "column", "x1": x, "x2": x, "y1": LAYOUT["top"] - 6,
                                 "y2": LAYOUT["top"] + frame.height_px, "stroke": "#bbb"}))
        body.append(tag("text", {"class": "lane-label", "x": x, "y": LAYOUT["top"] - 12,
                                 "text-anchor": "middle"}, clip(label, 16)))
    labelled = len(drawn) <= LABELS_MAX
    for i in drawn:
        body.append(_arrow_markup(kept, i, column_of, frame, uid=uid, labelled=labelled))
    parts.append(tag("g", {"class": "msg-body"}, *body))
    return Markup('<div class="msg-diagram" style="overflow:auto;max-height:80vh">{}</div>'
                  ).format(svg(frame.width_px, height, *parts, cls="msg-svg"))


def _vertical_ticks(frame: Frame) -> Markup:
    span = frame.t1_us - frame.t0_us
    if span <= 0:
        return Markup("")
    step = nice_step(span / 10)
    t = math.ceil(frame.t0_us / step) * step
    out: list[Markup] = []
    while t <= frame.t1_us and len(out) < 60:
        y = frame.y(t)
        out.append(tag("line", {"class": "tick", "x1": LAYOUT["left"] - 4, "x2": frame.width_px,
                                "y1": y, "y2": y, "stroke": "#eee"}))
        out.append(tag("text", {"x": LAYOUT["left"] - 6, "y": y + 4, "text-anchor": "end"},
                       f"{t / 1e6:.6g} s"))
        t += step
    return join(out)


def _fault_rows(faults: Sequence[FaultWindow], frame: Frame) -> Markup:
    out = []
    for w in faults:
        a = w.start_ns / 1000
        b = w.end_ns / 1000 if w.end_ns is not None else frame.t1_us
        if b < frame.t0_us or a > frame.t1_us:
            continue
        y1 = max(frame.y(a), LAYOUT["top"])
        y2 = min(frame.y(b), LAYOUT["top"] + frame.height_px)
        out.append(tag("rect", {"class": "fault", "x": LAYOUT["left"], "y": y1,
                                "width": frame.width_px - LAYOUT["left"],
                                "height": max(1.0, y2 - y1), "fill": FAULT_FILL,
                                "fill-opacity": FAULT_OPACITY}, title(fault_label(w))))
        out.append(tag("text", {"class": "fault-label", "x": frame.width_px - 4, "y": y1 + 11,
                                "text-anchor": "end"}, clip(fault_label(w), 40)))
    return join(out)


def _arrow_markup(kept: Kept, i: int, column_of: list[int], frame: Frame, *, uid: str,
                  labelled: bool) -> Markup:
    x1, y1, x2, y2 = arrow(kept, i, column_of, frame)
    fate = kept.fates[kept.fate[i]]
    lost = fate not in ARRIVES
    colour = FATE_COLOURS.get(fate, LOST_COLOUR)
    words = hover(kept, i)
    parts = [tag("line", {
        "class": f"msg {fate}" + (" lost" if lost else ""), "data-i": i,
        "data-src": kept.names[kept.src[i]], "data-dest": kept.names[kept.dst[i]],
        "x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": colour, "stroke-width": 1.2,
        "marker-end": None if lost else f"url(#{uid}-a{kept.fate[i]})"}, title(words))]
    if lost:
        parts.append(tag("path", {"class": "cross", "stroke": colour, "stroke-width": 1.6,
                                  "d": f"M {x2 - 4:.1f} {y2 - 4:.1f} L {x2 + 4:.1f} {y2 + 4:.1f} "
                                       f"M {x2 - 4:.1f} {y2 + 4:.1f} L {x2 + 4:.1f} {y2 - 4:.1f}"}))
    if labelled:
        parts.append(tag("text", {"x": (x1 + x2) / 2, "y": (y1 + y2) / 2 - 2,
                                  "text-anchor": "middle", "style": f"fill:{colour}"},
                         clip(kept.types[kept.typ[i]], 24)))
    return join(parts)


def hover(kept: Kept, i: int) -> str:
    """What hovering over message i says (the script writes the same)."""
    text = kept.types[kept.typ[i]]
    if kept.mid[i]:
        text += f" msg_id={kept.mid[i]}"
    if kept.rid[i]:
        text += f" in_reply_to={kept.rid[i]}"
    sent = kept.send[i]
    return (f"{text}\n{kept.names[kept.src[i]]} → {kept.names[kept.dst[i]]}, sent "
            f"{sent / 1e6:.6f} s, {kept.fates[kept.fate[i]]} at "
            f"{(sent + kept.dur[i]) / 1e6:.6f} s ({kept.dur[i] / 1000:.3f} ms in the proxy)")


def _overview(hist: Histogram, kept: Kept, faults: Sequence[FaultWindow], end_us: int,
              view: tuple[float, float]) -> Markup:
    left, width, height = LAYOUT["ovLeft"], LAYOUT["ovWidth"], LAYOUT["ovHeight"]
    per = max(1, math.ceil(len(hist.total) / OVERVIEW_BARS))
    totals = [sum(hist.total[i:i + per]) for i in range(0, len(hist.total), per)]
    losts = [sum(hist.lost[i:i + per]) for i in range(0, len(hist.lost), per)]
    bar_us = hist.width_ns * per / 1000
    top = max(totals, default=1) or 1

    def x(t_us: float) -> float:
        return round(left + min(1.0, max(0.0, t_us / end_us)) * width, 1)

    bars_h = height - 16
    parts: list[Any] = []
    for w in faults:
        a = w.start_ns / 1000
        b = w.end_ns / 1000 if w.end_ns is not None else end_us
        parts.append(tag("rect", {"class": "fault", "x": x(a), "y": 0,
                                  "width": max(1.0, x(b) - x(a)), "height": bars_h,
                                  "fill": FAULT_FILL, "fill-opacity": FAULT_OPACITY},
                         title(fault_label(w))))
    for k, (n, lost) in enumerate(zip(totals, losts, strict=True)):
        if not n:
            continue
        h = n / top * (bars_h - 2)
        hl = lost / top * (bars_h - 2)
        bx, bw = x(k * bar_us), max(1.0, x((k + 1) * bar_us) - x(k * bar_us) - 0.5)
        parts.append(tag("rect", {"class": "bin", "x": bx, "y": bars_h - h, "width": bw,
                                  "height": h, "fill": "#9aa7b8"},
                         title(f"{n} messages ({lost} lost) from {k * bar_us / 1e6:.3f} s")))
        if lost:
            parts.append(tag("rect", {"class": "bin-lost", "x": bx, "y": bars_h - hl,
                                      "width": bw, "height": hl, "fill": LOST_COLOUR}))
    for a, b in kept.windows_us:
        parts.append(tag("rect", {"class": "embedded", "x": x(a), "y": bars_h + 1,
                                  "width": max(1.0, x(b) - x(a)), "height": 4,
                                  "fill": "#3a9d5d"},
                         title(f"embedded: {a / 1e6:.3f} to {b / 1e6:.3f} s")))
    step = nice_step(end_us / 1e6 / 8)
    t = 0.0
    while t * 1e6 <= end_us and t < 1e7:
        parts.append(tag("text", {"x": x(t * 1e6), "y": height - 1, "text-anchor": "middle"},
                         f"{t:g} s"))
        t += step
    parts.append(tag("rect", {"class": "brush", "x": x(view[0]), "y": 0,
                              "width": max(2.0, x(view[1]) - x(view[0])), "height": bars_h,
                              "fill": "#2a6fdb", "fill-opacity": "0.18", "stroke": "#2a6fdb"}))
    return Markup('<div class="note">Messages over the whole run (red: lost; green strip: '
                  "embedded in this page). Drag over it to pick a window.</div>{}").format(
        svg(left + width + 10, height, *parts, cls="msg-overview"))
