"""The nemesis measures each network fault's window, and each step's lateness, in the history.

A fake `FaultTarget` and a fake network whose counters the test moves by hand: a window's
record carries exactly the messages lost while its fault was in effect; the operation that
ends it (a replacing fault, a heal, the final heal) carries the record. `run_schedule` under
trio's mock clock records each step's planned time and how late it began.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from test_nemesis_plan import FakeCluster

from chaos.clients import Recorder
from chaos.nemesis import Nemesis, Step
from checker.fault_guard import faults_effective
from checker.history import load_jsonl
from checker.stalls import stalls

PARTITION = {"shape": "bridge", "clients": False,
             "grudge": {"n1": ["n4", "n5"], "n2": ["n4", "n5"], "n4": ["n1", "n2"],
                        "n5": ["n1", "n2"]}}
PARTITION_2 = {"shape": "isolate", "clients": False,
               "grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}}
LOSSY = {"clients": False, "faults": [{"src": "*", "dest": "*", "drop_probability": 0.5}]}


class Network:
    """The network's counters, moved by the test; each read is counted."""

    def __init__(self) -> None:
        self.counts = {"received": 0, "delivered": 0, "partitioned": 0, "dropped": 0}
        self.reads = 0

    def traffic(self, *, received: int = 0, partitioned: int = 0, dropped: int = 0) -> None:
        self.counts["received"] += received
        self.counts["partitioned"] += partitioned
        self.counts["dropped"] += dropped
        self.counts["delivered"] += received - partitioned - dropped

    async def stats(self) -> dict[str, Any]:
        self.reads += 1
        return dict(self.counts)


class NoisyCluster(FakeCluster):
    """Every fault or heal loses 100 messages while it is being applied: the window's record
    must not count them, since the counters are read inside the window."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    async def _call(self, *call: Any) -> None:
        await super()._call(*call)
        self.network.traffic(received=100, partitioned=100)


class Clock:
    def __init__(self) -> None:
        self.now_ns = 0

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder(tmp_path: Path, clock: Clock) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: clock.now_ns)
    yield rec
    rec.close()


def _history(recorder: Recorder) -> list[dict[str, Any]]:
    return [json.loads(line) for line in recorder.path.read_text().splitlines()]


async def test_a_heal_records_the_window_it_closed(recorder: Recorder, clock: Clock) -> None:
    network = Network()
    nemesis = Nemesis(NoisyCluster(network), recorder, counters=network.stats)
    clock.advance(1.0)
    await nemesis.apply("partition", PARTITION)
    clock.advance(2.5)
    network.traffic(received=40, partitioned=7)
    await nemesis.apply("heal", None)
    ops = _history(recorder)
    assert [(op["type"], op["f"]) for op in ops] == [
        ("invoke", "partition"), ("ok", "partition"), ("invoke", "heal"), ("ok", "heal")]
    assert "windows" not in ops[1]
    assert ops[3]["windows"] == [{
        "fault_index": 1, "f": "partition", "label": "bridge",
        "start_ns": 1_000_000_000, "end_ns": 3_500_000_000,
        "received": 40, "partitioned": 7, "dropped": 0}]
    assert network.reads == 2  # after the partition took effect, before the heal


async def test_a_fault_replacing_its_kind_closes_its_window(recorder: Recorder) -> None:
    network = Network()
    nemesis = Nemesis(FakeCluster(), recorder, counters=network.stats)
    await nemesis.apply("partition", PARTITION)
    network.traffic(received=10, partitioned=3)
    await nemesis.apply("link", LOSSY)  # another table: the partition stays
    network.traffic(received=10, partitioned=2, dropped=4)
    await nemesis.apply("partition", PARTITION_2)  # replaces the grudge: closes the first
    network.traffic(received=5, dropped=1)
    await nemesis.heal_all()
    ok = {op["index"]: op for op in _history(recorder) if op["type"] == "ok"}
    assert "windows" not in ok[3]
    assert [(w["fault_index"], w["partitioned"], w["dropped"]) for w in ok[5]["windows"]] == [
        (1, 5, 4)]
    assert [(w["fault_index"], w["f"], w["partitioned"], w["dropped"])
            for w in ok[7]["windows"]] == [(5, "partition", 0, 1), (3, "link", 2, 5)]
    assert ok[7]["value"] == {"final": True}
    assert ok[3]["f"] == "link" and ok[7]["windows"][1]["label"] == "drop 0.5"


async def test_a_synchronous_counters_callable_is_read_as_is(recorder: Recorder) -> None:
    counts = {"received": 0, "partitioned": 0, "dropped": 0}
    nemesis = Nemesis(FakeCluster(), recorder, counters=lambda: dict(counts))
    await nemesis.apply("link", LOSSY)
    counts.update(received=9, dropped=2)
    await nemesis.heal_all()
    (window,) = _history(recorder)[-1]["windows"]
    assert (window["received"], window["dropped"]) == (9, 2)


async def test_process_faults_and_a_nemesis_without_counters_record_no_window(
        recorder: Recorder) -> None:
    network = Network()
    with_counters = Nemesis(FakeCluster(), recorder, counters=network.stats)
    await with_counters.apply("kill", {"nodes": ["n1"]})
    await with_counters.apply("restart", {"nodes": ["n1"]})
    await with_counters.apply("heal", None)  # nothing open: nothing read
    assert network.reads == 0
    without = Nemesis(FakeCluster(), recorder)
    await without.apply("partition", PARTITION)
    await without.heal_all()
    assert not any("windows" in op for op in _history(recorder))


async def test_the_recorded_windows_let_the_guard_judge_each_one(recorder: Recorder,
                                                                 clock: Clock) -> None:
    """Issue 7's case: partitions that cost messages, then one cut short after a stall."""
    network = Network()
    nemesis = Nemesis(FakeCluster(), recorder, counters=network.stats)
    clock.advance(2.0)
    await nemesis.apply("partition", PARTITION_2)
    network.traffic(received=80, partitioned=30)
    clock.advance(3.0)
    await nemesis.apply("heal", None)
    clock.advance(7.0)  # the harness stalled here; the overdue steps run back to back
    await nemesis.apply("partition", PARTITION)
    clock.advance(0.002)
    await nemesis.apply("heal", None)
    await nemesis.heal_all()
    ops = load_jsonl(recorder.path)
    res = faults_effective(ops, network.counts)
    assert res["valid"] == "unknown"
    assert res["windows_judged"] == 2
    assert res["reason"].startswith("fault window 2 (partition bridge, op 5, 12.000-12.002 s, "
                                    "0.002 s long) lost no message to the partition")


