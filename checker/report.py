"""`report.html`: one self-contained page that shows a person why a run got its verdict.

It reads only the run directory (`run.json`, `history.jsonl`, `results.json`) and writes a
single HTML file with inline CSS and SVG: no scripts, no network, so it can be attached to a CI
job or mailed. Sections: the verdict and each checker's result with its headline fields; the
timeline (one row per client process, an operation as a bar from invoke to completion coloured
ok/fail/info, nemesis faults as shaded bands until the heal of what they broke); latency
quantiles per operation; and each checker's details, where a linearizability counterexample or
a lost element shows up. Every value from the run is HTML-escaped.

The page stays small however long the run (issue 7: a 60 s broadcast run once made an 80 MB
page, each of 11,120 bars carrying a whole read set in its tooltip), and it says on the page
whatever it left out:

- A tooltip shows at most `TITLE_ELEMENTS` elements of a value, its first and its last ("[0, 1,
  2, 3, 4, ... +1234 more ..., 1240, ...]"), and at most `TITLE_CHARS` characters of any text.
- At most `MAX_DRAWN` operations are drawn one by one. Beyond that the timeline aggregates: each
  row is cut into time cells (at most `MAX_CELLS` cells in all), and a cell is coloured by the
  worst outcome of the operations that overlap it (fail, then info, then open, then ok), its
  tooltip counting the operations invoked in it by outcome and by `f`.
- More processes than `MAX_ROWS` (a long run retires a client's process at every `info`) are
  packed into rows one after another, a row holding processes whose operations do not overlap;
  only what still does not fit is left out.
- More than `MAX_BANDS` faults are merged into bands where they touch on the page; more than
  `MAX_TABLE_ROWS` kinds of operation are cut from the latency table; checker details and a
  harness error are cut at `DETAILS_CHARS` characters (results.json holds them whole).

`write_report` reads the history one line at a time and keeps a few numbers per operation (no
values), so its memory grows with the number of operations, not with the size of the reads. A
line it cannot read is left out and counted on the page: a report shows what it can.
"""

from __future__ import annotations

import heapq
import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checker.fault_kinds import breaks, heals
from checker.history import HistoryError, Op, op_from_json
from checker.intset import IntRanges, IntRangesDelta
from checker.result import brief

COLOURS = {"ok": "#3a9d5d", "fail": "#d9534f", "info": "#f0ad4e", None: "#999999"}
SEVERITY = {"ok": 0, None: 1, "info": 2, "fail": 3}  # a cell's colour: its worst outcome
# (in ascending order: `_cells` relies on it)
ROW_PX = 14
WIDTH_PX = 1100
LABEL_PX = 70
PLOT_PX = WIDTH_PX - LABEL_PX - 10
MAX_ROWS = 120  # rows of the timeline
MAX_DRAWN = 3000  # operations drawn one by one; beyond, the timeline aggregates them
MAX_CELLS = 6000  # cells of an aggregated timeline, over all its rows
CELL_PX_MIN = 3  # the narrowest cell
CELLS_PER_ROW_MIN = 20
MAX_BANDS = 200  # fault bands drawn one by one; beyond, bands that touch are merged
MAX_LABELLED_BANDS = 40  # fault names written under the timeline
MAX_TABLE_ROWS = 50  # kinds of operation in the latency table
TITLE_ELEMENTS = 10  # elements of a list shown in a tooltip
TITLE_CHARS = 200  # characters of any one value shown in a tooltip
DETAILS_CHARS = 20_000  # characters of a checker's details (results.json holds them whole)


def quantiles(
    values: list[float], qs: tuple[float, ...] = (0.5, 0.95, 0.99, 1.0)
) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for q in qs:
        i = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        out[f"p{int(q * 100)}" if q < 1 else "max"] = ordered[i]
    return out


