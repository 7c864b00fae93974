"""The scenario loader: shipped files load, bad files fail with one line naming the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.fault_kinds import FAULT_NAMES as FAULTS
from checker.fault_kinds import SHAPES, TARGETS
from scenarios.loader import list_scenarios, load_scenario, scenario_dir
from scenarios.schema import FaultEvent, Scenario, ScenarioError

SHIPPED = sorted(p.stem for p in scenario_dir().glob("*.toml"))
HEADER = 'workload = "broadcast"\nnodes = 5\ntime_limit_s = 10\n'


def write(tmp_path: Path, text: str, name: str = "sc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_loads_and_ends_healed(name: str) -> None:
    sc = load_scenario(name)
    assert sc.name == name  # the name is the file's stem: what `chaos run NAME` finds
    assert sc.description
    assert not sc.is_file
    assert sc.path == scenario_dir() / f"{name}.toml"
    assert [e.at_s for e in sc.timeline] == sorted(e.at_s for e in sc.timeline)
    assert all(0 <= e.at_s <= sc.time_limit_s for e in sc.timeline)
    assert not any(e.implicit for e in sc.timeline), "shipped scenarios heal explicitly"
    assert sc.timeline, "every shipped scenario injects some fault"


def test_the_required_scenarios_are_shipped() -> None:
    assert [s.name for s in list_scenarios()] == [
        "echo", "flaky-network", "isolate-node", "kill-restart", "lin-kv", "partition-heal",
        "unique-ids",
    ]
    assert load_scenario("echo").workload == "echo"
    assert load_scenario("unique-ids").workload == "unique-ids"
    ph = load_scenario("partition-heal")
    assert ph.workload == "broadcast"
    shapes = [e.params["shape"] for e in ph.timeline if e.fault == "partition"]
    assert len(set(shapes)) == 2  # two different cuts
    assert [e.fault for e in ph.timeline] == ["partition", "heal", "partition", "heal"]


def test_the_fault_machinery_implements_every_declared_fault() -> None:
    """One table (checker.fault_kinds) declares the vocabulary; the grudge builder and the
    nemesis planner must handle every shape, fault and target in it, by running them."""
    import random

    from chaos import faults, nemesis

    nodes = ["n1", "n2", "n3", "n4", "n5"]
    for shape in SHAPES:
        params = {"src": "n1", "dest": "n2"} if shape == "one-way" else {}
        grudge = faults.build_grudge(shape, nodes, random.Random(1), **params)
        assert any(grudge.values()), f"{shape} cut nothing"
    for target in TARGETS:
        assert nemesis.choose_targets(target, nodes, random.Random(1))
    timeline = [
        {"at_s": 0, "fault": "partition", "shape": "halves"},
        {"at_s": 1, "fault": "link", "drop_probability": 0.5},
        {"at_s": 2, "fault": "heal"},
        {"at_s": 3, "fault": "kill", "target": "one"},
        {"at_s": 4, "fault": "restart"},
        {"at_s": 5, "fault": "stop", "target": "one"},
        {"at_s": 6, "fault": "restart"},
        {"at_s": 7, "fault": "pause", "target": "one"},
        {"at_s": 8, "fault": "resume"},
        {"at_s": 9, "fault": "clock", "target": "all", "offset_ms": 5, "rate": 2},
    ]
    steps = nemesis.plan(timeline, nodes, random.Random(1))
    assert {s.f for s in steps} == set(FAULTS)


def test_timeline_dicts_are_what_the_nemesis_plans_from() -> None:
    import random

    from chaos import nemesis

    sc = load_scenario("partition-heal")
    steps = nemesis.plan(
        [e.to_dict() for e in sc.timeline], sc.node_ids, random.Random(7), offset_s=sc.warmup_s
    )
    assert [s.f for s in steps] == ["partition", "heal", "partition", "heal"]
    assert steps[0].at_s == pytest.approx(sc.warmup_s + sc.timeline[0].at_s)


def test_load_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    sc = load_scenario(str(path))
    assert sc.name == "sc"
    assert sc.is_file
    assert sc.path == path
    assert sc.timeline == ()
    assert sc.warmup_s == 2.0  # defaults filled in


def test_rescaling_keeps_the_shape() -> None:
    sc = load_scenario("partition-heal")
    short = sc.rescaled(8)
    assert short.time_limit_s == 8
    factor = 8 / sc.time_limit_s
    assert [e.at_s for e in short.timeline] == pytest.approx([e.at_s * factor for e in sc.timeline])
    assert [e.fault for e in short.timeline] == [e.fault for e in sc.timeline]
    # What the system needs to settle does not shrink with the fault schedule.
    assert (short.warmup_s, short.recovery_s) == (sc.warmup_s, sc.recovery_s)
    # Each partition of the 8 s run still lasts seconds, long enough to cost messages.
    starts = [e.at_s for e in short.timeline if e.fault == "partition"]
    heals = [e.at_s for e in short.timeline if e.fault == "heal"]
    assert min(h - s for s, h in zip(starts, heals, strict=True)) >= 2.0
    assert sc.rescaled(40).rescaled(20) == sc


def test_rescaling_moves_an_implicit_heal_to_the_new_end(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + '[[timeline]]\nat_s = 2\nfault = "partition"\nshape = "halves"\n'
    )
    sc = load_scenario(str(path)).rescaled(7)
    assert sc.timeline[-1] == FaultEvent(at_s=7.0, fault="heal", implicit=True)
    assert sc.timeline[0].at_s == pytest.approx(1.4)


def test_rescaling_to_a_bad_limit_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="--time-limit"):
        load_scenario("echo").rescaled(0)


def test_overrides_are_validated_like_the_file() -> None:
    sc = load_scenario("partition-heal")
    over = sc.with_overrides(time_limit_s=8, nodes=7, rate=50, concurrency=7)
    assert (over.time_limit_s, over.nodes, over.rate, over.concurrency) == (8, 7, 50, 7)
    assert over.path == sc.path
    assert over.timeline == sc.rescaled(8).timeline
    with pytest.raises(ScenarioError, match=r"timeline\[0\]\.shape: majority-minority needs at"):
        sc.with_overrides(nodes=2)
    with pytest.raises(ScenarioError, match="nodes"):
        sc.with_overrides(nodes=0)
    # A different workload does not inherit the old one's parameters.
    assert sc.with_overrides(workload="echo").workload_params == {}


def test_unhealed_faults_get_implicit_heals_at_the_end(tmp_path: Path) -> None:
    text = HEADER + (
        '[[timeline]]\nat_s = 1\nfault = "partition"\nshape = "bridge"\n'
        '[[timeline]]\nat_s = 2\nfault = "kill"\ntarget = "one"\n'
        '[[timeline]]\nat_s = 3\nfault = "pause"\ntarget = "n2"\n'
        '[[timeline]]\nat_s = 4\nfault = "clock"\ntarget = "one"\noffset_ms = 500\n'
    )
    sc = load_scenario(str(write(tmp_path, text)))
    implicit = [e for e in sc.timeline if e.implicit]
    assert [e.fault for e in implicit] == ["heal", "resume", "restart", "clock"]
    assert all(e.at_s == sc.time_limit_s for e in implicit)
    assert implicit[-1].params == {"target": "all", "offset_ms": 0.0, "rate": 1.0}
    assert "implicit" not in implicit[0].to_dict()  # the nemesis sees a plain heal


def test_a_healed_timeline_gets_nothing_added(tmp_path: Path) -> None:
    text = HEADER + (
        '[[timeline]]\nat_s = 1\nfault = "link"\ndrop_probability = 0.5\n'
        '[[timeline]]\nat_s = 2\nfault = "heal"\n'
        '[[timeline]]\nat_s = 3\nfault = "kill"\n'
        '[[timeline]]\nat_s = 4\nfault = "restart"\n'
    )
    sc = load_scenario(str(write(tmp_path, text)))
    assert not any(e.implicit for e in sc.timeline)


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def entry(**keys: object) -> str:
    return "[[timeline]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())


# (file text, fragments the one-line error must contain)
BAD: dict[str, tuple[str, tuple[str, ...]]] = {
    "toml syntax": (
        'workload = "echo"\nnodes = = 3\n',
        (":2: invalid TOML", "fix the syntax on line 2"),
    ),
    "unknown top-level key, suggested": (
        HEADER + "time_limt = 3\n",
        (":4:", "time_limt", "did you mean 'time_limit_s'?"),
    ),
    "missing required key": ("nodes = 3\ntime_limit_s = 5\n", ("workload: missing",)),
    "unknown workload": (
        'workload = "brodcast"\nnodes = 3\ntime_limit_s = 5\n',
        (":1:", "workload", "did you mean 'broadcast'?", "use one of broadcast, echo"),
    ),
    "bad workload param": (
        HEADER + '[workload_params]\ntopology = "star"\n',
        ("workload_params", "unknown topology 'star'", "grid"),
    ),
    "wrong type": (HEADER + 'rate = "fast"\n', ("rate: must be a number", "'fast'")),
    "bool is not a number": (HEADER + "warmup_s = true\n", ("warmup_s: must be a number",)),
    "float nodes": (
        'workload = "echo"\nnodes = 2.5\ntime_limit_s = 5\n',
        ("nodes: must be a whole number",),
    ),
    "out of range": (HEADER + "concurrency = 0\n", ("concurrency: 0 is out of range", "1 to")),
    "zero time limit": (
        'workload = "echo"\nnodes = 3\ntime_limit_s = 0\n',
        ("time_limit_s: 0 is out of range", "above 0"),
    ),
    "bad name": (
        'name = "a/b"\n' + HEADER,
        ("name: 'a/b' is not a usable name",),
    ),
    "unknown fault": (
        HEADER + entry(at_s=1, fault="partiton", shape="halves"),
        (":6:", "timeline[0].fault", "did you mean 'partition'?"),
    ),
    "unknown shape": (
        HEADER + entry(at_s=1, fault="heal") + entry(at_s=2, fault="partition", shape="majority"),
        (":10:", "timeline[1].shape", "did you mean 'majority-minority'?", "bridge, one-way"),
    ),
    "missing shape": (
        HEADER + entry(at_s=1, fault="partition"),
        ("timeline[0].shape: missing", "isolate"),
    ),
    "unknown fault key, suggested": (
        HEADER + entry(at_s=1, fault="link", drop_probabilty=0.5),
        ("timeline[0].drop_probabilty", "did you mean 'drop_probability'?"),
    ),
    "probability out of range": (
        HEADER + entry(at_s=1, fault="link", drop_probability=1.5),
        ("timeline[0].drop_probability: 1.5 is out of range", "from 0 to 1"),
    ),
    "link that does nothing": (
        HEADER + entry(at_s=1, fault="link", src="n1"),
        ("timeline[0]: a link fault that changes nothing",),
    ),
    "unknown delay distribution": (
        HEADER + entry(at_s=1, fault="link", delay={"distribution": "gaussian", "mean_ms": 1}),
        ("timeline[0].delay.distribution", "use one of constant, uniform"),
    ),
    "delay missing a key": (
        HEADER + entry(at_s=1, fault="link", delay={"distribution": "uniform", "low_ms": 1}),
        ("timeline[0].delay.high_ms: missing",),
    ),
    "delay with a wrong key": (
        HEADER + entry(at_s=1, fault="link", delay={"distribution": "constant", "mean_ms": 1}),
        ("timeline[0].delay.mean_ms", "a constant delay takes distribution, ms"),
    ),
    "not sorted": (
        HEADER + entry(at_s=5, fault="partition", shape="halves") + entry(at_s=2, fault="heal"),
        ("timeline[1].at_s", "sort the timeline by at_s"),
    ),
    "at_s beyond the fault phase": (
        HEADER + entry(at_s=11, fault="heal"),
        ("timeline[0].at_s: 11 is out of range", "from 0 to 10"),
    ),
    "fault at the very end": (
        HEADER + entry(at_s=10, fault="partition", shape="halves"),
        ("timeline[0].at_s", "start it before time_limit_s"),
    ),
    "too few nodes for the shape": (
        'workload = "broadcast"\nnodes = 2\ntime_limit_s = 10\n'
        + entry(at_s=1, fault="partition", shape="bridge"),
        ("timeline[0].shape: bridge needs at least 3 nodes",),
    ),
    "shape parameter on the wrong shape": (
        HEADER + entry(at_s=1, fault="partition", shape="halves", node="n1"),
        ("timeline[0].node", "only a isolate partition takes 'node'"),
    ),
    "unknown node": (
        HEADER + entry(at_s=1, fault="partition", shape="isolate", node="n9"),
        ("timeline[0].node: 'n9' is not a node", "n1 to n5"),
    ),
    "unknown target": (
        HEADER + entry(at_s=1, fault="kill", target="majorty"),
        ("timeline[0].target", "did you mean 'majority'?"),
    ),
    "kill while down": (
        HEADER + entry(at_s=1, fault="kill") + entry(at_s=2, fault="kill"),
        ("timeline[1]: kill while nodes from timeline[0] are still down", "add a restart"),
    ),
    "restart of nothing": (
        HEADER + entry(at_s=1, fault="restart"),
        ("timeline[0]: restart with nothing to restart",),
    ),
    "clients not a bool": (
        HEADER + entry(at_s=1, fault="partition", shape="halves", clients="yes"),
        ("timeline[0].clients: must be true or false",),
    ),
    "timeline not an array of tables": (HEADER + 'timeline = "soon"\n', ("timeline: must be an",)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_name_the_place_and_the_fix(tmp_path: Path, case: str) -> None:
    text, fragments = BAD[case]
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert "; " in message, "every error says how to fix it"
    for fragment in fragments:
        assert fragment in message


def test_unknown_names_and_missing_files() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'partition-heal'"):
        load_scenario("partiton-heal")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("nowhere/at-all.toml")


def test_scenario_round_trips_through_to_dict() -> None:
    from scenarios.schema import parse_scenario

    sc = load_scenario("flaky-network")
    raw = sc.to_dict()
    raw.pop("path")
    again = parse_scenario(raw, where="round-trip")
    assert isinstance(again, Scenario)
    assert again.timeline == sc.timeline
