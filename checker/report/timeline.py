"""The timeline's geometry: lanes, operation bars (or aggregated cells), fault bands and the
time axis, as plain values the templates draw (`templates/charts.html.j2`).

Time runs along x, from 0 to the history's end, over `PLOT_PX` viewBox units: the same axis
for every time chart, so that they zoom and pan together (`templates/zoom.js` changes the
viewBox). An operation is a bar from `x(invoke)` to `x(completion)` in its process's lane (at
least one unit wide); one never completed runs to the end. At most `MAX_DRAWN` operations are
drawn one by one, each with its tooltip; beyond, each lane is cut into time cells (at most
`MAX_CELLS` in all) coloured by the worst outcome of the operations overlapping them, and the
operations themselves go to the page as compact columns (`zoom_data`, at most `MAX_ZOOM_OPS`)
for the script to draw one by one once a zoom shows few enough. More processes than `MAX_ROWS`
are packed into lanes one after another; more than `MAX_BANDS` faults are merged where they
touch. Each of these says so in `notes`, which the page prints.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.report.limits import (
    AXIS_PX,
    BAND_LABEL_PX,
    CELL_PX_MIN,
    CELLS_PER_ROW_MIN,
    MAX_BANDS,
    MAX_CELLS,
    MAX_DRAWN,
    MAX_LABELLED_BANDS,
    MAX_ROWS,
    MAX_ZOOM_OPS,
    OUTCOME_CLASS,
    PLOT_PX,
    ROW_PX,
    SEVERITY,
    TITLE_CHARS,
)
from checker.report.summary import Bar, Summary, cut
from checker.sections import FaultWindow


@dataclass(frozen=True, slots=True)
class Mark:
    """A rectangle on a chart: `css` is its class (an outcome: ok, fail, info, open)."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Band:
    """A fault (or several merged) across a chart, from `x` for `width` units."""

    x: float
    width: float
    label: str  # what it is: `partition halves n1,n2`
    title: str  # and when, and what it cost, for the tooltip


@dataclass(frozen=True, slots=True)
class Lane:
    y: float
    label: str
    title: str


@dataclass
class Timeline:
    lanes: list[Lane] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    labelled_bands: bool = True  # names written under the lanes (not when too many)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aggregated: bool = False
    zoom_data: dict[str, Any] | None = None
    unavailable: str | None = None  # why there is no timeline

    @property
    def lanes_px(self) -> int:
        return ROW_PX * len(self.lanes)

    @property
    def height(self) -> int:
        return self.lanes_px + BAND_LABEL_PX + AXIS_PX


def x_of(t_ns: float, end_ns: int) -> float:
    """The x of time `t_ns` on every time chart."""
    return t_ns * PLOT_PX / end_ns


def fmt_s(t_ns: float) -> str:
    return f"{t_ns / 1e9:.3f} s"


def bands(
    faults: Sequence[FaultWindow],
    end_ns: int,
    counters: Mapping[int, Mapping[str, Any]] | None = None,
) -> tuple[list[Band], list[str]]:
    """The fault bands of every time chart, and a note when there were too many to draw one
    by one. A band still open at the end runs to the end."""
    notes = []
    windows = list(faults)
    if len(windows) > MAX_BANDS:
        windows = merged(windows, end_ns)
        notes.append(f"The run has more than {MAX_BANDS} faults: bands that touch on the page "
                     "are merged into one (hover for what each holds).")
    out = []
    for w in windows:
        stop = w.end_ns if w.end_ns is not None else end_ns
        x0, x1 = x_of(w.start_ns, end_ns), x_of(stop, end_ns)
        when = f"{fmt_s(w.start_ns)} to " + (fmt_s(stop) if w.end_ns is not None
                                             else "the end (never healed)")
        title = f"{w.label}: {when}"
        cost = (counters or {}).get(w.start_ns)
        if cost is not None and cost.get("received"):
            title += (f"; {cost.get('partitioned', 0)} partitioned and {cost.get('dropped', 0)} "
                      f"dropped of {cost['received']} messages")
        out.append(Band(round(x0, 2), round(max(1.0, x1 - x0), 2), w.label, title))
    return out, notes


def merged(windows: Sequence[FaultWindow], end_ns: int) -> list[FaultWindow]:
    """Fault windows that touch on the page (within one unit) merged into one window each,
    labelled with how many faults of which kinds it holds."""
    touch_ns = end_ns / PLOT_PX
    spans: list[tuple[int, int, Counter[str]]] = []
    for w in sorted(windows, key=lambda w: w.start_ns):
        stop = w.end_ns if w.end_ns is not None else end_ns
        kind = w.label.split(" ", 1)[0]
        if spans and w.start_ns <= spans[-1][1] + touch_ns:
            first, last, kinds = spans[-1]
            kinds[kind] += 1
            spans[-1] = (first, max(last, stop), kinds)
        else:
            spans.append((w.start_ns, stop, Counter({kind: 1})))
    out = []
    for start, stop, kinds in spans:
        n = sum(kinds.values())
        what = ", ".join(f"{k} x{c}" for k, c in kinds.most_common(5))
        out.append(FaultWindow(start, stop,
                               f"{n} faults: {what}" if n > 1 else what.removesuffix(" x1")))
    return out