def brief_value(value: Any) -> str:
    """A value as JSON for a tooltip: at most `TITLE_ELEMENTS` elements of a list, its first
    and its last (the newest, in a broadcast read), with how many more there were between; and
    at most `TITLE_CHARS` characters. A read held as a delta (`checker.intset`) says its size
    and what changed since its base, the node's previous read: resolving it would take the
    history before it, which the report streams past."""
    if isinstance(value, IntRangesDelta):
        text = (f"{value.count} elements (+{len(value.add)}, -{len(value.remove)} since "
                f"#{value.base})")
    elif isinstance(value, IntRanges):  # a read held as ranges: the ranges say it shortest
        shown = [f"{lo}..{hi}" if hi > lo else str(lo) for lo, hi in value.ranges()]
        if len(shown) > TITLE_ELEMENTS:
            shown[TITLE_ELEMENTS // 2: -TITLE_ELEMENTS // 2] = [
                f"... +{len(shown) - TITLE_ELEMENTS} more ranges ..."]
        text = f"{len(value)} elements: {', '.join(shown)}"
    elif isinstance(value, list) and len(value) > TITLE_ELEMENTS:
        head, tail = TITLE_ELEMENTS // 2, TITLE_ELEMENTS - TITLE_ELEMENTS // 2
        first = ", ".join(_json(v) for v in value[:head])
        last = ", ".join(_json(v) for v in value[-tail:])
        text = f"[{first}, ... +{len(value) - TITLE_ELEMENTS} more ..., {last}]"
    else:
        text = _json(value)
    return _cut(text, TITLE_CHARS)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _cut(text: str, limit: int, note: str = "") -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters{note})"


def _nemesis_windows(ops: Iterable[Op]) -> list[tuple[int, int | None, str]]:
    """(start_ns, end_ns or None, label) of each fault, from its `ok` until an `ok` heal of the
    condition it broke, read from the fault-kind table (`checker.fault_kinds`): a network heal
    ends partitions and link faults, a restart ends kills and stops, the final heal ends all."""
    windows: list[tuple[int, int | None, str]] = []
    open_: dict[str, list[tuple[int, str]]] = defaultdict(list)  # condition -> open bands
    for op in ops:
        if op.process != "nemesis" or op.type != "ok":
            continue
        for condition in sorted(heals(op.f, op.value)):
            windows.extend((start, op.time, label) for start, label in open_.pop(condition, []))
        broken = breaks(op.f, op.value)
        if broken is None:
            continue
        value = op.value if isinstance(op.value, dict) else {}
        label = op.f + (f" {value.get('shape')}" if value.get("shape") else "")
        if value.get("nodes"):
            label += " " + ",".join(map(str, value["nodes"]))
        open_[broken].append((op.time, _cut(label, TITLE_CHARS)))
    for bands in open_.values():
        windows.extend((start, None, label) for start, label in bands)
    return windows


@dataclass(slots=True)
class _Bar:
    """One client operation, without its values (but for a tooltip while few are kept)."""

    process: Any
    f: str
    start: int
    end: int | None  # None: never completed
    outcome: str | None  # ok, fail, info; None: never completed
    title: str | None


@dataclass
class _Summary:
    """What the page needs from a history, gathered in one pass (`summarize`)."""

    end_ns: int = 1
    bars: list[_Bar] = field(default_factory=list)
    titled: bool = True  # every bar has its tooltip (no more than MAX_DRAWN operations)
    nemesis: list[Op] = field(default_factory=list)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unpaired: str | None = None  # why the operations could not be paired
    skipped_lines: int = 0  # lines of history.jsonl that could not be read