async def test_run_schedule_records_each_steps_planned_time_and_lateness(
        recorder: Recorder, mock_clock: trio.testing.MockClock) -> None:
    """A step due while the harness was frozen begins late by the freeze: a stall."""
    nemesis = Nemesis(FakeCluster(), recorder)
    steps = [Step(1.0, "partition", PARTITION), Step(2.0, "heal", None)]
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(nemesis.run_schedule, steps, start=start))
        mock_clock.jump(1.0)
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(4.5)  # frozen past the heal's time
        await trio.testing.wait_all_tasks_blocked()
    invokes = [op for op in _history(recorder) if op["type"] == "invoke"]
    assert [(op["f"], op["planned_at_s"], op["late_s"]) for op in invokes] == [
        ("partition", 1.0, 0.0), ("heal", 2.0, 3.5)]


class SlowRestart(FakeCluster):
    async def restart(self, node_id: str) -> None:
        await trio.sleep(3.0)
        await super().restart(node_id)


async def test_a_step_late_only_because_the_previous_one_ran_long_is_no_stall(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0,
                        now_ns=lambda: round((trio.current_time() - start) * 1e9))
    nemesis = Nemesis(SlowRestart(), recorder)
    steps = [Step(0.5, "kill", {"nodes": ["n1"]}), Step(1.0, "restart", {"nodes": ["n1"]}),
             Step(2.0, "partition", PARTITION)]
    await nemesis.run_schedule(steps, start=start)
    recorder.close()
    ops = load_jsonl(recorder.path)
    assert [op.extra["late_s"] for op in ops if op.type == "invoke"] == [0.0, 0.0, 2.0]
    res = stalls(ops)
    assert res["valid"] is True
    assert [(s["f"], s["slip_s"]) for s in res["overrun_steps"]] == [("partition", 0.0)]
