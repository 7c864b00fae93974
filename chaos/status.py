"""The live view of a run and its final summary: a rich panel on a terminal, plain lines otherwise.

    Status().serve(run.statistics)       # in the run's nursery, until cancelled
    write_summary(summary, sys.stdout)   # once the run is judged

The status reads one frozen value, `RunStatistics`, from a function it is given (trio's
`statistics()` habit), never the run's insides. Its counts are totals that only grow, as a
monitoring system's counters: a rate is the difference of two snapshots over the time between
them (`rates_per_s`), worked out by whoever looks, so the run keeps no time series for the view.
`describe(stats, earlier)` (the plain line) and `render_panel(stats, earlier)` (the live panel)
are pure functions of such snapshots; `Status.serve` only keeps the last few and draws.

- On a terminal, a `rich.live.Live` panel on stderr is redrawn every `TTY_INTERVAL_S`: the
  phase, elapsed and remaining time, operations per second by outcome over the last
  `RATE_WINDOW_S`, totals, operations in flight and the faults active now. The panel is drawn
  from this trio task (`auto_refresh=False`): rich's own refresh thread would read the run's
  state from another thread, and the virtual clock of the tests could not drive it.
- When stderr is a file or a pipe (CI), a plain line every `PLAIN_INTERVAL_S`, so logs stay
  readable (`  12.3s  faults ...`: tests and scripts match that prefix).
- The final summary (`RunSummary`, `summary_lines`, `render_summary`, `write_summary`) is a
  rich table on a terminal and the plain lines `chaos run` always printed otherwise.

Status goes to stderr, so that `--json` leaves stdout to the one summary object. rich is
imported only when something is drawn with it: `chaos run` in CI never loads it.

Not done yet: the view is dark while the history is judged (judging is one synchronous call,
which can take the checkers' whole time budget), and a simulated run has no live view (it
takes well under a second of real time for most scenarios).
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

TTY_INTERVAL_S = 0.25
PLAIN_INTERVAL_S = 2.0
RATE_WINDOW_S = 2.0  # rates are over about this much of the recent past
SAMPLES_MAX = 16  # snapshots kept for rates: RATE_WINDOW_S / TTY_INTERVAL_S, with room
OUTCOMES = ("ok", "fail", "info")
OUTCOME_STYLES = {"ok": "green", "fail": "red", "info": "yellow"}
VERDICT_STYLES = {True: "bold green", False: "bold red"}  # anything else: unknown, yellow
HISTORY_BYTES_MAX = 512 * 1024 * 1024  # counting by f reads the history; not beyond this


@dataclass(frozen=True)
class RunStatistics:
    """A snapshot of a run: its phase, seconds since it started, the clients' completions by
    type (`invoke`, `ok`, `fail`, `info`: totals since the start), the active faults (kind ->
    what they hit) and the seconds left until the run's planned end (None until the cluster is
    up and the timeline starts; the final reads and healing may take a little longer)."""

    phase: str
    elapsed_s: float
    counts: Mapping[str, int] = field(default_factory=dict)
    active_faults: Mapping[str, Any] = field(default_factory=dict)
    remaining_s: float | None = None


def rates_per_s(earlier: RunStatistics | None, now: RunStatistics) -> dict[str, float]:
    """Completions per second by outcome between two snapshots (zeros without an earlier one,
    or when no time passed between them)."""
    span_s = now.elapsed_s - earlier.elapsed_s if earlier is not None else 0.0
    if earlier is None or span_s <= 0:
        return dict.fromkeys(OUTCOMES, 0.0)
    return {o: max(0, now.counts.get(o, 0) - earlier.counts.get(o, 0)) / span_s
            for o in OUTCOMES}


def in_flight(stats: RunStatistics) -> int:
    """Operations invoked and not yet completed."""
    done = sum(stats.counts.get(o, 0) for o in OUTCOMES)
    return max(0, stats.counts.get("invoke", 0) - done)


def window_start(samples: Sequence[RunStatistics], now: RunStatistics,
                 window_s: float = RATE_WINDOW_S) -> RunStatistics | None:
    """The snapshot to measure rates from: the newest at least `window_s` before `now`, or
    the oldest there is while the run is younger than that (`samples` oldest first)."""
    earlier = [s for s in samples if s.elapsed_s < now.elapsed_s]
    if not earlier:
        return None
    old_enough = [s for s in earlier if now.elapsed_s - s.elapsed_s >= window_s]
    return old_enough[-1] if old_enough else earlier[0]


def describe_fault(value: Any) -> str:
    """What a fault hits, short: `n1, n2`, `halves`, `drop=0.5 dest=n3`."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def describe_faults(active_faults: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {describe_fault(v)}" for k, v in active_faults.items()) or "none"