def summarize(ops: Iterable[Op]) -> _Summary:
    """One pass over a history (any iterable: `write_report` streams it from the file)."""
    s = _Summary()
    open_: dict[Any, _Bar] = {}
    for op in ops:
        s.end_ns = max(s.end_ns, op.time)
        if op.process == "nemesis":
            if op.type == "ok":
                s.nemesis.append(op)
            continue
        if s.unpaired is not None:
            continue
        if op.type == "invoke":
            if op.process in open_:
                s.unpaired = (
                    f"operation {op.index}: process {op.process!r} invoked again while an "
                    "operation of it is still open"
                )
                continue
            title = f"{op.f} {brief_value(op.value)}" if s.titled else None
            bar = _Bar(op.process, op.f, op.time, None, None, title)
            open_[op.process] = bar
            s.bars.append(bar)
            if s.titled and len(s.bars) > MAX_DRAWN:  # too many to draw: drop the tooltips
                s.titled = False
                for b in s.bars:
                    b.title = None
            continue
        done = open_.pop(op.process, None)
        if done is None:
            s.unpaired = (
                f"operation {op.index}: process {op.process!r} completed ({op.type}) with no "
                "open invocation"
            )
            continue
        done.end, done.outcome = op.time, op.type
        s.outcomes[done.f][op.type] += 1
        if op.type == "ok":
            s.latencies_ms[done.f].append((op.time - done.start) / 1e6)
        if done.title is not None:
            done.title += f" -> {op.type} {brief_value(op.value)}"
            if op.error is not None:
                done.title += f" ({brief_value(op.error)})"
    for bar in open_.values():
        if bar.title is not None:
            bar.title += " -> open"
    return s


def timeline_svg(ops: Iterable[Op] | _Summary) -> str:
    s = ops if isinstance(ops, _Summary) else summarize(ops)
    if s.unpaired is not None:
        return f"<p>Timeline unavailable: {html.escape(s.unpaired)}</p>"
    if not s.bars:
        return "<p>No client operations.</p>"
    rows, row_labels, left_out = _rows(s.bars)
    height = ROW_PX * len(row_labels) + 30
    scale = PLOT_PX / s.end_ns

    def x(t: int) -> float:
        return LABEL_PX + t * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height}" '
             'font-family="monospace" font-size="10">']
    notes = []
    windows = _nemesis_windows(s.nemesis)
    if len(windows) > MAX_BANDS:
        windows = _merged(windows, s.end_ns)
        notes.append(f"The run has more than {MAX_BANDS} faults: bands that touch on the page "
                     "are merged into one (hover for what each holds).")
    for start, end, label in windows:
        stop = end if end is not None else s.end_ns
        parts.append(f'<rect x="{x(start):.1f}" y="0" width="{max(1.0, x(stop) - x(start)):.1f}" '
                     f'height="{height - 20}" fill="#c8d8f0" opacity="0.6">'
                     f"<title>{html.escape(label)}</title></rect>")
        if len(windows) <= MAX_LABELLED_BANDS:
            parts.append(f'<text x="{x(start) + 2:.1f}" y="{height - 8}">'
                         f"{html.escape(label)}</text>")
    for i, label in enumerate(row_labels):
        parts.append(f'<text x="2" y="{i * ROW_PX + 10}">{html.escape(label)}</text>')
    drawn = [bar for bar in s.bars if bar.process in rows]
    if s.titled:
        for bar in drawn:
            y = rows[bar.process] * ROW_PX + 2
            end = bar.end if bar.end is not None else s.end_ns
            parts.append(f'<rect x="{x(bar.start):.1f}" y="{y}" '
                         f'width="{max(1.0, x(end) - x(bar.start)):.1f}" height="{ROW_PX - 4}" '
                         f'fill="{COLOURS.get(bar.outcome, "#999999")}">'
                         f"<title>{html.escape(bar.title or '')}</title></rect>")
    else:
        parts.extend(_cells(drawn, rows, row_labels, s.end_ns))
        notes.append(
            f"The history has {len(s.bars):,} client operations, more than the {MAX_DRAWN:,} "
            "drawn one by one, so the timeline aggregates them: each cell of a row is coloured "
            "by the worst outcome among the operations overlapping it (red fail, orange info, "
            "grey open, green ok); hover for the operations invoked in it."
        )
    parts.append("</svg>")
    if len(row_labels) < len({bar.process for bar in s.bars}):
        notes.append("There are more client processes than rows: each row holds several "
                     "processes one after another (a client goes on under a new process after "
                     "an info).")
    if left_out:
        notes.append(f"{left_out} more processes not drawn ({len(s.bars) - len(drawn):,} "
                     "operations).")
    return "".join(parts) + "".join(f"<p>{html.escape(n)}</p>" for n in notes)


