"""Whole simulated runs with the small machines of sim_harness: determinism, phases, client
semantics, process faults inside a run, and harness failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sim_harness import BLACKHOLE, COUNTER, GOSSIP, MiniScenario, SetWorkload

from chaos.nemesis import Step
from chaos.simulation import SimulationError, SimulationResult, run_simulation, simulate
from node.machine import Machine, Message
from node.service import ServiceSpec

SCENARIO = MiniScenario()
GRUDGE = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
STEPS = [
    Step(1.5, "partition", {"shape": "isolate", "grudge": GRUDGE, "clients": False}),
    Step(2.5, "heal", None),
    Step(3.0, "link", {"faults": [{"src": "*", "dest": "*", "drop_probability": 0.2,
                                   "delay": {"distribution": "uniform", "low_ms": 0,
                                             "high_ms": 30}}], "clients": True}),
    Step(3.5, "kill", {"nodes": ["n2"]}),
    Step(4.0, "restart", {"nodes": ["n2"]}),
    Step(4.2, "pause", {"nodes": ["n3"]}),
    Step(4.6, "clock", {"nodes": ["n1"], "offset_ms": 50.0, "rate": 1.5}),
    Step(5.0, "heal", None),  # at the very end: heal_all's job, not applied on its own
]


def run(tmp_path: Path, name: str = "history", *, spec: ServiceSpec = GOSSIP,
        bug: str | None = None, seed: int = 1, steps: list[Step] = STEPS,
        scenario: Any = SCENARIO, log_dir: Path | None = None,
        ) -> tuple[SimulationResult, bytes, list[dict[str, Any]]]:
    path = tmp_path / f"{name}.jsonl"
    result = run_simulation(scenario=scenario, spec=spec, bug=bug, seed=seed, steps=steps,
                            workload=SetWorkload(with_setup=spec is GOSSIP), history_path=path,
                            log_dir=log_dir)
    data = path.read_bytes()
    return result, data, [json.loads(line) for line in data.splitlines()]


def test_a_seed_replays_a_byte_identical_history_and_logs(tmp_path: Path) -> None:
    first, a, _ = run(tmp_path, "a", log_dir=tmp_path / "logs-a")
    second, b, _ = run(tmp_path, "b", log_dir=tmp_path / "logs-b")
    assert a == b
    assert first == second
    for node in SCENARIO.node_ids:
        assert (tmp_path / "logs-a" / f"{node}.log").read_bytes() == (
            tmp_path / "logs-b" / f"{node}.log").read_bytes()


def test_different_seeds_give_different_histories(tmp_path: Path) -> None:
    _, a, _ = run(tmp_path, "a", seed=1)
    _, b, _ = run(tmp_path, "b", seed=2)
    assert a != b


def test_the_run_has_the_phases_of_a_real_run(tmp_path: Path) -> None:
    result, _, ops = run(tmp_path)
    sc = SCENARIO
    assert [op["index"] for op in ops] == list(range(len(ops)))
    assert [op["time"] for op in ops] == sorted(op["time"] for op in ops)
    nemesis = [(op["type"], op["f"]) for op in ops if op["process"] == "nemesis"]
    applied = [f for t, f in nemesis if t == "ok"]
    assert applied == ["partition", "heal", "link", "kill", "restart", "pause", "clock", "heal"]
    final_heal = [op for op in ops if op["process"] == "nemesis" and op["value"] == {"final": True}]
    assert [op["type"] for op in final_heal] == ["invoke", "ok"]
    fault_end_ns = (sc.warmup_s + sc.time_limit_s) * 1e9
    assert fault_end_ns <= final_heal[0]["time"] < fault_end_ns + 0.1e9  # after init and setup
    first_fault = next(op for op in ops if op["process"] == "nemesis")
    assert first_fault["time"] == pytest.approx(1.5e9, abs=0.1e9)  # Step.at_s counts from start
    finals = [op for op in ops if op.get("final")]
    assert {op["node"] for op in finals} == set(sc.node_ids)
    assert all(op["process"] >= 1_000_000 for op in finals)
    assert finals[0]["time"] >= final_heal[1]["time"] + sc.recovery_s * 1e9
    workers = [op for op in ops if op["process"] != "nemesis" and not op.get("final")]
    assert workers, "clients ran"
    assert all(op["time"] < finals[0]["time"] for op in workers)  # clients stopped first
    types = ("invoke", "ok", "fail", "info")
    assert {t: result.counts[t] for t in types} == {
        t: sum(1 for op in ops if op["process"] != "nemesis" and op["type"] == t) for t in types
    }
    assert result.simulated_s * 1e9 == ops[-1]["time"]
    net = result.network
    assert net["partitioned"] > 0
    assert net["dropped"] > 0
    assert net["delayed"] > 0
    assert result.nodes["n2"]["starts"] == 2  # killed and restarted
    assert result.nodes["n3"]["starts"] == 1  # paused, resumed by heal_all
    assert result.nodes["n3"]["state"] == "running"


def test_a_timeout_is_info_and_the_client_goes_on_as_a_new_process(tmp_path: Path) -> None:
    result, _, ops = run(tmp_path, spec=BLACKHOLE, steps=[])
    sc = SCENARIO
    completions = [op for op in ops if op["type"] != "invoke" and not op.get("final")
                   and op["process"] != "nemesis"]
    assert completions
    for op in completions:  # nothing is ever answered
        assert op["error"] == "timeout"
        assert op["type"] == ("fail" if op["f"] == "read" else "info")  # reads are idempotent
    processes: dict[int, list[dict[str, Any]]] = {}
    for op in ops:
        if op["process"] != "nemesis" and not op.get("final"):
            processes.setdefault(op["process"], []).append(op)
    for process, history in processes.items():
        # an info retires the process: it is its last operation
        infos = [i for i, op in enumerate(history) if op["type"] == "info"]
        assert infos in ([], [len(history) - 1]), process
    by_worker: dict[int, list[int]] = {}
    for process in sorted(processes):
        by_worker.setdefault(process % sc.concurrency, []).append(process)
    for worker, ids in by_worker.items():
        assert ids == [worker + k * sc.concurrency for k in range(len(ids))]
    # each info'd request went out from a client id of its own
    clients = {link.split("->")[0] for link in result.network["links"]
               if link.startswith("c") and link != "c0" and not link.startswith("c0->")}
    assert len(clients) >= result.counts["info"]
    # final reads: every one of the attempts failed
    finals = [op for op in ops if op.get("final") and op["type"] != "invoke"]
    assert len(finals) == 5 * sc.nodes
    assert {op["type"] for op in finals} == {"fail"}


def test_a_kill_in_a_run_loses_unsynced_writes(tmp_path: Path) -> None:
    steps = [Step(1.0, "kill", {"nodes": ["n1"]}), Step(2.0, "restart", {"nodes": ["n1"]})]
    result, _, _ = run(tmp_path, spec=COUNTER, bug="unsynced", steps=steps)
    assert result.nodes["n1"]["writes_lost"] > 0
    assert result.nodes["n1"]["starts"] == 2
    synced, _, _ = run(tmp_path, "synced", spec=COUNTER, steps=steps)
    assert synced.nodes["n1"]["syncs"] > 0


def test_a_stop_in_a_run_loses_nothing(tmp_path: Path) -> None:
    steps = [Step(1.0, "stop", {"nodes": ["n1"]}), Step(2.0, "restart", {"nodes": ["n1"]})]
    result, _, _ = run(tmp_path, spec=COUNTER, bug="unsynced", steps=steps)
    assert result.nodes["n1"]["writes_lost"] == 0
    assert result.nodes["n1"]["starts"] == 2


def test_stopped_nodes_are_restarted_by_the_final_heal(tmp_path: Path) -> None:
    result, _, ops = run(tmp_path, steps=[Step(1.0, "kill", {"nodes": ["n1", "n3"]})])
    assert result.nodes["n1"]["starts"] == result.nodes["n3"]["starts"] == 2
    assert {op["node"] for op in ops if op.get("final") and op["type"] == "ok"} == {
        "n1", "n2", "n3"}


def test_node_logs_and_stores_are_written_in_virtual_time(tmp_path: Path) -> None:
    run(tmp_path, log_dir=tmp_path / "nodes")
    lines = [json.loads(line) for line in
             (tmp_path / "nodes" / "n2.log").read_text(encoding="utf-8").splitlines()]
    events = [line["event"] for line in lines]
    assert events[:2] == ["start", "init"]
    assert events.count("start") == 2  # killed and restarted
    assert all(line["node"] == "n2" for line in lines)
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    n1 = [json.loads(line) for line in
          (tmp_path / "nodes" / "n1.log").read_text(encoding="utf-8").splitlines()]
    clocks = [(line["offset_ms"], line["rate"]) for line in n1 if line["event"] == "clock_set"]
    assert clocks == [(50.0, 1.5), (0.0, 1.0)]  # skewed, then reset by the final heal
    store = json.loads((tmp_path / "nodes" / "n1" / "store.json").read_text(encoding="utf-8"))
    assert store["messages"]  # what n1's disk held durably at the end


def test_an_unknown_service_or_bug_is_refused(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = dict(scenario=SCENARIO, seed=1, steps=[], workload=SetWorkload(),
                                  history_path=tmp_path / "h.jsonl", log_dir=None)
    with pytest.raises(ValueError, match="unknown service"):
        simulate(service="no-such-service", bug=None, **kwargs)
    with pytest.raises(ValueError, match="unknown bug"):
        simulate(service="echo", bug="no-such-bug", **kwargs)


def test_a_machine_that_raises_is_a_harness_failure(tmp_path: Path) -> None:
    class Broken(Machine):
        def on_add(self, msg: Message) -> None:
            raise RuntimeError("boom")

        def on_read(self, msg: Message) -> None:
            self.reply(msg, {"type": "read_ok", "value": []})

    spec = ServiceSpec(name="broken", summary="", machine=Broken)
    with pytest.raises(SimulationError, match="boom"):
        run(tmp_path, spec=spec, steps=[])
    lines = (tmp_path / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line) for line in lines)  # the history so far is whole


def test_the_admin_client_is_never_faulted_so_a_restart_gets_its_one_init(
        tmp_path: Path) -> None:
    """As the real proxy: a link fault that drops every client message spares `c0`, so the
    restarted node still gets its single init (a lost init would be a harness failure that
    says nothing about the system), while the workers' operations are lost."""
    steps = [Step(0.5, "link", {"faults": [{"src": "*", "dest": "*", "drop_probability": 1.0}],
                                "clients": True}),
             Step(1.0, "kill", {"nodes": ["n1"]}),
             Step(1.5, "restart", {"nodes": ["n1"]})]
    result, _, ops = run(tmp_path, steps=steps)
    restart = [op for op in ops if op["process"] == "nemesis" and op["f"] == "restart"]
    assert [op["type"] for op in restart] == ["invoke", "ok"]
    assert result.nodes["n1"]["starts"] == 2
    assert result.network["dropped"] > 0  # the workers' messages were dropped meanwhile