def describe(stats: RunStatistics, earlier: RunStatistics | None = None) -> str:
    """The plain status line, e.g.
    `  12.3s  faults           ok   310  fail    2  info    1  41/s  14s left  faults: ...`;
    the rate (completions per second since `earlier`) is shown when there is an earlier
    snapshot, the time left once it is known."""
    counts = stats.counts
    line = (f"{stats.elapsed_s:6.1f}s  {stats.phase:<16} ok {counts.get('ok', 0):>5}  "
            f"fail {counts.get('fail', 0):>4}  info {counts.get('info', 0):>4}  ")
    if earlier is not None:
        line += f"{sum(rates_per_s(earlier, stats).values()):.0f}/s  "
    if stats.remaining_s is not None:
        line += f"{stats.remaining_s:.0f}s left  "
    return line + f"faults: {describe_faults(stats.active_faults)}"


def _clock(stats: RunStatistics) -> str:
    clock = f"{stats.elapsed_s:.1f} s elapsed"
    if stats.remaining_s is not None:
        clock += f", about {stats.remaining_s:.0f} s left"
    return clock


def render_panel(stats: RunStatistics, earlier: RunStatistics | None = None) -> RenderableType:
    """The live panel: phase and clock, a row of rates and a row of totals by outcome, and
    the faults active now."""
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    rates = rates_per_s(earlier, stats)
    span = (f"per s (last {stats.elapsed_s - earlier.elapsed_s:.0f} s)" if earlier is not None
            else "per s")
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    grid.add_column("", style="bold")
    for outcome in OUTCOMES:
        grid.add_column(outcome, justify="right", style=OUTCOME_STYLES[outcome])
    grid.add_column("in flight", justify="right")
    grid.add_row(span, *(f"{rates[o]:.1f}" for o in OUTCOMES), "")
    grid.add_row("total", *(str(stats.counts.get(o, 0)) for o in OUTCOMES),
                 str(in_flight(stats)))
    faults = Text("faults now  ", style="bold")
    if stats.active_faults:
        faults.append(describe_faults(stats.active_faults), style="magenta")
    else:
        faults.append("none", style="dim")
    head = Text.assemble(("phase ", "bold"), (stats.phase, "bold cyan"), "   ",
                         (_clock(stats), "dim"))
    return Panel(Group(head, grid, faults), title="chaos run", title_align="left",
                 expand=False)


class Status:
    """Draws a run's statistics until cancelled: a live panel when the console is a terminal,
    plain lines when it is not. `console` (a rich Console) is for tests and embedding; by
    default the status goes to `stream`, stderr unless given."""

    def __init__(self, stream: IO[str] | None = None, *, console: Console | None = None
                 ) -> None:
        self.console = console
        if console is not None:
            self.stream: IO[str] = console.file
            self.is_tty = console.is_terminal
        else:
            self.stream = stream if stream is not None else sys.stderr
            # A terminal that cannot move its cursor (TERM=dumb: an editor's shell) gets lines.
            self.is_tty = _is_tty(self.stream) and os.environ.get("TERM") != "dumb"

    async def serve(self, get_statistics: Callable[[], RunStatistics]) -> None:
        """Draw the status until cancelled; a live panel is taken off the screen when done."""
        if self.is_tty:
            await self._serve_live(get_statistics)
        else:
            await self._serve_plain(get_statistics)

    async def _serve_plain(self, get_statistics: Callable[[], RunStatistics]) -> None:
        earlier: RunStatistics | None = None
        while True:
            await trio.sleep(PLAIN_INTERVAL_S)
            stats = get_statistics()
            self.stream.write(describe(stats, earlier) + "\n")
            self.stream.flush()
            earlier = stats

    async def _serve_live(self, get_statistics: Callable[[], RunStatistics]) -> None:
        from rich.console import Console
        from rich.live import Live

        console = self.console
        own_console = console is None
        if console is None:
            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        samples: deque[RunStatistics] = deque(maxlen=SAMPLES_MAX)
        stats = get_statistics()
        samples.append(stats)
        # Stray writes to stderr (a warning) go above the panel instead of through it; stdout
        # is left alone: with --json it carries the summary object.
        live = Live(render_panel(stats), console=console, auto_refresh=False, transient=True,
                    redirect_stdout=False, redirect_stderr=own_console)
        live.start(refresh=True)
        try:
            while True:
                await trio.sleep(TTY_INTERVAL_S)
                stats = get_statistics()
                earlier = window_start(samples, stats)
                samples.append(stats)
                live.update(render_panel(stats, earlier), refresh=True)
        finally:
            live.stop()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


# == The final summary ==========================================================================


