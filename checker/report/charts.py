"""Latency and throughput over time, and latency quantiles per kind of operation: geometry as
plain values for `templates/charts.html.j2`.

Both charts share the timeline's x axis (`timeline.x_of`), so they zoom and pan with it.

- Latency: a dot per completed operation at (its invocation, its latency), by outcome, on a
  log-scale y axis running over whole decades of milliseconds. A dot is a zero-length path
  segment with a round cap and a non-scaling stroke, so it stays round when the x axis is
  zoomed, and one path per outcome holds them all. More than `MAX_POINTS` operations are drawn
  at a coarser resolution: the dots of one outcome falling on one square of `grid` units are
  drawn once (fails drawn last, on top, so a rare one is never hidden).
- Throughput: completions per second by outcome, in time buckets of a round length (at most
  `MAX_BUCKETS` of them, about 20 operations in each on average), each outcome a step line.
  The counts per finer bucket (`ThroughputChart.fine`: at most `MAX_FINE_BUCKETS`, of a round
  length that divides the bucket, at least `FINE_BUCKET_MIN_NS`) go with the page, so that
  `zoom.js` regroups them for the view: a zoomed view gets buckets of its own scale (the
  shortest round multiple of the fine length that leaves at most `MAX_BUCKETS` in view) and a
  y axis for its own peak.
- Quantiles: nearest-rank p50, p95, p99 and max of the `ok` latencies of each `f`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from checker.report.limits import (
    FINE_BUCKET_MIN_NS,
    LATENCY_PX,
    MAX_BUCKETS,
    MAX_FINE_BUCKETS,
    MAX_POINTS,
    MAX_TABLE_ROWS,
    THROUGHPUT_PX,
    TITLE_CHARS,
)
from checker.report.summary import Bar, Summary, cut, quantiles
from checker.report.timeline import nice_step, x_of

PAD_PX = 5  # space above and below the dots and lines
OUTCOMES = ("ok", "info", "fail")  # drawing order: fails on top
FLOOR_MS = 0.001  # a latency of 0 is drawn at 1 µs


@dataclass
class LatencyChart:
    height: int = LATENCY_PX
    paths: dict[str, str] = field(default_factory=dict)  # outcome -> the path of its dots
    counts: Counter[str] = field(default_factory=Counter)  # operations per outcome
    lo_ms: float = 1.0
    hi_ms: float = 10.0
    grid: int = 0  # 0: a dot per operation; else dots merged per square of `grid` units
    gridlines: list[tuple[float, str]] = field(default_factory=list)  # (y, label) per decade
    notes: list[str] = field(default_factory=list)

    def y(self, latency_ms: float) -> float:
        return log_y(latency_ms, lo_ms=self.lo_ms, hi_ms=self.hi_ms, height=self.height)

    def data_attributes(self) -> dict[str, str]:
        """The scale, for the script that draws the dots in view one by one when zoomed."""
        return {"data-lo-ms": f"{self.lo_ms:g}", "data-hi-ms": f"{self.hi_ms:g}",
                "data-floor-ms": f"{FLOOR_MS:g}", "data-pad": str(PAD_PX),
                "data-plot-height": str(self.height)}


def log_y(latency_ms: float, *, lo_ms: float, hi_ms: float, height: int) -> float:
    """The y of a latency on a log scale from `hi_ms` (top) to `lo_ms` (bottom)."""
    span = math.log10(hi_ms) - math.log10(lo_ms)
    frac = (math.log10(hi_ms) - math.log10(max(latency_ms, FLOOR_MS))) / span
    return PAD_PX + frac * (height - 2 * PAD_PX)


def decade_bounds(values_ms: list[float]) -> tuple[float, float]:
    """The whole decades of milliseconds that hold `values_ms`."""
    lo = max(min(values_ms), FLOOR_MS)
    hi = max(max(values_ms), FLOOR_MS)
    lo_ms = 10.0 ** math.floor(math.log10(lo) + 1e-12)
    hi_ms = 10.0 ** math.ceil(math.log10(hi) - 1e-12)
    return lo_ms, (hi_ms if hi_ms > lo_ms else lo_ms * 10)


def ms_label(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def latency_chart(bars: list[Bar], end_ns: int) -> LatencyChart | None:
    """The latency dots of the completed operations; None if none completed."""
    done = [bar for bar in bars if bar.end is not None]
    if not done:
        return None
    chart = LatencyChart()
    latencies = [(bar.end - bar.start) / 1e6 for bar in done if bar.end is not None]
    chart.lo_ms, chart.hi_ms = decade_bounds(latencies)
    decade = chart.lo_ms
    while decade <= chart.hi_ms * 1.0001:
        chart.gridlines.append((round(chart.y(decade), 2), ms_label(decade)))
        decade *= 10
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for bar, ms in zip(done, latencies, strict=True):
        outcome = bar.outcome or "info"
        points[outcome].append((x_of(bar.start, end_ns), chart.y(ms)))
        chart.counts[outcome] += 1
    grid = 0
    while sum(len(p) for p in points.values()) > MAX_POINTS:
        grid = max(1, grid * 2)
        points = {o: sorted({(round(x / grid) * grid, round(y / grid) * grid) for x, y in p})
                  for o, p in points.items()}
    chart.grid = grid
    for outcome in OUTCOMES:
        chart.paths[outcome] = "".join(f"M{x:.1f} {y:.1f}h0" for x, y in points.get(outcome, ()))
    if grid:
        chart.notes.append(
            f"The history has {len(done):,} completed operations, more than the "
            f"{MAX_POINTS:,} dots drawn one by one: the operations of one outcome whose dots "
            f"fall on one square of {grid} px are drawn as one dot (fails on top).")
    return chart


@dataclass
class ThroughputChart:
    height: int = THROUGHPUT_PX
    bucket_ns: int = 1_000_000_000
    counts: list[Counter[str]] = field(default_factory=list)  # per bucket, by outcome
    max_rate: float = 1.0  # the top of the y axis, ops/s
    paths: dict[str, str] = field(default_factory=dict)
    columns: list[tuple[float, float, str]] = field(default_factory=list)  # x, width, tooltip
    # {"ns": length, outcome: [count per fine bucket], ...}, for zoom.js (module docstring)
    fine: dict[str, Any] = field(default_factory=dict)

    def y(self, rate: float) -> float:
        return PAD_PX + (1 - rate / self.max_rate) * (self.height - 2 * PAD_PX)

    def data_attributes(self) -> dict[str, str]:
        """What zoom.js needs to redraw the chart for a view (`y` above)."""
        return {"data-pad": str(PAD_PX), "data-plot-height": str(self.height)}


def bucket_length_ns(end_ns: int, operations: int) -> int:
    """A round bucket length: at most `MAX_BUCKETS` buckets over the run, and about 20
    completions in each on average, but at least 10 buckets when the run allows."""
    wanted = min(MAX_BUCKETS, max(10, operations // 20))
    step_s = nice_step(end_ns / 1e9 / wanted)
    while math.ceil(end_ns / (step_s * 1e9)) > MAX_BUCKETS:
        step_s = nice_step(step_s * 1.5)
    return max(1, round(step_s * 1e9))


def nice_durations_ns(at_least_ns: int) -> Iterator[int]:
    """1, 2 and 5 times the powers of ten, in nanoseconds, from the first >= `at_least_ns`."""
    power = 1
    while True:
        for m in (1, 2, 5):
            if m * power >= at_least_ns:
                yield m * power
        power *= 10


def fine_length_ns(bucket_ns: int, end_ns: int) -> int:
    """The finest bucket zoom.js regroups: the shortest round length (1, 2 or 5 times a power
    of ten) that divides `bucket_ns`, is at least `FINE_BUCKET_MIN_NS` and gives at most
    `MAX_FINE_BUCKETS` over the run; `bucket_ns` itself if none does."""
    for fine in nice_durations_ns(FINE_BUCKET_MIN_NS):
        if fine >= bucket_ns:
            break
        if bucket_ns % fine == 0 and math.ceil(end_ns / fine) <= MAX_FINE_BUCKETS:
            return fine
    return bucket_ns


def throughput_chart(bars: list[Bar], end_ns: int) -> ThroughputChart | None:
    """Completions per second by outcome per bucket; None if none completed."""
    done = [bar for bar in bars if bar.end is not None and bar.outcome is not None]
    if not done:
        return None
    chart = ThroughputChart(bucket_ns=bucket_length_ns(end_ns, len(done)))
    n = max(1, math.ceil(end_ns / chart.bucket_ns))
    chart.counts = [Counter() for _ in range(n)]
    for bar in done:
        assert bar.end is not None and bar.outcome is not None
        chart.counts[min(n - 1, bar.end // chart.bucket_ns)][bar.outcome] += 1
    bucket_s = chart.bucket_ns / 1e9
    top = max(max(c.values(), default=0) for c in chart.counts) / bucket_s
    chart.max_rate = nice_step(top) if top > 0 else 1.0
    edges = [x_of(min(i * chart.bucket_ns, end_ns), end_ns) for i in range(n + 1)]
    for outcome in OUTCOMES:
        if not any(c[outcome] for c in chart.counts):
            continue
        d = [f"M{edges[0]:.2f} {chart.y(chart.counts[0][outcome] / bucket_s):.2f}"]
        for i, c in enumerate(chart.counts):
            if i:
                d.append(f"V{chart.y(c[outcome] / bucket_s):.2f}")
            d.append(f"H{edges[i + 1]:.2f}")
        chart.paths[outcome] = "".join(d)
    for i, c in enumerate(chart.counts):
        rates = ", ".join(f"{c[o] / bucket_s:g} {o}/s" for o in ("ok", "fail", "info"))
        chart.columns.append((round(edges[i], 2), round(edges[i + 1] - edges[i], 2),
                              f"{i * bucket_s:g} to {(i + 1) * bucket_s:g} s: {rates}"))
    fine_ns = fine_length_ns(chart.bucket_ns, end_ns)
    n_fine = max(1, math.ceil(end_ns / fine_ns))
    fine: dict[str, list[int]] = {}
    for bar in done:
        assert bar.end is not None and bar.outcome is not None
        counts = fine.setdefault(bar.outcome, [0] * n_fine)
        counts[min(n_fine - 1, bar.end // fine_ns)] += 1
    chart.fine = {"ns": fine_ns, **{o: fine[o] for o in OUTCOMES if o in fine}}
    return chart


@dataclass(frozen=True)
class QuantileRow:
    f: str
    ok: int
    fail: int
    info: int
    quantiles_ms: dict[str, float]


def latency_rows(s: Summary) -> tuple[list[QuantileRow], int]:
    """A row per kind of operation (the `MAX_TABLE_ROWS` most frequent, by name), and how
    many kinds were left out."""
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    latencies_ms: dict[str, list[float]] = defaultdict(list)
    for bar in s.bars:
        if bar.end is None or bar.outcome is None:
            continue
        outcomes[bar.f][bar.outcome] += 1
        if bar.outcome == "ok":
            latencies_ms[bar.f].append((bar.end - bar.start) / 1e6)
    kinds = sorted(outcomes, key=lambda f: (-sum(outcomes[f].values()), f))
    rows = [QuantileRow(cut(f, TITLE_CHARS), outcomes[f]["ok"], outcomes[f]["fail"],
                        outcomes[f]["info"], quantiles(latencies_ms.get(f, [])))
            for f in sorted(kinds[:MAX_TABLE_ROWS])]
    return rows, max(0, len(kinds) - MAX_TABLE_ROWS)

