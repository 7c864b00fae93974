"""The nemesis without processes: `plan` against literal schedules, `Nemesis` against a fake
`FaultTarget`, recording into a real `Recorder`."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from chaos.clients import Recorder
from chaos.nemesis import (
    FaultTarget,
    Nemesis,
    Step,
    choose_targets,
    find_leader,
    plan,
    read_schedule,
    write_schedule,
)
from checker.fault_kinds import FAULTS, RUNTIME_TARGETS, TARGETS

NODES = ["n1", "n2", "n3", "n4", "n5"]

TIMELINE = [
    {"at_s": 0, "fault": "partition", "shape": "majority-minority"},
    {"at_s": 2, "fault": "heal"},
    {"at_s": 3, "fault": "link", "drop_probability": 0.5,
     "delay": {"distribution": "constant", "ms": 5}},
    {"at_s": 4, "fault": "kill", "target": "minority"},
    {"at_s": 5, "fault": "pause", "target": "one"},
    {"at_s": 6, "fault": "resume"},
    {"at_s": 7, "fault": "restart"},
    {"at_s": 8, "fault": "clock", "target": ["n2"], "offset_ms": 250, "rate": 1.5},
]

# What seed 7 makes of TIMELINE, one second after the start. A change here changes every
# stored schedule's meaning: replays of old runs would no longer repeat them.
STEPS_SEED_7 = [
    Step(1.0, "partition", {"shape": "majority-minority", "clients": False, "grudge": {
        "n1": ["n2", "n4"], "n2": ["n1", "n3", "n5"], "n3": ["n2", "n4"],
        "n4": ["n1", "n3", "n5"], "n5": ["n2", "n4"]}}),
    Step(3.0, "heal", None),
    Step(4.0, "link", {"clients": False, "faults": [
        {"src": "*", "dest": "*", "drop_probability": 0.5,
         "delay": {"distribution": "constant", "ms": 5}}]}),
    Step(5.0, "kill", {"nodes": ["n1", "n5"]}),
    Step(6.0, "pause", {"nodes": ["n5"]}),
    Step(7.0, "resume", {"nodes": ["n5"]}),
    Step(8.0, "restart", {"nodes": ["n1", "n5"]}),
    Step(9.0, "clock", {"nodes": ["n2"], "offset_ms": 250.0, "rate": 1.5}),
]


def test_a_literal_timeline_becomes_literal_steps() -> None:
    assert plan(TIMELINE, NODES, random.Random(7), offset_s=1.0) == STEPS_SEED_7


def test_the_same_seed_plans_the_same_schedule() -> None:
    first = plan(TIMELINE, NODES, random.Random(123))
    assert plan(TIMELINE, NODES, random.Random(123)) == first


@pytest.mark.parametrize(
    ("target", "count"),
    [("one", 1), ("minority", 2), ("majority", 3), ("all", 5)],
)  # random: test_a_random_target_is_a_seeded_non_empty_subset_of_any_size
def test_targets_take_their_share_of_the_nodes(target: str, count: int) -> None:
    (step,) = plan([{"at_s": 0, "fault": "kill", "target": target}], NODES, random.Random(1))
    chosen = step.value["nodes"]
    assert len(chosen) == count
    assert set(chosen) <= set(NODES)
    assert chosen == sorted(chosen)


def test_every_target_of_the_fault_table_is_planned() -> None:
    for target in TARGETS:
        (step,) = plan([{"at_s": 0, "fault": "pause", "target": target}], NODES,
                       random.Random(1))
        assert step.value == ({"target": target} if target in RUNTIME_TARGETS
                              else {"nodes": step.value["nodes"]})


def test_a_random_target_is_a_seeded_non_empty_subset_of_any_size() -> None:
    sizes = set()
    for seed in range(200):
        (step,) = plan([{"at_s": 0, "fault": "kill", "target": "random"}], NODES,
                       random.Random(seed))
        chosen = step.value["nodes"]
        assert chosen and chosen == sorted(set(chosen)) and set(chosen) <= set(NODES)
        assert plan([{"at_s": 0, "fault": "kill", "target": "random"}], NODES,
                    random.Random(seed)) == [step]
        sizes.add(len(chosen))
    assert sizes == {1, 2, 3, 4, 5}


def test_the_leader_is_left_for_the_step_to_find_and_its_heal_takes_what_it_took() -> None:
    timeline = [
        {"at_s": 1, "fault": "kill", "target": "leader"},
        {"at_s": 2, "fault": "restart"},
        {"at_s": 3, "fault": "pause", "target": "leader"},
        {"at_s": 4, "fault": "resume"},
        {"at_s": 5, "fault": "clock", "target": "leader", "mode": "bump", "offset_ms": 300},
        {"at_s": 6, "fault": "stop", "target": ["n2"]},  # a fixed target again: fixed heal
        {"at_s": 7, "fault": "restart"},
    ]
    steps = plan(timeline, NODES, random.Random(1))
    assert [(s.f, s.value) for s in steps] == [
        ("kill", {"target": "leader"}),
        ("restart", {"target": "last"}),
        ("pause", {"target": "leader"}),
        ("resume", {"target": "last"}),
        ("clock", {"target": "leader", "offset_ms": 300.0, "rate": 1.0, "mode": "bump"}),
        ("stop", {"nodes": ["n2"]}),
        ("restart", {"nodes": ["n2"]}),
    ]
    with pytest.raises(ValueError, match="resolved when its step runs"):
        choose_targets("leader", NODES, random.Random(1))


def test_clock_modes_are_planned_with_their_keys() -> None:
    timeline = [
        {"at_s": 0, "fault": "clock", "target": "all", "mode": "strobe", "offset_ms": 200,
         "period_ms": 50},
        {"at_s": 1, "fault": "clock", "target": "all", "offset_ms": 0, "rate": 1},
        {"at_s": 2, "fault": "clock", "target": ["n1"], "mode": "drift", "rate": 0.5},
    ]
    assert [s.value for s in plan(timeline, NODES, random.Random(1))] == [
        {"nodes": NODES, "offset_ms": 200.0, "rate": 1.0, "mode": "strobe", "period_ms": 50.0},
        {"nodes": NODES, "offset_ms": 0.0, "rate": 1.0},
        {"nodes": ["n1"], "offset_ms": 0.0, "rate": 0.5, "mode": "drift"},
    ]


@pytest.mark.parametrize(("statuses", "leader"), [
    ({}, None),
    ({"n1": {"role": "follower", "term": 4}, "n2": {"role": "candidate", "term": 5}}, None),
    ({"n1": {"role": "follower", "term": 4}, "n3": {"role": "leader", "term": 4}}, "n3"),
    # A stale leader (cut off, it has not heard of term 5) loses to the newer one.
    ({"n1": {"role": "leader", "term": 4}, "n2": {"role": "leader", "term": 5}}, "n2"),
    ({"n4": {"role": "leader", "term": 5}, "n2": {"role": "leader", "term": 5}}, "n4"),
    ({"n1": {"role": "leader"}, "n2": {"role": "leader", "term": "x"}}, "n1"),
])
def test_the_leader_is_the_node_saying_so_with_the_highest_term(
        statuses: dict[str, dict[str, Any]], leader: str | None) -> None:
    assert find_leader(statuses) == leader


@pytest.mark.parametrize("target", ["n3", ["n4", "n2"]])
def test_explicit_targets_are_taken_as_given(target: Any) -> None:
    (step,) = plan([{"at_s": 0, "fault": "stop", "target": target}], NODES, random.Random(1))
    assert step.value == {"nodes": [target] if isinstance(target, str) else target}


def test_an_unknown_node_or_target_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown nodes \['n9'\]"):
        plan([{"at_s": 0, "fault": "kill", "target": ["n9"]}], NODES, random.Random(1))
    with pytest.raises(ValueError, match=r"unknown target 'most'.*one, minority"):
        plan([{"at_s": 0, "fault": "kill", "target": "most"}], NODES, random.Random(1))


def test_restart_and_resume_bring_back_what_their_fault_took_down() -> None:
    timeline = [
        {"at_s": 1, "fault": "kill", "target": ["n1", "n2"]},
        {"at_s": 2, "fault": "pause", "target": ["n4"]},
        {"at_s": 3, "fault": "resume"},
        {"at_s": 4, "fault": "restart"},
        {"at_s": 5, "fault": "stop", "target": ["n3"]},
        {"at_s": 6, "fault": "restart"},
        {"at_s": 7, "fault": "restart"},  # nothing is down any more
    ]
    steps = plan(timeline, NODES, random.Random(1))
    assert [(s.f, s.value["nodes"]) for s in steps] == [
        ("kill", ["n1", "n2"]),
        ("pause", ["n4"]),
        ("resume", ["n4"]),
        ("restart", ["n1", "n2"]),
        ("stop", ["n3"]),
        ("restart", ["n3"]),
        ("restart", []),
    ]


def test_an_explicit_restart_target_wins_over_the_default() -> None:
    timeline = [{"at_s": 1, "fault": "kill", "target": ["n1", "n2"]},
                {"at_s": 2, "fault": "restart", "target": ["n2"]}]
    assert plan(timeline, NODES, random.Random(1))[1].value == {"nodes": ["n2"]}


def test_an_unknown_fault_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fault 'flood'; use one of partition, link"):
        plan([{"at_s": 0, "fault": "flood"}], NODES, random.Random(1))


def test_every_fault_of_the_fault_table_can_be_planned() -> None:
    params: dict[str, dict[str, Any]] = {"partition": {"shape": "halves"}}
    for name in FAULTS:
        (step,) = plan([{"at_s": 0, "fault": name, **params.get(name, {})}], NODES,
                       random.Random(1))
        assert step.f == name


def test_a_schedule_survives_its_file(tmp_path: Path) -> None:
    path = tmp_path / "schedule.jsonl"
    write_schedule(STEPS_SEED_7, path)
    assert read_schedule(path) == STEPS_SEED_7
    first = json.loads(path.read_text().splitlines()[0])
    assert first["f"] == "partition"
    assert first["at_s"] == 1.0


# -- applying steps -------------------------------------------------------------------------


class FakeCluster:
    """A `FaultTarget` that remembers what it was asked, and fails on request. `statuses` is
    what each node would answer `chaos_status` (only running nodes answer)."""

    def __init__(self, *, fail_on: str | None = None,
                 statuses: dict[str, dict[str, Any]] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_on = fail_on
        self.running = set(NODES)
        self.statuses = statuses or {}

    async def _call(self, *call: Any) -> None:
        if call[0] == self.fail_on:
            raise RuntimeError(f"{call[0]} failed on purpose")
        self.calls.append(call)

    async def partition(self, grudge: Mapping[str, Sequence[str]], *, clients: bool) -> None:
        await self._call("partition", dict(grudge), clients)

    async def link_faults(self, rules: Sequence[Mapping[str, Any]], *, clients: bool) -> None:
        await self._call("link_faults", list(rules), clients)

    async def heal(self) -> None:
        await self._call("heal")

    async def kill(self, node_id: str) -> None:
        await self._call("kill", node_id)
        self.running.discard(node_id)

    async def stop(self, node_id: str) -> None:
        await self._call("stop", node_id)
        self.running.discard(node_id)

    async def pause(self, node_id: str) -> None:
        await self._call("pause", node_id)
        self.running.discard(node_id)

    async def resume(self, node_id: str) -> None:
        await self._call("resume", node_id)
        self.running.add(node_id)

    async def restart(self, node_id: str) -> None:
        await self._call("restart", node_id)
        self.running.add(node_id)

    async def restart_nodes(self, node_ids: Sequence[str]) -> None:
        for node_id in node_ids:
            await self.restart(node_id)

    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float,
                        period_ms: float = 0.0) -> None:
        await self._call("set_clock", node_id, offset_ms, rate, period_ms)

    async def node_statuses(self) -> dict[str, dict[str, Any]]:
        return {n: self.statuses[n] for n in NODES if n in self.running and n in self.statuses}

    def running_nodes(self) -> list[str]:
        return sorted(self.running)


def _history(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 0)
    yield rec
    rec.close()


async def test_steps_reach_the_target_and_the_history(recorder: Recorder) -> None:
    cluster = FakeCluster()
    target: FaultTarget = cluster  # the fake satisfies the protocol (mypy checks this line)
    nemesis = Nemesis(target, recorder)
    for step in STEPS_SEED_7[:4]:
        await nemesis.apply(step.f, step.value)
    assert cluster.calls == [
        ("partition", STEPS_SEED_7[0].value["grudge"], False),
        ("heal",),
        ("link_faults", STEPS_SEED_7[2].value["faults"], False),
        ("kill", "n1"),
        ("kill", "n5"),
    ]
    assert nemesis.active == {"link": "drop 0.5, delay constant", "kill": ["n1", "n5"]}
    ops = _history(recorder.path)
    assert [(op["type"], op["process"], op["f"]) for op in ops] == [
        (t, "nemesis", f) for f in ("partition", "heal", "link", "kill") for t in ("invoke", "ok")
    ]
    assert recorder.counts["ok"] == 0  # nemesis operations are not client completions


async def test_a_failed_fault_is_recorded_as_info_and_raised(recorder: Recorder) -> None:
    nemesis = Nemesis(FakeCluster(fail_on="pause"), recorder)
    with pytest.raises(RuntimeError, match="pause failed on purpose"):
        await nemesis.apply("pause", {"nodes": ["n2"]})
    ops = _history(recorder.path)
    assert [(op["type"], op["f"]) for op in ops] == [("invoke", "pause"), ("info", "pause")]
    assert ops[1]["error"] == "RuntimeError: pause failed on purpose"


async def test_clock_faults_reach_each_node_and_a_reset_clears_them(recorder: Recorder) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("clock", {"nodes": ["n1", "n3"], "offset_ms": 100.0, "rate": 2.0})
    assert nemesis.active == {"clock": ["n1", "n3"]}
    await nemesis.apply("clock", {"nodes": ["n1", "n3"], "offset_ms": 0.0, "rate": 1.0})
    assert nemesis.active == {}
    assert cluster.calls[:2] == [("set_clock", "n1", 100.0, 2.0, 0.0),
                                 ("set_clock", "n3", 100.0, 2.0, 0.0)]


async def test_heal_all_ends_healed(recorder: Recorder) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("kill", {"nodes": ["n1"]})
    await nemesis.apply("pause", {"nodes": ["n2"]})
    await nemesis.apply("clock", {"nodes": ["n3"], "offset_ms": 5.0, "rate": 1.0})
    cluster.calls.clear()
    await nemesis.heal_all()
    assert cluster.calls == [
        ("heal",), ("resume", "n2"), ("restart", "n1"),
        *[("set_clock", n, 0.0, 1.0, 0.0) for n in NODES],
    ]
    assert nemesis.active == {}
    assert cluster.running_nodes() == NODES
    last = _history(recorder.path)[-2:]
    assert [(op["type"], op["f"], op["value"]) for op in last] == [
        ("invoke", "heal", {"final": True}), ("ok", "heal", {"final": True})]


async def test_a_paused_node_that_is_killed_is_restarted_not_resumed(recorder: Recorder) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("pause", {"nodes": ["n1"]})
    await nemesis.apply("kill", {"nodes": ["n1"]})
    assert nemesis.active == {"kill": ["n1"]}
    cluster.calls.clear()
    await nemesis.heal_all()
    assert cluster.calls == [("heal",), ("restart", "n1")]
