"""The scenario loader: shipped files load, bad files fail with one line naming the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.fault_kinds import FAULT_NAMES as FAULTS
from checker.fault_kinds import MIX_FAULTS, RUNTIME_TARGETS, SHAPES, TARGETS
from scenarios.loader import list_scenarios, load_scenario, scenario_dir
from scenarios.schema import FaultEvent, Scenario, ScenarioError, parse_scenario

SHIPPED = sorted(p.stem for p in scenario_dir().glob("*.toml"))
HEADER = 'workload = "broadcast"\nnodes = 5\ntime_limit_s = 10\n'


FAULT_FREE = "maelstrom"  # `chaos maelstrom test`'s scenario (chaos/maelstrom_cmd.py)

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
    if name == FAULT_FREE:  # Maelstrom's test: faults only when --nemesis asks for them
        assert not sc.timeline and not sc.nemesis
    else:
        assert bool(sc.timeline) != bool(sc.nemesis), "every other scenario injects some fault"


def test_the_required_scenarios_are_shipped() -> None:
    assert [s.name for s in list_scenarios()] == [
        "clock-skew", "echo", "flaky-network", "isolate-node", "kill-restart", "leader-kill",
        "lin-kv", "maelstrom", "partition-heal", "pause-resume", "random", "unique-ids",
    ]
    assert load_scenario("echo").workload == "echo"
    assert load_scenario("unique-ids").workload == "unique-ids"
    ph = load_scenario("partition-heal")
    assert ph.workload == "lin-kv"  # the flagship: Raft (issue 8)
    shapes = [e.params["shape"] for e in ph.timeline if e.fault == "partition"]
    assert shapes == ["majority-minority"] * 2  # cuts chosen by the seed, each time afresh
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
        if target in RUNTIME_TARGETS:  # resolved by the nemesis when its step runs
            (step,) = nemesis.plan([{"at_s": 0, "fault": "kill", "target": target}], nodes,
                                   random.Random(1))
            assert step.value == {"target": target}
        else:
            assert nemesis.choose_targets(target, nodes, random.Random(1))
    for name in MIX_FAULTS:  # every fault a random mix may draw is drawn and planned
        mix = nemesis.mix_timeline([name], nodes, random.Random(1), interval_s=1,
                                   time_limit_s=2)
        assert {s.f for s in nemesis.plan(mix, nodes, random.Random(1))} >= {name}
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
    "unknown clock mode": (
        HEADER + entry(at_s=1, fault="clock", mode="strobo", offset_ms=5, period_ms=5),
        (":7:", "timeline[0].mode", "did you mean 'strobe'?", "use one of bump, drift, strobe"),
    ),
    "bump with a rate": (
        HEADER + entry(at_s=1, fault="clock", mode="bump", offset_ms=5, rate=2),
        (":9:", "timeline[0].rate: a bump clock fault takes no rate", "takes offset_ms"),
    ),
    "bump without an offset": (
        HEADER + entry(at_s=1, fault="clock", mode="bump"),
        ("timeline[0].offset_ms: missing", "a bump clock fault takes offset_ms"),
    ),
    "bump of zero": (
        HEADER + entry(at_s=1, fault="clock", mode="bump", offset_ms=0),
        ("timeline[0].offset_ms: a bump clock fault of 0 ms changes nothing",),
    ),
    "drift at rate 1": (
        HEADER + entry(at_s=1, fault="clock", mode="drift", rate=1),
        ("timeline[0].rate: a drift at rate 1 changes nothing", "0.5 (slow) or 2 (fast)"),
    ),
    "drift with an offset": (
        HEADER + entry(at_s=1, fault="clock", mode="drift", rate=2, offset_ms=3),
        ("timeline[0].offset_ms: a drift clock fault takes no offset_ms",),
    ),
    "strobe without a period": (
        HEADER + entry(at_s=1, fault="clock", mode="strobe", offset_ms=200),
        ("timeline[0].period_ms: missing", "a strobe clock fault takes offset_ms, period_ms"),
    ),
    "strobe period out of range": (
        HEADER + entry(at_s=1, fault="clock", mode="strobe", offset_ms=200, period_ms=0.5),
        ("timeline[0].period_ms: 0.5 is out of range", "from 1 to 60000"),
    ),
    "period without strobe": (
        HEADER + entry(at_s=1, fault="clock", offset_ms=200, period_ms=50),
        ("timeline[0].period_ms: a clock fault without a mode takes no period_ms",
         'add mode = "strobe"'),
    ),
    "restart of the leader": (
        HEADER + entry(at_s=1, fault="kill", target="leader")
        + entry(at_s=2, fault="restart", target="leader"),
        ("timeline[1].target", "the leader is running", "leave target out"),
    ),
    "nemesis and a timeline": (
        HEADER + 'nemesis = ["kill"]\n' + entry(at_s=1, fault="heal"),
        (":4:", "nemesis: a scenario has a timeline or a nemesis mix, not both",),
    ),
    "unknown nemesis fault": (
        HEADER + 'nemesis = ["partition", "kil"]\n',
        ("nemesis[1]: unknown nemesis fault 'kil' (did you mean 'kill'?)",
         "use one of partition, link, kill, stop, pause, clock"),
    ),
    "heal in a nemesis mix": (
        HEADER + 'nemesis = ["heal"]\n',
        ("nemesis[0]: unknown nemesis fault 'heal'",),
    ),
    "empty nemesis": (HEADER + "nemesis = []\n", ("nemesis: must be a non-empty list",)),
    "nemesis listed twice": (
        HEADER + 'nemesis = ["kill", "kill"]\n', ("nemesis[1]: 'kill' is listed twice",),
    ),
    "interval without a nemesis": (
        HEADER + "nemesis_interval_s = 2\n",
        (":4:", "nemesis_interval_s: an interval without a nemesis mix", "add nemesis = ["),
    ),
    "zero interval": (
        HEADER + 'nemesis = ["kill"]\nnemesis_interval_s = 0\n',
        (":5:", "nemesis_interval_s: 0 is out of range", "above 0 and at most 10"),
    ),
    "interval longer than the fault phase": (
        HEADER + 'nemesis = ["kill"]\nnemesis_interval_s = 11\n',
        ("nemesis_interval_s: 11 is out of range", "at most 10"),
    ),
    "partition mix on one node": (
        'workload = "echo"\nnodes = 1\ntime_limit_s = 10\nnemesis = ["partition"]\n',
        ("nemesis: a partition needs at least 2 nodes",),
    ),
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


def test_targets_and_clock_modes_load(tmp_path: Path) -> None:
    text = HEADER + (
        entry(at_s=1, fault="kill", target="leader") + entry(at_s=2, fault="restart")
        + entry(at_s=3, fault="pause", target="random") + entry(at_s=4, fault="resume")
        + entry(at_s=5, fault="clock", target="leader", mode="bump", offset_ms=-300)
        + entry(at_s=6, fault="clock", target="all", offset_ms=0, rate=1)
        + entry(at_s=7, fault="clock", target="one", mode="strobe", offset_ms=200, period_ms=50)
    )
    sc = load_scenario(str(write(tmp_path, text)))
    assert [e.params.get("target") for e in sc.timeline] == [
        "leader", None, "random", None, "leader", "all", "one", "all"]
    assert sc.timeline[-1].implicit  # the strobe is healed by the implicit clock reset
    assert sc.timeline[-1].params == {"target": "all", "offset_ms": 0.0, "rate": 1.0}


def test_a_leader_target_is_refused_for_node_cmd_programs_naming_its_line(
        tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + entry(at_s=1, fault="pause", target="one")
                 + entry(at_s=2, fault="resume") + entry(at_s=3, fault="kill", target="leader"))
    sc = load_scenario(str(path)).with_overrides(time_limit_s=7)
    with pytest.raises(ScenarioError) as info:
        sc.check_stdio_nodes("--node-cmd")
    message = str(info.value)
    assert message.startswith(f"{path}:14: timeline[2].target: 'leader' is found by asking")
    assert "--node-cmd program cannot be asked" in message
    assert "; aim it at one, minority" in message and "\n" not in message
    load_scenario("lin-kv").check_stdio_nodes()  # no leader in it: nothing to refuse
    with pytest.raises(ScenarioError, match=r"pause-resume.toml:\d+: timeline\[2\].target"):
        load_scenario("pause-resume").check_stdio_nodes()


def test_a_nemesis_mix_loads_and_its_interval_rescales(tmp_path: Path) -> None:
    sc = load_scenario("random")
    assert sc.nemesis == ("partition", "kill", "pause", "clock", "link")
    assert (sc.nemesis_interval_s, sc.mix_interval_s, sc.timeline) == (5.0, 5.0, ())
    short = sc.rescaled(5)
    assert short.mix_interval_s == pytest.approx(1.25)  # four faults still, as in 20 s
    assert sc.with_overrides(time_limit_s=5) == short
    # Without an interval: Maelstrom's 10 s, or a quarter of a shorter fault phase.
    path = write(tmp_path, HEADER + 'nemesis = ["pause"]\n')
    default = load_scenario(str(path))
    assert (default.nemesis_interval_s, default.mix_interval_s) == (None, 2.5)
    assert default.rescaled(80).mix_interval_s == 10.0
    again = parse_scenario({k: v for k, v in sc.to_dict().items() if k != "path"}, where="x")
    assert (again.nemesis, again.nemesis_interval_s) == (sc.nemesis, sc.nemesis_interval_s)


def test_a_nemesis_override_replaces_the_timeline() -> None:
    sc = load_scenario("partition-heal")
    mixed = sc.with_overrides(nemesis=["kill", "link"], nemesis_interval_s=2.5)
    assert (mixed.nemesis, mixed.nemesis_interval_s, mixed.timeline) == (
        ("kill", "link"), 2.5, ())
    # An explicit interval is seconds as given, not rescaled with --time-limit.
    assert sc.with_overrides(time_limit_s=8, nemesis=["kill"],
                             nemesis_interval_s=2.5).mix_interval_s == 2.5
    assert load_scenario("random").with_overrides(
        time_limit_s=10, nemesis_interval_s=3).mix_interval_s == 3
    with pytest.raises(ScenarioError, match="nemesis_interval_s: 30 is out of range"):
        sc.with_overrides(nemesis=["kill"], nemesis_interval_s=30)