@dataclass(frozen=True)
class RunSummary:
    """What `chaos run` says when a run is over. `counts` are the clients' totals by type,
    `counts_by_f` the completions by operation (`read` -> `ok` -> 310), `checkers` each
    checker's (name, verdict, one-line details), `valid` the verdict: true, false or
    "unknown"."""

    valid: Any
    exit_code: int
    run_dir: str
    reproduce: str
    counts: Mapping[str, int] = field(default_factory=dict)
    counts_by_f: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    checkers: tuple[tuple[str, Any, str], ...] = ()


def verdict_word(valid: Any) -> str:
    """`valid`, `INVALID` or `unknown` (results say true, false or "unknown")."""
    if valid is True:
        return "valid"
    return "INVALID" if valid is False else "unknown"


def summary_lines(summary: RunSummary) -> list[str]:
    """The plain summary: what `chaos run` prints when stdout is not a terminal."""
    counts = summary.counts
    lines = [f"chaos: {counts.get('ok', 0)} ok, {counts.get('fail', 0)} fail, "
             f"{counts.get('info', 0)} info"]
    for f, by_type in summary.counts_by_f.items():
        lines.append(f"chaos:   {f:<12} " + ", ".join(
            f"{by_type.get(o, 0)} {o}" for o in OUTCOMES))
    for name, valid, details in summary.checkers:
        lines.append(f"  {name:<14} {verdict_word(valid)}" + (f"  {details}" if details else ""))
    lines.append(f"chaos: verdict {verdict_word(summary.valid)} (exit {summary.exit_code})")
    lines.append(f"chaos: run directory {summary.run_dir}")
    lines.append(f"chaos: reproduce with: {summary.reproduce}")
    return lines


def render_summary(summary: RunSummary) -> RenderableType:
    """The summary on a terminal: operations by f and outcome, each checker's verdict, the
    verdict, the run directory and the reproduce command."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    ops = Table(title="operations", box=box.SIMPLE_HEAD, title_justify="left")
    ops.add_column("f")
    for outcome in OUTCOMES:
        ops.add_column(outcome, justify="right", style=OUTCOME_STYLES[outcome])
    for f, by_type in summary.counts_by_f.items():
        ops.add_row(f, *(str(by_type.get(o, 0)) for o in OUTCOMES))
    if summary.counts_by_f:
        ops.add_section()
    ops.add_row(Text("all", style="bold"),
                *(Text(str(summary.counts.get(o, 0)), style="bold") for o in OUTCOMES))
    checks = Table(title="checkers", box=box.SIMPLE_HEAD, title_justify="left")
    checks.add_column("checker")
    checks.add_column("verdict")
    checks.add_column("details", overflow="fold")
    for name, valid, details in summary.checkers:
        checks.add_row(name, _verdict_text(valid), details)
    verdict = Text.assemble("verdict ", _verdict_text(summary.valid),
                            f" (exit {summary.exit_code})")
    where = Text.assemble(("run directory ", "bold"), summary.run_dir)
    again = Text.assemble(("reproduce with ", "bold"), summary.reproduce)
    for line in (where, again):  # the terminal wraps them: a copied command stays one line
        line.no_wrap, line.overflow = True, "ignore"
    return Group(ops, checks, verdict, where, again)


def _verdict_text(valid: Any) -> Any:
    from rich.text import Text

    style = VERDICT_STYLES[valid] if isinstance(valid, bool) else "bold yellow"
    return Text(verdict_word(valid), style=style)


def write_summary(summary: RunSummary, stream: IO[str]) -> None:
    """The summary as tables on a terminal, as plain lines otherwise."""
    if _is_tty(stream):
        from rich.console import Console

        Console(file=stream).print(render_summary(summary), crop=False)
    else:
        for line in summary_lines(summary):
            print(line, file=stream)
    stream.flush()


def count_by_f(lines: Iterable[str]) -> dict[str, dict[str, int]]:
    """The clients' completions by operation and outcome, from history lines (the nemesis's
    operations and lines that are not operations are left out), in order of first sight."""
    counts: dict[str, dict[str, int]] = {}
    for line in lines:
        try:
            op = json.loads(line)
        except ValueError:
            continue
        if not isinstance(op, dict) or op.get("process") == "nemesis":
            continue
        kind, f = op.get("type"), op.get("f")
        if kind in OUTCOMES and isinstance(f, str):
            by_type = counts.setdefault(f, dict.fromkeys(OUTCOMES, 0))
            by_type[kind] += 1
    return counts


def read_counts_by_f(history_path: Path) -> dict[str, dict[str, int]]:
    """`count_by_f` of a history file; empty when it is missing, unreadable or too large to
    read just for a summary."""
    try:
        if history_path.stat().st_size > HISTORY_BYTES_MAX:
            return {}
        with open(history_path, encoding="utf-8", errors="replace") as fh:
            return count_by_f(fh)
    except OSError:
        return {}
