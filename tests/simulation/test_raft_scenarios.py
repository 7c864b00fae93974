"""The raft service in simulation: partitions cost an election only when they cut the leader
off, and then no more than one, over seeds 1 to 3 (pre-vote and check-quorum, node/services/
raft).

Their verdicts over many seeds, and each planted bug caught on its canary run, are
tests/simulation/test_canaries.py's. Here the election-safety checker's figures must show
what pre-vote and check-quorum are for: a node cut off by a partition (isolate-node, the
minority of partition-heal) asks for pre-votes in vain instead of raising its term, so it
returns without deposing the leader; a leader cut off in a minority steps down by
check-quorum (`raft_check_quorum_lost` in its log), and every election after the first
replaced such a leader. Without pre-vote these runs reached terms 8 to 16 and 2.7 to 6.2 s
without a leader (a returning node's higher term deposed the working leader); with it, 1 to 3
terms and under half a second, most of it the first election.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.simulation.test_canaries import simulate_seed

SEEDS = range(1, 4)
LEADERLESS_MS_MAX = 1000  # the first election (0.3 to 0.6 s) and one failover at most


def check_quorum_losses(run_dir: Path) -> int:
    """How many times a leader stepped down by check-quorum, from the nodes' logs."""
    return sum(json.loads(line).get("event") == "raft_check_quorum_lost"
               for log in sorted((run_dir / "nodes").glob("*.log"))
               for line in log.read_text().splitlines() if line.strip())


@pytest.mark.parametrize("scenario", ["partition-heal", "isolate-node"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_partition_costs_an_election_only_when_it_cuts_the_leader_off(
        tmp_path: Path, scenario: str, seed: int) -> None:
    verdict, result = simulate_seed(tmp_path, scenario, seed, service="raft")
    reproduce = f"chaos run {scenario} --simulate --seed {seed} --time-limit 8"
    assert verdict["valid"] is True, f"{reproduce}: {verdict}"
    assert result.counts["ok"] > 0
    assert result.network["partitioned"] > 0, f"{reproduce}: the partitions dropped nothing"
    elections = verdict["results"]["election-safety"]
    assert elections["elections_count"] >= 1, reproduce
    # Each election after the first replaced a leader cut off in a minority, which noticed.
    losses = check_quorum_losses(tmp_path / f"{scenario}-raft-None-{seed}")
    assert losses == elections["elections_count"] - 1, (reproduce, elections, losses)
    # No term was raised in vain by a node cut off (a split vote may cost one).
    assert elections["terms_reached"] <= elections["elections_count"] + 1, (
        reproduce, elections)
    assert elections["leaderless_ms"] < LEADERLESS_MS_MAX, (reproduce, elections)
