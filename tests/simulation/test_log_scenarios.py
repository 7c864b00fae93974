"""The log service in simulation: partition-heal, leader-kill and kill-restart with the kafka
workload are not only valid but say something, over seeds 1 to 3.

Their verdicts over 20 seeds, and each planted bug caught on its canary run over 10, are
tests/simulation/test_canaries.py's (read from the service's declaration: those three runs
are the log's canaries). Here, the same runs must show that what they judge happened: the
majority side of a partition kept acknowledging sends; every killed leader was followed by a
new one and by acknowledged sends; committed offsets survived every node being killed at once
(what `volatile-commits` loses); consumers polled what producers sent during the run (a lag
was measured), and every node answered a final poll.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.elections import load_node_logs
from checker.history import Op, load_jsonl
from tests.simulation.test_canaries import simulate_seed

SEEDS = range(1, 4)
NODES = 5


def run(tmp_path: Path, scenario: str, seed: int) -> tuple[list[Op], Path]:
    verdict, _ = simulate_seed(tmp_path, scenario, seed, service="log", workload="kafka")
    assert verdict["valid"] is True, (
        f"chaos run {scenario} --workload kafka --simulate --seed {seed} --time-limit 8: "
        f"{verdict}")
    run_dir = tmp_path / f"{scenario}-log-None-{seed}"
    history = load_jsonl(run_dir / "history.jsonl")
    kafka = verdict["results"]["kafka"]
    assert kafka["lag_count"] > 0, "no message was consumed during the run"
    finals = {op.node for op in history if op.extra.get("final") and op.type == "ok"}
    assert len(finals) == NODES, f"final polls answered by {sorted(map(str, finals))} only"
    return history, run_dir


def oks(history: list[Op], f: str) -> list[Op]:
    return [op for op in history if op.f == f and op.type == "ok" and op.process != "nemesis"]


def invoked_at(history: list[Op], completion: Op) -> int:
    """When `completion`'s operation was invoked: its process's invocation just before it."""
    return max(op.time for op in history[:completion.index] if op.type == "invoke"
               and op.process == completion.process)


def faults(history: list[Op], f: str) -> list[Op]:
    return [op for op in history if op.process == "nemesis" and op.f == f and op.type == "ok"]


@pytest.mark.parametrize("seed", SEEDS)
def test_partition_heal_keeps_the_majority_acknowledging_sends(tmp_path: Path,
                                                                 seed: int) -> None:
    history, _ = run(tmp_path, "partition-heal", seed)
    sends = oks(history, "send")
    heals = [op.time for op in faults(history, "heal")]
    partitions = faults(history, "partition")
    assert len(partitions) == 2
    for cut in partitions:
        healed = min(t for t in heals if t > cut.time)
        during = [op for op in sends if cut.time < op.time < healed]
        assert during, f"no send acknowledged during the partition at {cut.time / 1e9:.1f} s"


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_kill_elects_a_new_leader_and_goes_on_after_every_kill(tmp_path: Path,
                                                                       seed: int) -> None:
    history, run_dir = run(tmp_path, "leader-kill", seed)
    sends = oks(history, "send")
    kills = faults(history, "kill")
    assert len(kills) == 4 and all(op.value.get("nodes") for op in kills)
    leaders = {(r["term"], r["node"]) for r in load_node_logs(run_dir)[0]
               if r.get("event") == "raft_role" and r.get("role") == "leader"}
    assert len(leaders) > len(kills), f"leaders {sorted(leaders)} for {len(kills)} kills"
    for kill in kills:
        after = [op for op in sends if invoked_at(history, op) > kill.time]
        assert after, f"no send invoked after the kill at {kill.time / 1e9:.1f} s acknowledged"


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_restart_keeps_committed_offsets_across_killing_every_node(tmp_path: Path,
                                                                          seed: int) -> None:
    history, _ = run(tmp_path, "kill-restart", seed)
    [kill] = faults(history, "kill")
    restart = faults(history, "restart")[0]
    committed_before: dict[str, int] = {}
    for op in oks(history, "commit_offsets"):
        if op.time < kill.time:
            for key, offset in op.value.items():
                committed_before[key] = max(offset, committed_before.get(key, offset))
    assert committed_before, "nothing was committed before the kill: nothing to lose"
    listed_after = [op.value for op in oks(history, "list_committed_offsets")
                    if op.time > restart.time]
    assert listed_after, "no list_committed_offsets after the restart"
    assert all(all(listed.get(k, -1) >= o for k, o in committed_before.items())
               for listed in listed_after), (committed_before, listed_after[:3])
