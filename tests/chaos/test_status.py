"""The live view and the final summary: pure functions of frozen values, drawn by `Status`.

Rates, lines, panels and summaries are checked against literal `RunStatistics` and
`RunSummary` values; the drawing loop runs under trio's virtual clock, never real sleeps.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.testing
from rich.console import Console

from chaos.status import (
    PLAIN_INTERVAL_S,
    TTY_INTERVAL_S,
    RunStatistics,
    RunSummary,
    Status,
    count_by_f,
    describe,
    in_flight,
    rates_per_s,
    render_panel,
    render_summary,
    summary_lines,
    window_start,
    write_summary,
)

EARLIER = RunStatistics(phase="warm-up", elapsed_s=10.0,
                        counts={"invoke": 250, "ok": 240, "fail": 1, "info": 1})
NOW = RunStatistics(phase="faults", elapsed_s=12.0,
                    counts={"invoke": 330, "ok": 310, "fail": 5, "info": 3},
                    active_faults={"partition": "halves", "kill": ["n2", "n3"]},
                    remaining_s=13.6)
SUMMARY = RunSummary(
    valid=False, exit_code=1, run_dir="logs/lin/20250101T000000.000000Z-s7",
    reproduce="chaos run lin --seed 7", counts={"invoke": 8, "ok": 5, "fail": 2, "info": 1},
    counts_by_f={"read": {"ok": 3, "fail": 1, "info": 0},
                 "write": {"ok": 2, "fail": 1, "info": 1}},
    checkers=(("linearizability", False, "failed_keys=['k1']"), ("availability", True, ""),
              ("stalls", "unknown", "reason=no operations")),
)


def _text(renderable: object, *, width: int = 100) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


# -- pure functions --------------------------------------------------------------------------


def test_the_line_shows_time_phase_counts_rate_time_left_and_faults() -> None:
    assert describe(NOW, EARLIER) == (
        "  12.0s  faults           ok   310  fail    5  info    3  38/s  14s left  "
        "faults: partition: halves; kill: n2, n3"
    )


def test_a_fresh_run_shows_zeros_and_no_faults() -> None:
    assert describe(RunStatistics(phase="starting", elapsed_s=0.0)) == (
        "   0.0s  starting         ok     0  fail    0  info    0  faults: none"
    )


def test_rates_are_completions_per_second_between_two_snapshots() -> None:
    assert rates_per_s(EARLIER, NOW) == {"ok": 35.0, "fail": 2.0, "info": 1.0}
    assert rates_per_s(None, NOW) == {"ok": 0.0, "fail": 0.0, "info": 0.0}
    assert rates_per_s(NOW, NOW) == {"ok": 0.0, "fail": 0.0, "info": 0.0}  # no time passed


def test_in_flight_is_invoked_minus_completed() -> None:
    assert in_flight(NOW) == 12
    assert in_flight(RunStatistics(phase="x", elapsed_s=0.0, counts={"ok": 3})) == 0


@pytest.mark.parametrize(("elapsed", "now_s", "expected"), [
    ([], 1.0, None),  # nothing earlier
    ([0.25, 0.5], 0.75, 0.25),  # younger than the window: the oldest
    ([0.5, 1.0, 1.5, 2.0, 2.5, 3.0], 3.25, 1.0),  # the newest at least 2 s before
    ([3.0], 3.0, None),  # not earlier
])
def test_rates_are_measured_over_the_last_two_seconds(elapsed: list[float], now_s: float,
                                                      expected: float | None) -> None:
    samples = [RunStatistics(phase="p", elapsed_s=t) for t in elapsed]
    start = window_start(samples, RunStatistics(phase="p", elapsed_s=now_s))
    assert (start.elapsed_s if start is not None else None) == expected


def test_statistics_and_summaries_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        NOW.phase = "faults"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SUMMARY.valid = True  # type: ignore[misc]


def test_the_panel_shows_phase_clock_rates_totals_and_faults() -> None:
    text = _text(render_panel(NOW, EARLIER))
    assert "phase faults" in text
    assert "12.0 s elapsed, about 14 s left" in text
    rates = next(line for line in text.splitlines() if "per s (last 2 s)" in line)
    assert rates.split()[6:9] == ["35.0", "2.0", "1.0"]
    totals = next(line for line in text.splitlines() if "total" in line)
    assert totals.split()[2:6] == ["310", "5", "3", "12"]  # and 12 in flight
    assert "partition: halves; kill: n2, n3" in text


def test_the_panel_of_a_calm_moment_says_no_faults() -> None:
    assert "faults now  none" in _text(render_panel(EARLIER))


def test_the_plain_summary_is_what_chaos_run_prints_off_a_terminal() -> None:
    assert summary_lines(SUMMARY) == [
        "chaos: 5 ok, 2 fail, 1 info",
        "chaos:   read         3 ok, 1 fail, 0 info",
        "chaos:   write        2 ok, 1 fail, 1 info",
        "  linearizability INVALID  failed_keys=['k1']",
        "  availability   valid",
        "  stalls         unknown  reason=no operations",
        "chaos: verdict INVALID (exit 1)",
        "chaos: run directory logs/lin/20250101T000000.000000Z-s7",
        "chaos: reproduce with: chaos run lin --seed 7",
    ]


def test_the_summary_table_shows_counts_by_f_checkers_and_how_to_reproduce() -> None:
    lines = _text(render_summary(SUMMARY), width=120).splitlines()
    assert next(line for line in lines if line.split()[:1] == ["read"]).split() == [
        "read", "3", "1", "0"]
    assert next(line for line in lines if line.split()[:1] == ["all"]).split() == [
        "all", "5", "2", "1"]
    assert next(line for line in lines if "linearizability" in line).split()[:2] == [
        "linearizability", "INVALID"]
    assert "verdict INVALID (exit 1)" in lines
    assert "run directory logs/lin/20250101T000000.000000Z-s7" in lines
    assert "reproduce with chaos run lin --seed 7" in lines


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_write_summary_draws_tables_on_a_terminal_and_lines_elsewhere() -> None:
    plain = io.StringIO()
    write_summary(SUMMARY, plain)
    assert plain.getvalue().splitlines() == summary_lines(SUMMARY)
    terminal = _Terminal()
    write_summary(SUMMARY, terminal)
    assert "checkers" in terminal.getvalue()
    assert "chaos: verdict" not in terminal.getvalue()


def test_the_reproduce_command_stays_one_line_on_a_narrow_terminal() -> None:
    command = "chaos run partition-heal " + " ".join(f"--option-{i} {i}" for i in range(20))
    terminal = _Terminal()
    write_summary(dataclasses.replace(SUMMARY, reproduce=command), terminal)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())  # no colours
    assert f"reproduce with {command}" in plain.splitlines()


def test_counts_by_f_leave_out_invocations_the_nemesis_and_garbage() -> None:
    lines = [
        '{"type": "invoke", "process": 0, "f": "read"}',
        '{"type": "ok", "process": 0, "f": "read"}',
        '{"type": "info", "process": "nemesis", "f": "partition"}',
        '{"type": "fail", "process": 1, "f": "cas"}',
        '{"type": "info", "process": 1, "f": "read"}',
        "not json",
        "[1, 2]",
    ]
    assert count_by_f(lines) == {"read": {"ok": 1, "fail": 0, "info": 1},
                                 "cas": {"ok": 0, "fail": 1, "info": 0}}


# -- drawing ---------------------------------------------------------------------------------


def _phases(*names: str) -> Callable[[], RunStatistics]:
    """Snapshots in the given phases, 1 op per 10 ms; the last one repeats."""
    clock: Iterator[int] = iter(range(10**6))
    it = iter(names)
    last = [names[0]]

    def get_statistics() -> RunStatistics:
        tick = next(clock)
        last[0] = next(it, last[0])
        return RunStatistics(phase=last[0], elapsed_s=tick * TTY_INTERVAL_S,
                             counts={"invoke": 25 * tick, "ok": 25 * tick})

    return get_statistics


async def test_serve_writes_plain_lines_when_not_a_terminal(
        autojump_clock: trio.testing.MockClock) -> None:
    stream = io.StringIO()
    with trio.move_on_after(3 * PLAIN_INTERVAL_S + 0.1):
        await Status(stream).serve(_phases("warm-up", "faults", "recovery"))
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["warm-up", "faults", "recovery"]
    assert "/s" not in lines[0]  # no earlier snapshot yet
    assert "100/s" in lines[1]  # 25 ops per tick of TTY_INTERVAL_S


async def test_serve_draws_a_live_panel_on_a_terminal(
        autojump_clock: trio.testing.MockClock) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    phases = ["starting", "warm-up", "faults", "faults", "recovery"]
    with trio.move_on_after(len(phases) * TTY_INTERVAL_S + 0.01):
        await Status(console=console).serve(_phases(*phases))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    for phase in ("starting", "warm-up", "faults", "recovery"):
        assert f"phase {phase}" in out
    assert "100.0" in out  # the ok rate, from the second drawing on
    assert "\x1b[?25h" in out  # the cursor is given back when the view ends


def test_status_tells_a_terminal_from_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert Status(_Terminal()).is_tty
    monkeypatch.setenv("TERM", "dumb")  # no cursor to move: plain lines
    assert not Status(_Terminal()).is_tty
    assert not Status(io.StringIO()).is_tty
    assert Status(console=Console(file=io.StringIO(), force_terminal=True)).is_tty
