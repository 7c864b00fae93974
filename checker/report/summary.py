"""What the page needs from a history, gathered in one streaming pass, and how a value is cut
short for a tooltip.

`summarize` keeps a few numbers per client operation (`Bar`: process, `f`, invoke and
completion times, outcome) and the nemesis's `ok` operations; values are kept only as a short
tooltip text, and only while there are at most `MAX_DRAWN` operations (beyond, the timeline
aggregates and no tooltip names one operation). So its memory grows with the number of
operations, not with the size of the reads. `HistoryLines` reads `history.jsonl` one line at a
time, skipping and counting what it cannot read, for `summarize` and for the sections'
`SectionContext.iter_ops`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from checker import fault_kinds as kinds
from checker.history import HistoryError, Op, op_from_json
from checker.intset import IntRanges, IntRangesDelta
from checker.report.limits import MAX_DRAWN, TITLE_CHARS, TITLE_ELEMENTS
from checker.sections import FaultWindow


def quantiles(
    values: list[float], qs: tuple[float, ...] = (0.5, 0.95, 0.99, 1.0)
) -> dict[str, float]:
    """Nearest-rank quantiles of `values`, named `p50`, `p95`, `p99` and `max`."""
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
        first = ", ".join(as_json(v) for v in value[:head])
        last = ", ".join(as_json(v) for v in value[-tail:])
        text = f"[{first}, ... +{len(value) - TITLE_ELEMENTS} more ..., {last}]"
    else:
        text = as_json(value)
    return cut(text, TITLE_CHARS)


def as_json(value: Any) -> str:
    return json.dumps(value, default=str)


def cut(text: str, limit: int, note: str = "") -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters{note})"


def fault_windows(ops: Iterable[Op]) -> list[FaultWindow]:
    """The history's fault windows (`checker.fault_kinds.fault_windows`, as results.json lists
    them), each label cut to what a page shows."""
    return [replace(w, label=cut(w.label, TITLE_CHARS)) for w in kinds.fault_windows(ops)]


@dataclass(slots=True)
class Bar:
    """One client operation, without its values (but for a tooltip while few are kept)."""

    process: Any
    f: str
    start: int
    end: int | None  # None: never completed
    outcome: str | None  # ok, fail, info; None: never completed
    title: str | None


@dataclass
class Summary:
    """What the page needs from a history, gathered in one pass (`summarize`)."""

    end_ns: int = 1
    bars: list[Bar] = field(default_factory=list)
    titled: bool = True  # every bar has its tooltip (no more than MAX_DRAWN operations)
    nemesis: list[Op] = field(default_factory=list)  # the nemesis's ok operations
    # What each network fault window cost, as its closing operation recorded it
    # (`checker.fault_kinds.WINDOW_COUNTERS`), by the window's start.
    window_counters: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    unpaired: str | None = None  # why the operations could not be paired
    skipped_lines: int = 0  # lines of history.jsonl that could not be read

    @property
    def faults(self) -> list[FaultWindow]:
        return fault_windows(self.nemesis)

    @property
    def processes(self) -> set[Any]:
        return {bar.process for bar in self.bars}


def summarize(ops: Iterable[Op]) -> Summary:
    """One pass over a history (any iterable: `write_report` streams it from the file)."""
    s = Summary()
    open_: dict[Any, Bar] = {}
    for op in ops:
        s.end_ns = max(s.end_ns, op.time)
        if op.process == "nemesis":
            if op.type == "ok":
                s.nemesis.append(op)
                for window in op.extra.get("windows") or ():
                    if isinstance(window, dict) and isinstance(window.get("start_ns"), int):
                        s.window_counters[window["start_ns"]] = window
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
            bar = Bar(op.process, op.f, op.time, None, None, title)
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
        if done.title is not None:
            done.title += f" -> {op.type} {brief_value(op.value)}"
            if op.error is not None:
                done.title += f" ({brief_value(op.error)})"
    for bar in open_.values():
        if bar.title is not None:
            bar.title += " -> open"
    return s


class HistoryLines:
    """The operations of a `history.jsonl`, read one line at a time; a line that is not an
    operation is skipped and counted (`skipped_lines`) rather than failing the report. Each
    iteration reads the file again from the start (and counts afresh)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped_lines = 0

    def __iter__(self) -> Iterator[Op]:
        skipped = 0
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    op = op_from_json(json.loads(line), where=f"{self.path}:{lineno}")
                except (ValueError, HistoryError):
                    skipped += 1
                    continue
                yield op
        self.skipped_lines = skipped