def _rows(bars: list[_Bar]) -> tuple[dict[Any, int], list[str], int]:
    """Process -> row, the row labels, and how many processes are left out.

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
        return {p: i for i, p in enumerate(processes)}, [str(p) for p in processes], 0
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
    labels = [str(m[0]) + (f" +{len(m) - 1}" if len(m) > 1 else "") for m in members]
    return rows, labels, left_out


def _cells(bars: list[_Bar], rows: dict[Any, int], labels: list[str], end_ns: int) -> list[str]:
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
    parts = []
    for (row, cell), severity in sorted(worst.items()):
        t0, t1 = cell * cell_ns / 1e9, (cell + 1) * cell_ns / 1e9
        counts = invoked.get((row, cell), Counter())
        outcomes = ", ".join(f"{counts[k]} {k}" for k in ("ok", "fail", "info", "open")
                             if counts[k])
        fs = sorted(((n, k[2:]) for k, n in counts.items() if k.startswith("f ")), reverse=True)
        kinds = ", ".join(f"{_cut(f, 40)} {n}" for n, f in fs[:4])
        kinds += f", {len(fs) - 4} more kinds" if len(fs) > 4 else ""
        title = (f"{labels[row]}: {t0:.3f}-{t1:.3f} s, "
                 + (f"{sum(n for n, _ in fs)} invoked: {outcomes}; {kinds}" if fs
                    else "operations invoked earlier still running"))
        parts.append(f'<rect x="{LABEL_PX + cell * width:.1f}" y="{row * ROW_PX + 2}" '
                     f'width="{max(1.0, width - 0.5):.1f}" height="{ROW_PX - 4}" '
                     f'fill="{COLOURS[by_severity[severity]]}"><title>{html.escape(title)}'
                     "</title></rect>")
    return parts


def _merged(
    windows: list[tuple[int, int | None, str]], end_ns: int
) -> list[tuple[int, int | None, str]]:
    """Fault windows that touch on the page (within one pixel) merged into one band each."""
    touch_ns = end_ns / PLOT_PX
    merged: list[tuple[int, int, Counter[str]]] = []
    for start, end, label in sorted(windows, key=lambda w: w[0]):
        stop = end if end is not None else end_ns
        kind = label.split(" ", 1)[0]
        if merged and start <= merged[-1][1] + touch_ns:
            first, last, kinds = merged[-1]
            kinds[kind] += 1
            merged[-1] = (first, max(last, stop), kinds)
        else:
            merged.append((start, stop, Counter({kind: 1})))
    out: list[tuple[int, int | None, str]] = []
    for start, stop, kinds in merged:
        n = sum(kinds.values())
        what = ", ".join(f"{k} x{c}" for k, c in kinds.most_common(5))
        out.append((start, stop, f"{n} faults: {what}" if n > 1 else what.removesuffix(" x1")))
    return out


def latency_table(ops: Iterable[Op] | _Summary) -> str:
    s = ops if isinstance(ops, _Summary) else summarize(ops)
    if s.unpaired is not None:
        return ""
    rows = ["<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>p50 ms</th><th>p95 ms</th>"
            "<th>p99 ms</th><th>max ms</th></tr>"]
    kinds = sorted(s.outcomes, key=lambda f: (-sum(s.outcomes[f].values()), f))
    for f in sorted(kinds[:MAX_TABLE_ROWS]):
        q = quantiles(s.latencies_ms.get(f, []))
        cells = "".join(f"<td>{q[k]:.2f}</td>" if k in q else "<td>-</td>"
                        for k in ("p50", "p95", "p99", "max"))
        o = s.outcomes[f]
        rows.append(f"<tr><td>{html.escape(_cut(f, TITLE_CHARS))}</td><td>{o['ok']}</td>"
                    f"<td>{o['fail']}</td><td>{o['info']}</td>{cells}</tr>")
    more = len(kinds) - MAX_TABLE_ROWS
    note = f"<p>{more} less frequent kinds of operation not shown.</p>" if more > 0 else ""
    return "<table>" + "".join(rows) + "</table>" + note


def _verdict(valid: Any) -> tuple[str, str]:
    if valid is True:
        return "valid", "#3a9d5d"
    if valid is False:
        return "INVALID", "#d9534f"
    return "unknown", "#f0ad4e"


def render(run_info: dict[str, Any], results: dict[str, Any], ops: Iterable[Op]) -> str:
    word, colour = _verdict(results.get("valid"))
    checker_rows = []
    for name, r in results.get("results", {}).items():
        w, c = _verdict(r.get("valid"))
        details = _cut(json.dumps(r, indent=2, default=str), DETAILS_CHARS, "; see results.json")
        headline = _cut(brief(r), TITLE_CHARS)
        checker_rows.append(
            f'<details{" open" if r.get("valid") is not True else ""}><summary>'
            f'<b style="color:{c}">{w}</b> {html.escape(name)}'
            + (f" <code>{html.escape(headline)}</code>" if headline else "")
            + f"</summary><pre>{html.escape(details)}</pre></details>"
        )
    if results.get("harness_error"):
        error = _cut(str(results["harness_error"]), DETAILS_CHARS)
        checker_rows.insert(0, f"<pre>{html.escape(error)}</pre>")
    params = {k: run_info.get(k) for k in ("scenario", "workload", "service", "node_cmd", "bug",
                                           "seed", "nodes", "time_limit_s", "rate",
                                           "concurrency", "started_at", "exit_code")}
    reproduce = _cut(str(run_info.get("reproduce", "")), DETAILS_CHARS)
    s = summarize(ops)
    s.skipped_lines = getattr(ops, "skipped_lines", 0)  # known once `ops` was read through
    history_note = (f"<p>{s.skipped_lines} line(s) of history.jsonl could not be read and are "
                    "left out.</p>" if s.skipped_lines else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>chaos run {html.escape(str(params['scenario']))}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
pre{{background:#f6f6f6;padding:8px;overflow:auto;max-height:30em}}</style></head><body>
<h1>{html.escape(str(params['scenario']))}: <span style="color:{colour}">{word}</span></h1>
<p>Reproduce: <code>{html.escape(reproduce)}</code></p>
<pre>{html.escape(_cut(json.dumps(params, indent=2, default=str), DETAILS_CHARS))}</pre>
<h2>Checkers</h2>{''.join(checker_rows) or '<p>No checker ran.</p>'}
<h2>Timeline</h2><p>One row per client process; green ok, red fail, orange info; blue bands are
faults until their heal. Hover for details: a value shows at most {TITLE_ELEMENTS} elements
and {TITLE_CHARS} characters.</p>{history_note}{timeline_svg(s)}
<h2>Latency</h2>{latency_table(s)}
</body></html>
"""


class _HistoryLines:
    """The operations of a `history.jsonl`, read one line at a time; a line that is not an
    operation is skipped and counted (`skipped_lines`) rather than failing the report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped_lines = 0

    def __iter__(self) -> Iterator[Op]:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    op = op_from_json(json.loads(line), where=f"{self.path}:{lineno}")
                except (ValueError, HistoryError):
                    self.skipped_lines += 1
                    continue
                yield op


def write_report(run_dir: Path) -> Path:
    """Render `run_dir/report.html` from the run's files and return its path."""
    run_info = _read_json(run_dir / "run.json")
    results = _read_json(run_dir / "results.json")
    history = run_dir / "history.jsonl"
    ops: Iterable[Op] = _HistoryLines(history) if history.exists() else []
    path = run_dir / "report.html"
    path.write_text(render(run_info, results, ops), encoding="utf-8")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
