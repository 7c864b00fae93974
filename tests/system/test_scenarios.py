"""One real-cluster run per shipped scenario, with the built-in service of its workload.

The default tier runs each shipped scenario once (seed 1) on real processes, to prove the
processes, the proxy and the nemesis work together; `pytest -m nightly` runs more seeds. The
list comes from the scenarios and the registries, so a new scenario is run here without an
edit. (A scenario whose workload has no built-in service yet, lin-kv, is run with a program of
tests/maelstrom_nodes in tests/system/test_lin_kv.py.)

Besides the verdict (valid), each run must leave a complete run directory, apply every fault of
its timeline, show those faults taking effect (partitions cost messages, inside their windows),
and be judged the same way again by `chaos check`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scenarios.loader import list_scenarios
from scenarios.workloads import get_spec
from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

TIME_LIMIT_S_MAX = 5.0  # long enough that every shipped partition costs messages
# A random mix at 5 s has faults every 1.25 s, each 0.6 to 1 s long: a restart of every node
# taking 1.4 s on a loaded CI machine once left the next fault an 84 ms window that cost no
# message (the fault guard rightly said unknown). 8 s gives each fault 1 to 1.6 s.
MIX_TIME_LIMIT_S_MAX = 8.0
# Every scenario that injects faults (the fault-free `maelstrom` runs in
# tests/chaos/test_maelstrom_cmd.py, through `chaos maelstrom test`).
SERVED = [s for s in list_scenarios()
          if get_spec(s.workload).service is not None and (s.timeline or s.nemesis)]
NIGHTLY_SEEDS = (2, 3, 4)


def _cases() -> list[object]:
    cases: list[object] = []
    for sc in SERVED:
        cases.append(pytest.param(sc.name, 1, id=f"{sc.name}-1"))
        cases += [pytest.param(sc.name, seed, id=f"{sc.name}-{seed}",
                               marks=pytest.mark.nightly) for seed in NIGHTLY_SEEDS]
    return cases


def _partition_windows(nemesis: list[dict[str, Any]]) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    start = None
    for op in nemesis:
        if op["type"] != "ok":
            continue
        if op["f"] == "partition":
            start = op["time"]
        elif op["f"] == "heal" and start is not None:
            windows.append((start, op["time"]))
            start = None
    return windows


@pytest.mark.parametrize(("scenario", "seed"), _cases())
def test_every_shipped_scenario_passes_on_real_processes(
    store: Path, scenario: str, seed: int
) -> None:
    sc = next(s for s in SERVED if s.name == scenario)
    time_limit_s = min(sc.time_limit_s, MIX_TIME_LIMIT_S_MAX if sc.nemesis else TIME_LIMIT_S_MAX)
    done = chaos("run", scenario, "--seed", str(seed), "--time-limit", f"{time_limit_s:g}",
                 "--json", store=store)
    assert done.returncode == 0, done.explain()
    run_dir = done.run_dir
    for name in ("run.json", "schedule.jsonl", "history.jsonl", "messages.jsonl",
                 "results.json", "report.html"):
        assert (run_dir / name).is_file(), f"{name} missing in {run_dir}"
    assert (store / "latest").resolve() == run_dir.resolve()

    history = read_jsonl(run_dir / "history.jsonl")
    assert [op["index"] for op in history] == list(range(len(history)))
    nemesis = [op for op in history if op["process"] == "nemesis"]
    applied = [op["f"] for op in nemesis if op["type"] == "ok"]
    planned = [step["f"] for step in read_jsonl(run_dir / "schedule.jsonl")]  # mixes too
    assert planned, "the run had no faults"
    assert all(f in applied for f in planned), (planned, applied, done.explain())
    assert not [op for op in nemesis if op["type"] == "info"], "a fault failed to apply"
    assert any(op["type"] == "ok" and op["process"] != "nemesis" for op in history)
    if any(op.get("final") for op in history):
        assert any(op["type"] == "ok" and op.get("final") for op in history)

    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True, results
    assert results["results"]["faults"]["valid"] is True, results["results"]["faults"]
    messages = read_jsonl(run_dir / "messages.jsonl")
    partitioned = [m for m in messages if m["fate"] == "partitioned"]
    if "partition" in planned:
        windows = _partition_windows(nemesis)
        assert partitioned, "no message was lost to the partitions: the run tested nothing"
        slack_ns = 50_000_000
        for m in partitioned:
            assert any(a - slack_ns <= m["time"] <= b + slack_ns for a, b in windows), m

    # The faults took effect on the nodes, as their logs show: a Raft cluster whose leader
    # was killed, stopped or paused (aimed at the leader, or at every node) elected another,
    # and every killed node initialised again. (A partition need not: with pre-vote, a leader
    # left in the majority keeps leading, and a cut-off follower returns without an election;
    # its effect is the messages it cost, above.)
    elections = results["results"].get("election-safety")
    node_count = len(json.loads((run_dir / "run.json").read_text())["nodes"])
    hit_the_leader = any(
        op["type"] == "ok" and op["f"] in ("kill", "stop", "pause")
        and (op["value"].get("target") == "leader"
             or len(op["value"].get("nodes", [])) == node_count)
        for op in nemesis)
    if elections is not None and hit_the_leader:
        assert elections["elections_count"] >= 2, elections
    for op in nemesis:
        if op["type"] == "ok" and op["f"] in ("kill", "stop"):
            for node in op["value"].get("nodes", []):
                log = (run_dir / "nodes" / f"{node}.log").read_text()
                assert log.count('"event":"init"') >= 2, f"{node} never re-initialised"

    again = chaos("check", str(run_dir), "--json", store=store)
    assert again.returncode == 0, again.explain()
    rejudged = json.loads(again.stdout)["files"][str(run_dir)]
    assert set(rejudged["results"]) == set(results["results"])
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["seed"], info["exit_code"]) == (seed, 0)
    assert f"--seed {seed}" in info["reproduce"]