def test_a_fault_that_cannot_be_applied_is_recorded_info_and_fails_the_run(
        tmp_path: Path) -> None:
    steps = [Step(1.0, "resume", {"nodes": ["n1"]})]  # n1 is not paused
    with pytest.raises(SimulationError, match="could not be applied"):
        run(tmp_path, steps=steps)
    ops = [json.loads(line) for line in
           (tmp_path / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(op["type"], op["f"]) for op in ops if op["process"] == "nemesis"] == [
        ("invoke", "resume"), ("info", "resume")]


def test_a_clock_fault_skips_nodes_that_are_not_running(tmp_path: Path) -> None:
    """As the real cluster does: a paused or killed node gets no clock skew (it could not
    answer `chaos_clock`), the fault is still applied to the others, and the run goes on."""
    steps = [
        Step(1.0, "pause", {"nodes": ["n1"]}),
        Step(1.2, "kill", {"nodes": ["n2"]}),
        Step(1.5, "clock", {"nodes": ["n1", "n2", "n3"], "offset_ms": 500.0, "rate": 2.0}),
        Step(2.0, "resume", {"nodes": ["n1"]}),
        Step(2.2, "restart", {"nodes": ["n2"]}),
    ]
    _, _, history = run(tmp_path, steps=steps, log_dir=tmp_path / "logs")
    clock = [op for op in history if op["process"] == "nemesis" and op["f"] == "clock"]
    assert [op["type"] for op in clock] == ["invoke", "ok"]
    skewed = {node for node in SCENARIO.node_ids
              for line in (tmp_path / "logs" / f"{node}.log").read_text().splitlines()
              if '"clock_set"' in line and json.loads(line).get("offset_ms") == 500.0}
    assert "n3" in skewed
    assert not {"n1", "n2"} & skewed
