"""A random mix (`--nemesis partition,kill --nemesis-interval S`, a scenario's `nemesis = [...]`):
seeded, a fault every interval healed before the next, every drawn entry a valid timeline entry,
all healed by the end of the fault phase; and `plan_scenario` choosing a mix or a timeline."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chaos.nemesis import MIX_FAULTS, mix_timeline, plan, plan_mix, plan_scenario
from checker.fault_kinds import FAULTS, SHAPE_MIN_NODES, breaks, heals
from scenarios.loader import load_scenario
from scenarios.timeline import parse_timeline
from scenarios.validation import Validator

NODES = ["n1", "n2", "n3", "n4", "n5"]


def faults_and_heals(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    assert len(entries) % 2 == 0
    return list(zip(entries[::2], entries[1::2], strict=True))


def test_a_fault_starts_every_interval_and_is_healed_before_the_next() -> None:
    for seed in range(50):
        entries = mix_timeline(MIX_FAULTS, NODES, random.Random(seed), interval_s=2.5,
                               time_limit_s=10)
        pairs = faults_and_heals(entries)
        assert [f["at_s"] for f, _ in pairs] == [0.0, 2.5, 5.0, 7.5]
        for fault, heal in pairs:
            assert fault["fault"] in MIX_FAULTS
            params = {k: v for k, v in heal.items() if k not in ("at_s", "fault")}
            assert breaks(fault["fault"], fault) in heals(heal["fault"], params)
            length = heal["at_s"] - fault["at_s"]
            # A kill's restart takes real time: it is healed earlier, to be done in time.
            low, high = (0.3, 0.5) if fault["fault"] in ("kill", "stop") else (0.5, 0.8)
            assert low * 2.5 - 1e-6 <= length <= high * 2.5 + 1e-6, (seed, fault, heal)


@pytest.mark.parametrize(("interval_s", "starts"), [
    (10.0, [0.0]),  # the interval may be the whole fault phase: one fault
    (3.0, [0.0, 3.0, 6.0]),  # 9 + half of 3 is past 10: no fault that could not last (drawn
    # as a partition, which lasts at least half its interval)
    (4.0, [0.0, 4.0, 8.0]),  # the last healed at 10 at the latest
])
def test_only_faults_that_fit_the_fault_phase_are_drawn(interval_s: float,
                                                        starts: list[float]) -> None:
    for seed in range(20):
        entries = mix_timeline(["partition"], NODES, random.Random(seed),
                               interval_s=interval_s, time_limit_s=10)
        assert [f["at_s"] for f, _ in faults_and_heals(entries)] == starts
        assert entries[-1]["at_s"] <= 10


def test_one_seed_one_mix_and_the_seed_matters() -> None:
    def mix(seed: int) -> list[dict[str, Any]]:
        return mix_timeline(MIX_FAULTS, NODES, random.Random(seed), interval_s=1,
                            time_limit_s=20)

    assert mix(7) == mix(7)
    assert len({repr(mix(seed)) for seed in range(10)}) == 10


def test_only_the_listed_kinds_are_drawn_and_each_of_them_is() -> None:
    drawn = {f["fault"] for seed in range(30) for f, _ in faults_and_heals(
        mix_timeline(["kill", "clock"], NODES, random.Random(seed), interval_s=1,
                     time_limit_s=10))}
    assert drawn == {"kill", "clock"}


@pytest.mark.parametrize("nodes", [1, 2, 3, 5, 7])
def test_every_drawn_mix_is_a_valid_timeline_that_ends_healed(nodes: int) -> None:
    """What the mix draws is exactly what a scenario file may say: no entry the schema would
    refuse, and nothing left for an implicit heal."""
    node_ids = [f"n{i}" for i in range(1, nodes + 1)]
    kinds = MIX_FAULTS if nodes >= 2 else tuple(k for k in MIX_FAULTS if k != "partition")
    seen: set[str] = set()
    for seed in range(60):
        entries = mix_timeline(kinds, node_ids, random.Random(seed), interval_s=1,
                               time_limit_s=8)
        events = parse_timeline(Validator(f"mix seed {seed}", None), entries, nodes=nodes,
                                time_limit_s=8)
        assert not any(e.implicit for e in events), (seed, entries)
        for fault, _ in faults_and_heals(entries):
            if fault["fault"] == "partition":
                assert fault["shape"] not in ("one-way", "bridge")  # may cut nothing used
                assert nodes >= SHAPE_MIN_NODES.get(fault["shape"], 2)
            if fault["fault"] == "link":
                assert fault["drop_probability"] > 0  # judged by the fault guard: must drop
            if fault["fault"] == "clock":
                seen.add(fault["mode"])
            assert fault.get("target") != "leader"
        steps = plan(entries, node_ids, random.Random(seed))
        assert {s.f for s in steps} <= set(FAULTS)
    assert seen == {"bump", "drift", "strobe"}


@pytest.mark.parametrize(("kinds", "interval_s", "match"), [
    (["flood"], 1.0, "takes one or more of partition, link"),
    ([], 1.0, "takes one or more"),
    (["kill"], 0.0, "above 0 and at most the fault phase"),
    (["kill"], -1.0, "above 0"),
    (["kill"], 10.5, r"at most the fault phase \(10 s\)"),
])
def test_bad_mixes_are_refused(kinds: list[str], interval_s: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mix_timeline(kinds, NODES, random.Random(1), interval_s=interval_s, time_limit_s=10)


def test_a_partition_needs_two_nodes() -> None:
    with pytest.raises(ValueError, match="at least 2 nodes"):
        mix_timeline(["partition"], ["n1"], random.Random(1), interval_s=1, time_limit_s=10)


def test_plan_mix_is_the_drawn_timeline_planned_after_the_warm_up() -> None:
    steps = plan_mix(["pause"], NODES, random.Random(3), interval_s=2, time_limit_s=6,
                     offset_s=1.0)
    assert [s.f for s in steps] == ["pause", "resume"] * 3
    assert [s.at_s for s in steps[::2]] == [1.0, 3.0, 5.0]
    for fault, heal in zip(steps[::2], steps[1::2], strict=True):
        assert heal.value == fault.value  # the resume takes back what its pause took
        assert breaks("pause", fault.value) == "paused"


def test_plan_scenario_plans_the_mix_or_the_timeline() -> None:
    mixed = load_scenario("random")
    assert mixed.nemesis and not mixed.timeline
    steps = plan_scenario(mixed, random.Random("7/nemesis"))
    assert steps == plan_mix(mixed.nemesis, mixed.node_ids, random.Random("7/nemesis"),
                             interval_s=mixed.mix_interval_s, time_limit_s=mixed.time_limit_s,
                             offset_s=mixed.warmup_s)
    assert steps[0].at_s == mixed.warmup_s
    fixed = load_scenario("partition-heal")
    assert plan_scenario(fixed, random.Random(1)) == plan(
        [e.to_dict() for e in fixed.timeline], fixed.node_ids, random.Random(1),
        offset_s=fixed.warmup_s)
