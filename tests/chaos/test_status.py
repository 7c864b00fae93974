"""The status line: a pure function of a frozen `RunStatistics`, written by `Status.serve`."""

from __future__ import annotations

import dataclasses
import io

import pytest
import trio
import trio.testing

from chaos.status import PLAIN_INTERVAL_S, RunStatistics, Status, describe


def test_the_line_shows_time_phase_counts_and_faults() -> None:
    stats = RunStatistics(phase="faults", elapsed_s=12.34,
                          counts={"invoke": 320, "ok": 310, "fail": 2, "info": 1},
                          active_faults={"partition": "halves", "kill": ["n2"]})
    assert describe(stats) == (
        "  12.3s  faults           ok   310  fail    2  info    1  "
        "faults: partition: halves, kill: ['n2']"
    )


def test_a_fresh_run_shows_zeros_and_no_faults() -> None:
    assert describe(RunStatistics(phase="starting", elapsed_s=0.0)) == (
        "   0.0s  starting         ok     0  fail    0  info    0  faults: none"
    )


def test_statistics_are_frozen() -> None:
    stats = RunStatistics(phase="warm-up", elapsed_s=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.phase = "faults"  # type: ignore[misc]


async def test_serve_writes_plain_lines_when_not_a_terminal(autojump_clock: trio.testing.MockClock
                                                             ) -> None:
    stream = io.StringIO()
    phases = iter(["warm-up", "faults", "recovery"])

    def get_statistics() -> RunStatistics:
        return RunStatistics(phase=next(phases), elapsed_s=0.0)

    with trio.move_on_after(3 * PLAIN_INTERVAL_S + 0.1):
        await Status(stream).serve(get_statistics)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["warm-up", "faults", "recovery"]
