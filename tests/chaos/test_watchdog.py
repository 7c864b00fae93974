"""The watchdog records a stall when its timer wakes late, and only then.

A real stall cannot happen on trio's virtual clock; `MockClock.jump` is one: time moves on
while no task runs, exactly as when the orchestrator is stopped. The `stalls` checker then
makes the run unknown, naming the stall.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from chaos.clients import Recorder
from chaos.watchdog import watch
from checker.history import load_jsonl
from checker.stalls import stalls


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "history.jsonl", epoch_ns=0,
                   now_ns=lambda: round(trio.current_time() * 1e9))
    yield rec
    rec.close()


async def _tick(clock: trio.testing.MockClock, seconds: float) -> None:
    clock.jump(seconds)
    await trio.testing.wait_all_tasks_blocked()


async def test_a_frozen_harness_is_recorded_as_a_stall_and_makes_the_run_unknown(
        recorder: Recorder, mock_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(watch, recorder, interval_s=0.1, threshold_s=1.0))
        for _ in range(20):  # two seconds of timely ticks
            await _tick(mock_clock, 0.1)
        await _tick(mock_clock, 3.0)  # stopped for three seconds
        await _tick(mock_clock, 0.1)
        nursery.cancel_scope.cancel()
    ops = load_jsonl(recorder.path)
    assert [(op.type, op.process, op.f) for op in ops] == [
        ("invoke", "nemesis", "stall"), ("ok", "nemesis", "stall")]
    assert ops[0].value == {"slip_s": pytest.approx(2.9), "slept_s": pytest.approx(3.0),
                            "threshold_s": 1.0}
    res = stalls(ops)
    assert res["valid"] == "unknown"
    assert res["stall_count"] == 1
    assert res["reason"].startswith("the harness stalled for 3.00 s until 5.000 s (op 0)")


async def test_slips_within_the_threshold_are_not_stalls(
        recorder: Recorder, mock_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(watch, recorder, interval_s=0.1, threshold_s=1.0))
        for seconds in (0.1, 0.5, 1.05, 0.1):  # late by up to 0.95 s: a busy machine
            await _tick(mock_clock, seconds)
        nursery.cancel_scope.cancel()
    assert load_jsonl(recorder.path) == []


async def test_the_threshold_and_the_clock_are_the_callers(
        recorder: Recorder, autojump_clock: trio.abc.Clock) -> None:
    """An injected clock that leaps once; a threshold of 0.2 s catches a 0.25 s slip."""
    leaps = iter([0.0, 0.1, 0.2, 0.55, 0.65])

    def now_s() -> float:
        return next(leaps, 10.0)

    with trio.move_on_after(0.45):
        await watch(recorder, interval_s=0.1, threshold_s=0.2, now_s=now_s)
    (invoke, _ok) = load_jsonl(recorder.path)
    assert invoke.value == {"slip_s": pytest.approx(0.25), "slept_s": pytest.approx(0.35),
                            "threshold_s": 0.2}


@pytest.mark.parametrize(("interval_s", "threshold_s"), [(0.0, 1.0), (0.1, -1.0)])
async def test_nonsense_settings_are_refused(recorder: Recorder, interval_s: float,
                                             threshold_s: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        await watch(recorder, interval_s=interval_s, threshold_s=threshold_s)