def time_ticks(end_ns: int, *, count: int = 10) -> list[tuple[float, str]]:
    """About `count` ticks at round seconds over the whole run: (x, label)."""
    end_s = end_ns / 1e9
    step = nice_step(end_s / count)
    ticks = []
    for i in range(int(end_s / step) + 1):
        t_s = i * step
        ticks.append((round(x_of(t_s * 1e9, end_ns), 2), f"{t_s:.{decimals(step)}f} s"))
    return ticks


def nice_step(raw: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least `raw`."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10 * power


def decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def timeline(s: Summary) -> Timeline:
    """The timeline of a summarized history."""
    end_ns = s.end_ns
    tl = Timeline()
    if s.unpaired is not None:
        tl.unavailable = f"Timeline unavailable: {s.unpaired}"
        return tl
    if not s.bars:
        tl.unavailable = "No client operations."
        return tl
    rows, members, left_out = pack_rows(s.bars)
    for i, m in enumerate(members):
        label = str(m[0]) + (f" +{len(m) - 1}" if len(m) > 1 else "")
        shown = ", ".join(str(p) for p in m[:20]) + (f" and {len(m) - 20} more"
                                                     if len(m) > 20 else "")
        title = (f"process {m[0]}" if len(m) == 1
                 else f"processes {shown}, one after another")
        tl.lanes.append(Lane(i * ROW_PX, cut(label, 12), cut(title, TITLE_CHARS)))
    tl.bands, notes = bands(s.faults, end_ns, s.window_counters)
    tl.notes += notes
    tl.labelled_bands = len(tl.bands) <= MAX_LABELLED_BANDS
    tl.ticks = time_ticks(end_ns)
    drawn = [bar for bar in s.bars if bar.process in rows]
    if s.titled:
        tl.marks = [bar_mark(bar, rows[bar.process], end_ns) for bar in drawn]
    else:
        tl.aggregated = True
        tl.marks = cells(drawn, rows, [lane.label for lane in tl.lanes], end_ns)
        tl.notes.append(
            f"The history has {len(s.bars):,} client operations, more than the {MAX_DRAWN:,} "
            "drawn one by one, so the timeline aggregates them: each cell of a row is coloured "
            "by the worst outcome among the operations overlapping it (red fail, orange info, "
            "grey open, green ok); hover for the operations invoked in it.")
        if len(drawn) <= MAX_ZOOM_OPS:
            tl.zoom_data = zoom_data(drawn, rows)
            tl.notes.append(
                f"Zoom in until at most {MAX_DRAWN:,} operations are in view and they are "
                "drawn one by one, with their times and outcome (their values are not on the "
                "page: see history.jsonl).")
        else:
            tl.notes.append(
                f"The page carries no more than {MAX_ZOOM_OPS:,} operations to draw one by one "
                "when zoomed in, so zooming in magnifies the cells only.")
    if len(members) < len(s.processes):
        tl.notes.append("There are more client processes than rows: each row holds several "
                        "processes one after another (a client goes on under a new process "
                        "after an info).")
    if left_out:
        tl.notes.append(f"{left_out} more processes not drawn ({len(s.bars) - len(drawn):,} "
                        "operations).")
    return tl


def bar_mark(bar: Bar, row: int, end_ns: int) -> Mark:
    end = bar.end if bar.end is not None else end_ns
    x0, x1 = x_of(bar.start, end_ns), x_of(end, end_ns)
    return Mark(round(x0, 2), row * ROW_PX + 2, round(max(1.0, x1 - x0), 2), ROW_PX - 4,
                OUTCOME_CLASS[bar.outcome],
                f"process {bar.process}, {fmt_s(bar.start)} to "
                + (f"{fmt_s(bar.end)} ({(bar.end - bar.start) / 1e6:.2f} ms): "
                   if bar.end is not None else "the end: ")
                + (bar.title or bar.f))


def pack_rows(bars: Sequence[Bar]) -> tuple[dict[Any, int], list[list[Any]], int]:
    """Process -> row, the processes of each row, and how many processes are left out.

    One row per process while they fit; otherwise processes are packed into rows in the order
    they began, each into the first row whose last process ended before it began."""
    spans: dict[Any, list[int]] = {}
    for bar in bars:
        end = bar.end if bar.end is not None else 2**63
        span = spans.setdefault(bar.process, [bar.start, end])
        span[0] = min(span[0], bar.start)
        span[1] = max(span[1], end)
    processes = sorted(spans, key=lambda p: (str(type(p)), p))
    if len(processes) <= MAX_ROWS:
        return {p: i for i, p in enumerate(processes)}, [[p] for p in processes], 0
    rows: dict[Any, int] = {}
    members: list[list[Any]] = []
    free: list[tuple[int, int]] = []  # (end of its last process, row)
    left_out = 0
    for p in sorted(spans, key=lambda p: spans[p][0]):
        start, end = spans[p]
        if free and free[0][0] < start:
            _, row = heapq.heappop(free)
        elif len(members) < MAX_ROWS:
            row = len(members)
            members.append([])
        else:
            left_out += 1
            continue
        rows[p] = row
        members[row].append(p)
        heapq.heappush(free, (end, row))
    return rows, members, left_out


def cells(bars: Sequence[Bar], rows: Mapping[Any, int], labels: Sequence[str],
          end_ns: int) -> list[Mark]:
    """The aggregated timeline: per row, time cells coloured by their worst outcome."""
    per_row = max(CELLS_PER_ROW_MIN, min(PLOT_PX // CELL_PX_MIN, MAX_CELLS // len(labels)))
    cell_ns = end_ns / per_row
    # Per row and outcome, how many operations overlap each cell: a difference array, so that a
    # long operation costs two entries, not one per cell it covers.
    overlap = [[[0] * (per_row + 1) for _ in SEVERITY] for _ in labels]
    invoked: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for bar in bars:
        row = rows[bar.process]
        first = min(per_row - 1, max(0, int(bar.start / cell_ns)))
        end = bar.end if bar.end is not None else end_ns
        last = min(per_row - 1, max(first, int(end / cell_ns)))
        diff = overlap[row][SEVERITY[bar.outcome]]
        diff[first] += 1
        diff[last + 1] -= 1
        counts = invoked[(row, first)]
        counts[bar.outcome or "open"] += 1
        counts["f " + bar.f] += 1
    worst: dict[tuple[int, int], int] = {}
    for row, by_severity_diff in enumerate(overlap):
        for severity, diff in enumerate(by_severity_diff):
            running = 0
            for cell in range(per_row):
                running += diff[cell]
                if running:
                    worst[(row, cell)] = severity  # severities ascend: the last one wins
    by_severity = {v: k for k, v in SEVERITY.items()}
    width = PLOT_PX / per_row
    out = []
    for (row, cell), severity in sorted(worst.items()):
        t0, t1 = cell * cell_ns / 1e9, (cell + 1) * cell_ns / 1e9
        counts = invoked.get((row, cell), Counter())
        outcomes = ", ".join(f"{counts[k]} {k}" for k in ("ok", "fail", "info", "open")
                             if counts[k])
        fs = sorted(((n, k[2:]) for k, n in counts.items() if k.startswith("f ")), reverse=True)
        kinds = ", ".join(f"{cut(f, 40)} {n}" for n, f in fs[:4])
        kinds += f", {len(fs) - 4} more kinds" if len(fs) > 4 else ""
        title = (f"{labels[row]}: {t0:.3f}-{t1:.3f} s, "
                 + (f"{sum(n for n, _ in fs)} invoked: {outcomes}; {kinds}" if fs
                    else "operations invoked earlier still running"))
        out.append(Mark(round(cell * width, 2), row * ROW_PX + 2,
                        round(max(1.0, width - 0.5), 2), ROW_PX - 4,
                        OUTCOME_CLASS[by_severity[severity]], title))
    return out


OUTCOME_CODE = {"ok": "o", "fail": "f", "info": "i", None: "n"}


def zoom_data(bars: Sequence[Bar], rows: Mapping[Any, int]) -> dict[str, Any]:
    """The operations as columns for `zoom.js` to draw when a zoom shows few enough: invoke
    times in µs as differences from the previous (sorted by invoke), durations in µs (-1:
    never completed), lane, outcome letter (o ok, f fail, i info, n open) and kind (an index
    into `fs`). About 16 bytes an operation."""
    ordered = sorted(bars, key=lambda b: b.start)
    fs: dict[str, int] = {}
    starts, durations, lanes, kinds = [], [], [], []
    outcomes = []
    previous_us = 0
    for bar in ordered:
        start_us = bar.start // 1000
        starts.append(start_us - previous_us)
        previous_us = start_us
        durations.append(-1 if bar.end is None else (bar.end - bar.start) // 1000)
        lanes.append(rows[bar.process])
        outcomes.append(OUTCOME_CODE[bar.outcome])
        kinds.append(fs.setdefault(cut(bar.f, 40), len(fs)))
    return {"t": starts, "d": durations, "l": lanes, "o": "".join(outcomes), "k": kinds,
            "fs": list(fs)}
