"""The nemesis aims its steps when they run: `leader` asked of the nodes, the heal after it
taking what it took, and a step aimed at a node already down recorded `fail` (not applied,
the run going on). A fake `FaultTarget` with scripted statuses; `Cluster.node_statuses` with a
scripted admin client (no processes): who is asked, and whose answers count."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from test_nemesis_plan import NODES, FakeCluster

from chaos.clients import Recorder, RequestTimeout
from chaos.nemesis import Nemesis, plan
from chaos.supervisor import STATUS_TIMEOUT_S, Cluster, NodeState

FOLLOWER = {"role": "follower", "term": 3, "leader": "n4"}


def leader(term: int) -> dict[str, Any]:
    return {"role": "leader", "term": term, "commit_index": 7, "last_index": 7}


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 0)
    yield rec
    rec.close()


def nemesis_ops(recorder: Recorder) -> list[dict[str, Any]]:
    ops = [json.loads(line) for line in recorder.path.read_text().splitlines()]
    return [op for op in ops if op["process"] == "nemesis"]


def outcomes(recorder: Recorder) -> list[tuple[str, str, Any]]:
    return [(op["type"], op["f"], op["value"]) for op in nemesis_ops(recorder)
            if op["type"] != "invoke"]


async def test_a_leader_kill_hits_the_newest_leader_and_its_restart_brings_it_back(
        recorder: Recorder) -> None:
    cluster = FakeCluster(statuses={"n1": FOLLOWER, "n2": leader(2), "n4": leader(3),
                                    "n5": FOLLOWER})
    nemesis = Nemesis(cluster, recorder)
    steps = plan([{"at_s": 0, "fault": "kill", "target": "leader"},
                  {"at_s": 1, "fault": "restart"}], NODES, random.Random(1))
    for step in steps:
        await nemesis.apply(step.f, step.value)
    assert cluster.calls == [("kill", "n4"), ("restart", "n4")]
    invokes = [op["value"] for op in nemesis_ops(recorder) if op["type"] == "invoke"]
    assert invokes == [{"target": "leader"}, {"target": "last"}]  # as the schedule says
    assert outcomes(recorder) == [  # and whom it hit, in the completion
        ("ok", "kill", {"target": "leader", "nodes": ["n4"]}),
        ("ok", "restart", {"target": "last", "nodes": ["n4"]}),
    ]
    assert nemesis.applied_count == 2
    assert nemesis.failed_count == 0


async def test_no_leader_is_a_failed_operation_and_the_run_goes_on(recorder: Recorder) -> None:
    cluster = FakeCluster(statuses={"n1": FOLLOWER, "n2": {"role": "candidate", "term": 4}})
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("pause", {"target": "leader"})  # raises nothing
    await nemesis.apply("resume", {"target": "last"})  # nothing was paused: nothing to resume
    await nemesis.apply("clock", {"target": "leader", "offset_ms": 100.0, "rate": 1.0})
    await nemesis.heal_all()
    assert cluster.calls == [("heal",)]
    failed = [op for op in nemesis_ops(recorder) if op["type"] == "fail"]
    assert [op["f"] for op in failed] == ["pause", "clock"]
    assert failed[0]["error"] == ("no leader found: n1 follower term 3, n2 candidate term 4, "
                                  "n3 no status, n4 no status, n5 no status")
    assert failed[0]["value"] == {"target": "leader"}
    assert outcomes(recorder)[1] == ("ok", "resume", {"target": "last", "nodes": []})
    assert (nemesis.applied_count, nemesis.failed_count) == (1, 2)
    assert nemesis.active == {}


async def test_a_paused_leader_cannot_answer_so_it_is_not_taken(recorder: Recorder) -> None:
    cluster = FakeCluster(statuses={"n1": leader(5), "n3": leader(4)})
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("pause", {"nodes": ["n1"]})
    await nemesis.apply("kill", {"target": "leader"})
    assert cluster.calls == [("pause", "n1"), ("kill", "n3")]


async def test_a_heal_after_a_failed_leader_fault_takes_nothing_stale(recorder: Recorder) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("kill", {"nodes": ["n2"]})
    await nemesis.apply("restart", {"nodes": ["n2"]})
    await nemesis.apply("kill", {"nodes": ["n3"]})
    await nemesis.apply("kill", {"target": "leader"})  # no leader: fails
    await nemesis.apply("restart", {"target": "last"})
    assert cluster.calls == [("kill", "n2"), ("restart", "n2"), ("kill", "n3")]
    assert outcomes(recorder)[-1] == ("ok", "restart", {"target": "last", "nodes": []})
    await nemesis.heal_all()  # n3 is still down: the final heal brings it back
    assert cluster.calls[-1] == ("restart", "n3")


@pytest.mark.parametrize(("first", "then", "error"), [
    (("kill", ["n1"]), ("kill", ["n2", "n1"]), "n1 is down (killed or stopped): cannot kill it"),
    (("stop", ["n1"]), ("kill", ["n1"]), "n1 is down (killed or stopped): cannot kill it"),
    (("kill", ["n1"]), ("stop", ["n1"]), "n1 is down (killed or stopped): cannot stop it"),
    (("kill", ["n1"]), ("pause", ["n1"]), "n1 is down (killed or stopped): cannot pause it"),
    (("pause", ["n1"]), ("pause", ["n1"]), "n1 is paused already: cannot pause it"),
])
async def test_a_fault_aimed_at_a_node_already_down_fails_and_changes_nothing(
        recorder: Recorder, first: tuple[str, list[str]], then: tuple[str, list[str]],
        error: str) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply(first[0], {"nodes": first[1]})
    calls = list(cluster.calls)
    active = dict(nemesis.active)
    await nemesis.apply(then[0], {"nodes": then[1]})
    assert cluster.calls == calls  # nothing of it applied, not even to n2
    assert nemesis.active == active
    last = nemesis_ops(recorder)[-1]
    assert (last["type"], last["f"], last["error"]) == ("fail", then[0], error)
    await nemesis.heal_all()
    assert cluster.running_nodes() == NODES


async def test_a_resume_of_a_node_killed_since_its_pause_fails(recorder: Recorder) -> None:
    """`pause one` and `kill one` may draw the same node; the resume then finds it down."""
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    steps = plan([{"at_s": 0, "fault": "pause", "target": ["n2"]},
                  {"at_s": 1, "fault": "kill", "target": ["n2"]},
                  {"at_s": 2, "fault": "resume"}], NODES, random.Random(1))
    for step in steps:
        await nemesis.apply(step.f, step.value)
    assert outcomes(recorder)[-1][0] == "fail"
    assert nemesis_ops(recorder)[-1]["error"] == ("n2 is down (killed or stopped): cannot "
                                                  "resume it")
    await nemesis.heal_all()
    assert cluster.calls[-1] == ("restart", "n2")


async def test_a_resume_of_a_running_node_is_still_refused_by_the_target(
        recorder: Recorder) -> None:
    """A schedule that resumes a node nobody paused is wrong, not unlucky: the target's
    refusal is `info` and raised, a harness failure, as before."""

    class Strict(FakeCluster):
        async def resume(self, node_id: str) -> None:
            raise AssertionError(f"{node_id} is running")

    with pytest.raises(AssertionError):
        await Nemesis(Strict(), recorder).apply("resume", {"nodes": ["n1"]})
    assert outcomes(recorder) == [("info", "resume", {"nodes": ["n1"]})]


async def test_a_strobe_reaches_the_nodes_with_its_period_and_the_heal_stops_it(
        recorder: Recorder) -> None:
    cluster = FakeCluster()
    nemesis = Nemesis(cluster, recorder)
    await nemesis.apply("clock", {"nodes": ["n1", "n2"], "offset_ms": 200.0, "rate": 1.0,
                                  "mode": "strobe", "period_ms": 50.0})
    assert nemesis.active == {"clock": ["n1", "n2"]}
    await nemesis.apply("clock", {"nodes": NODES, "offset_ms": 0.0, "rate": 1.0})
    assert nemesis.active == {}
    assert cluster.calls == [("set_clock", "n1", 200.0, 1.0, 50.0),
                             ("set_clock", "n2", 200.0, 1.0, 50.0),
                             *[("set_clock", n, 0.0, 1.0, 0.0) for n in NODES]]
    await nemesis.apply("clock", {"nodes": ["n3"], "offset_ms": 100.0, "rate": 1.0,
                                  "mode": "strobe", "period_ms": 20.0})
    cluster.calls.clear()
    await nemesis.heal_all()
    assert cluster.calls == [("heal",), *[("set_clock", n, 0.0, 1.0, 0.0) for n in NODES]]


# -- the real cluster's half: Cluster.node_statuses -------------------------------------------


class ScriptedAdmin:
    """The admin client `c0`, answering each `chaos_status` from a script; records who was
    asked and with what timeout."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, Any], float]] = []

    async def call(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        self.asked.append((dest, body, timeout_s))
        answer = self.answers[dest]
        if answer is None:
            await trio.sleep(timeout_s)
            raise RequestTimeout(dest)
        await trio.sleep(0.01 * len(self.asked))  # answers arrive out of node order
        result: dict[str, Any] = answer
        return result


def scripted_cluster(tmp_path: Path, answers: dict[str, Any], *,
                     node_cmd: list[str] | None = None) -> tuple[Cluster, ScriptedAdmin]:
    cluster = Cluster(tmp_path, NODES, service_argv=None if node_cmd else ["--service", "echo"],
                      node_cmd=node_cmd, seed=1, epoch_ns=0)
    admin = ScriptedAdmin(answers)
    cluster._admin = admin  # type: ignore[assignment]
    for node in cluster.nodes.values():
        node.state = NodeState.RUNNING
    return cluster, admin


async def test_the_cluster_asks_every_running_node_and_keeps_the_statuses_it_got(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    answers = {
        "n1": {"type": "chaos_status_ok", "status": FOLLOWER, "in_reply_to": 1},
        "n2": {"type": "error", "code": 10, "text": "reports no status"},
        "n3": None,  # silent: left out after the short timeout, never a harness failure
        "n4": {"type": "chaos_status_ok", "status": leader(3)},
        "n5": {"type": "chaos_status_ok", "status": "garbage"},
    }
    cluster, admin = scripted_cluster(tmp_path, answers)
    try:
        cluster.nodes["n5"].state = NodeState.PAUSED  # a paused node cannot answer: not asked
        start = trio.current_time()
        statuses = await cluster.node_statuses()
        assert trio.current_time() - start == pytest.approx(STATUS_TIMEOUT_S)  # all at once
        assert list(statuses) == ["n1", "n4"]
        assert statuses == {"n1": FOLLOWER, "n4": leader(3)}
        assert sorted(dest for dest, _, _ in admin.asked) == ["n1", "n2", "n3", "n4"]
        assert {(body["type"], t) for _, body, t in admin.asked} == {
            ("chaos_status", STATUS_TIMEOUT_S)}
    finally:
        cluster.ctx.term()


async def test_a_node_cmd_cluster_is_never_sent_chaos_status(tmp_path: Path) -> None:
    cluster, admin = scripted_cluster(tmp_path, {}, node_cmd=["python3", "node.py"])
    try:
        assert await cluster.node_statuses() == {}
        assert admin.asked == []
    finally:
        cluster.ctx.term()


async def test_the_cluster_restarts_a_steps_nodes_all_at_once(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """A restart of five nodes takes as long as the slowest start, not five starts: the next
    steps of the schedule are not pushed seconds late."""
    cluster, _ = scripted_cluster(tmp_path, {})
    started: list[str] = []

    async def start_node(node_id: str) -> None:  # a real start: spawn, join, init_ok
        await trio.sleep(0.4)
        started.append(node_id)

    cluster.start_node = start_node  # type: ignore[method-assign]
    try:
        start = trio.current_time()
        await cluster.restart_nodes(NODES)
        assert trio.current_time() - start == pytest.approx(0.4)
        assert sorted(started) == NODES
    finally:
        cluster.ctx.term()
