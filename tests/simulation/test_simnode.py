"""A simulated node keeps the driver's promises and suffers process faults as a real one does:
kill loses unsynced writes, stop keeps them, pause defers, a fast clock fires timers early, a
strobe flips the clock, and `status()` answers where the driver would answer `chaos_status`;
in a whole simulated run the nemesis finds the leader through it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sim_harness import COUNTER, GOSSIP, FakeLoop, MiniScenario, SetWorkload

from chaos.nemesis import Step
from chaos.simnode import NodeCrashed, NodeState, SimNode
from chaos.simulation import run_simulation
from node.machine import Boot, Machine, Message
from node.service import ServiceSpec

MS = 1_000_000
S = 1_000_000_000


class Harness:
    """One node on a fake loop; what it sends is collected as (dest, body)."""

    def __init__(self, spec: ServiceSpec = COUNTER, *, bug: str | None = None) -> None:
        self.loop = FakeLoop()
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.log = io.StringIO()
        self.node = SimNode("n1", spec=spec, bug=bug, seed=1, loop=self.loop, send=self._send,
                            log=self.log)
        self.msg_ids = 0

    def _send(self, src: str, dest: str, data: str) -> None:
        msg = json.loads(data)
        assert (msg["src"], msg["dest"]) == (src, dest)
        self.sent.append((dest, msg["body"]))

    def deliver(self, body: dict[str, Any], *, src: str = "c1") -> int:
        self.msg_ids += 1
        msg = {"src": src, "dest": "n1", "body": {**body, "msg_id": self.msg_ids}}
        self.node.receive(json.dumps(msg))
        return self.msg_ids

    def boot(self) -> None:
        self.node.start()
        self.deliver({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2"]}, src="c0")

    def replies(self, type_: str) -> list[dict[str, Any]]:
        return [body for _, body in self.sent if body["type"] == type_]


def test_init_is_answered_by_the_driver_and_held_messages_follow() -> None:
    h = Harness()
    h.node.start()
    h.deliver({"type": "read"})  # before init: held
    assert h.sent == []
    init_id = h.deliver({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2"]}, src="c0")
    assert h.sent[0] == ("c0", {"type": "init_ok", "in_reply_to": init_id})  # no msg_id
    assert h.sent[1][1]["type"] == "read_ok"


def test_an_init_for_another_node_is_refused() -> None:
    h = Harness()
    h.node.start()
    h.deliver({"type": "init", "node_id": "n7", "node_ids": ["n1", "n7"]}, src="c0")
    assert h.sent[0][1]["type"] == "error"
    assert h.sent[0][1]["code"] == 12


def test_kill_loses_unsynced_writes_and_keeps_synced_ones() -> None:
    h = Harness(bug="unsynced")
    h.boot()
    h.deliver({"type": "add", "value": 5})
    h.node.disk.sync()  # as if a sync had happened: 5 is durable
    h.deliver({"type": "add", "value": 2})  # 7, never synced
    assert h.node.disk.visible()["total"] == 7
    h.node.kill()
    assert h.node.state is NodeState.STOPPED
    assert h.node.disk.durable() == {"total": 5, "boots": 1}
    h.boot()
    h.deliver({"type": "read"})
    assert h.replies("read_ok")[-1]["value"] == 5
    assert h.node.statistics()["writes_lost"] == 1


def test_a_sync_makes_every_earlier_write_durable() -> None:
    h = Harness()
    h.boot()  # persists boots without sync
    assert h.node.disk.durable() == {}
    h.deliver({"type": "add", "value": 3})  # a synced write: everything before it is durable
    h.node.kill()
    assert h.node.disk.durable() == {"boots": 1, "total": 3}


def test_stop_keeps_unsynced_writes() -> None:
    h = Harness(bug="unsynced")
    h.boot()
    h.deliver({"type": "add", "value": 4})
    h.node.stop()
    assert h.node.disk.durable() == {"boots": 1, "total": 4}
    h.boot()
    assert h.node.machine is not None
    assert h.node.machine.boots == 2  # type: ignore[attr-defined]


def test_a_down_node_loses_what_reaches_it_and_its_timers_die() -> None:
    h = Harness(GOSSIP)
    h.boot()
    h.node.kill()
    h.deliver({"type": "read"})
    assert h.node.statistics()["lost_while_down"] == 1
    h.loop.run_until(10 * S)  # the retry timer of the dead life must not fire
    assert h.node.steps == 1  # only the init


def test_pause_defers_messages_and_timers_and_resume_takes_them_in_order() -> None:
    h = Harness(GOSSIP)
    h.boot()
    h.deliver({"type": "add", "value": 1})  # owed to n2: retried every 0.2 s
    h.node.pause()
    h.loop.run_until(1 * S)
    h.deliver({"type": "read"})
    sent_while_paused = len(h.sent)
    h.loop.run_until(2 * S)
    assert len(h.sent) == sent_while_paused  # no retry, no read_ok
    h.node.resume()
    h.loop.run_until(2 * S)
    kinds = [body["type"] for _, body in h.sent[sent_while_paused:]]
    assert kinds[:2] == ["gossip", "read_ok"]  # the timer fell due before the read arrived


def test_a_fast_clock_fires_timers_early_and_an_offset_moves_now() -> None:
    class Timer(Machine):
        def on_init(self) -> None:
            self.set_timer("t", 1.0)

        def tick_t(self) -> None:
            self.log("info", "tick", now_s=self.now_s)

        def on_arm(self, msg: Message) -> None:
            self.set_timer("t", 1.0)

    h = Harness(ServiceSpec(name="timer", summary="", machine=Timer))
    h.boot()
    h.loop.run_until(999 * MS)
    assert h.node.steps == 1
    h.loop.run_until(1000 * MS)
    assert h.node.steps == 2  # 1 s of node time at rate 1
    h.node.set_clock(offset_ms=5000.0, rate=4.0)
    h.deliver({"type": "arm"})
    start = h.loop.now_ns
    h.loop.run_until(start + 249 * MS)
    assert h.node.steps == 3
    h.loop.run_until(start + 250 * MS)
    assert h.node.steps == 4  # 1 s of node time at rate 4 is 0.25 s
    ticks = [json.loads(line) for line in h.log.getvalue().splitlines()]
    ticks = [t for t in ticks if t["event"] == "tick"]
    assert ticks[0]["now_s"] == pytest.approx(1.0)
    assert ticks[1]["now_s"] == pytest.approx(1.0 + 5.0 + 0.25 * 4)  # offset + fast time
    assert ticks[1]["time"] == start + 250 * MS  # logs carry virtual time in ns


def test_a_reset_timer_fires_once() -> None:
    h = Harness(GOSSIP)
    h.boot()
    h.loop.run_until(1 * S)
    assert h.node.steps == 1 + 5  # init, then a retry tick every 0.2 s


def test_a_machine_that_raises_crashes_the_node() -> None:
    class Broken(Machine):
        def on_read(self, msg: Message) -> None:
            raise RuntimeError("boom")

    h = Harness(ServiceSpec(name="broken", summary="", machine=Broken))
    h.boot()
    with pytest.raises(NodeCrashed, match="boom"):
        h.deliver({"type": "read"})
    assert '"event":"machine_crashed"' in h.log.getvalue()


def test_a_restarted_node_boots_from_durable_state_with_the_same_rng_stream() -> None:
    seen: list[tuple[dict[str, Any], float]] = []

    class Probe(Machine):
        def __init__(self, boot: Boot) -> None:
            super().__init__(boot)
            seen.append((dict(boot.durable), boot.rng.random()))

        def on_init(self) -> None:
            self.persist("x", len(seen))

    h = Harness(ServiceSpec(name="probe", summary="", machine=Probe))
    h.boot()
    h.node.kill()
    h.boot()
    assert seen[0][0] == {}
    assert seen[1][0] == {"x": 1}
    assert seen[0][1] == seen[1][1]  # make_rng(seed, node_id), as a restarted process


def test_a_strobe_flips_the_clock_every_period_until_reset() -> None:
    h = Harness()
    h.boot()
    h.node.set_clock(offset_ms=300.0, rate=1.0, period_ms=20.0)
    start = h.loop.now_ns
    ahead = []
    for step in range(6):
        h.loop.run_until(start + (10 + 20 * step) * MS)
        ahead.append(round((h.node.clock.now_s() - h.loop.now_ns / 1e9) * 1000))
    assert ahead == [300, 0, 300, 0, 300, 0]
    h.node.set_clock(offset_ms=0.0, rate=1.0, period_ms=0.0)
    h.loop.run_until(start + 210 * MS)
    assert h.node.clock.now_s() == pytest.approx(h.loop.now_ns / 1e9)
    clock_sets = [json.loads(line) for line in h.log.getvalue().splitlines()
                  if '"clock_set"' in line]
    assert [c["period_ms"] for c in clock_sets] == [20.0, 0.0]


class Reporting(Machine):
    """Reports itself leader when it is `LEADER_ID`, with a term that counts its starts."""

    LEADER_ID = "n1"

    def __init__(self, boot: Boot) -> None:
        super().__init__(boot)
        self.term = int(boot.durable.get("term", 0)) + 1

    def on_init(self) -> None:
        self.persist("term", self.term, sync=True)

    def on_read(self, msg: Message) -> None:
        self.reply(msg, {"type": "read_ok", "value": []})

    def status(self) -> dict[str, Any]:
        role = "leader" if self.node_id == self.LEADER_ID else "follower"
        return {"role": role, "term": self.term, "tags": ("a", "b")}


REPORTING = ServiceSpec(name="reporting", summary="", machine=Reporting)


def test_status_is_answered_only_where_the_driver_would_answer_chaos_status() -> None:
    h = Harness(REPORTING)
    assert h.node.status() is None  # not started
    h.node.start()
    assert h.node.status() is None  # not initialised: the driver answers error 11
    h.deliver({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2"]}, src="c0")
    assert h.node.status() == {"role": "leader", "term": 1, "tags": ["a", "b"]}  # as JSON
    h.node.pause()
    assert h.node.status() is None  # a paused process answers nothing
    h.node.resume()
    h.node.kill()
    assert h.node.status() is None
    h.boot()
    assert h.node.status() == {"role": "leader", "term": 2, "tags": ["a", "b"]}
    plain = Harness(COUNTER)
    plain.boot()
    assert plain.node.status() is None  # no status(): error 10


def test_a_status_that_raises_crashes_the_node() -> None:
    class Broken(Machine):
        def status(self) -> dict[str, Any]:
            raise RuntimeError("no status today")

    h = Harness(ServiceSpec(name="broken", summary="", machine=Broken))
    h.boot()
    with pytest.raises(NodeCrashed, match="no status today"):
        h.node.status()
    assert '"event":"machine_crashed"' in h.log.getvalue()


def run_reporting(tmp_path: Path, steps: list[Step], *, leader: str = "n2",
                  ) -> list[dict[str, Any]]:
    Reporting.LEADER_ID = leader
    try:
        path = tmp_path / "history.jsonl"
        run_simulation(scenario=MiniScenario(), spec=REPORTING, bug=None, seed=1, steps=steps,
                       workload=SetWorkload(), history_path=path)
    finally:
        Reporting.LEADER_ID = "n1"
    return [json.loads(line) for line in path.read_text().splitlines()
            if json.loads(line)["process"] == "nemesis"]


def test_a_simulated_run_kills_the_leader_it_finds_and_restarts_it(tmp_path: Path) -> None:
    steps = [Step(1.5, "kill", {"target": "leader"}), Step(2.0, "restart", {"target": "last"}),
             Step(2.5, "pause", {"target": "leader"}), Step(3.0, "resume", {"target": "last"})]
    ops = run_reporting(tmp_path, steps)
    assert [(op["type"], op["f"], op["value"].get("nodes")) for op in ops
            if op["type"] != "invoke" and op["f"] != "heal"] == [
        ("ok", "kill", ["n2"]), ("ok", "restart", ["n2"]),
        ("ok", "pause", ["n2"]), ("ok", "resume", ["n2"])]


def test_a_simulated_run_without_a_leader_records_a_failure_and_goes_on(tmp_path: Path) -> None:
    steps = [Step(1.5, "kill", {"target": "leader"}), Step(2.0, "restart", {"target": "last"}),
             Step(2.5, "kill", {"nodes": ["n3"]}), Step(3.0, "kill", {"nodes": ["n3"]})]
    ops = run_reporting(tmp_path, steps, leader="nobody")
    done = [(op["type"], op["f"], op.get("error")) for op in ops if op["type"] != "invoke"]
    assert done == [
        ("fail", "kill", "no leader found: n1 follower term 1, n2 follower term 1, "
                         "n3 follower term 1"),
        ("ok", "restart", None),
        ("ok", "kill", None),
        ("fail", "kill", "n3 is down (killed or stopped): cannot kill it"),
        ("ok", "heal", None),  # the final heal, reached: the run went on
    ]
