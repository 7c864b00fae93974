"""Whole runs of `chaos run` beyond one per scenario: Maelstrom programs as nodes, replay.

(Each shipped scenario's run is in test_scenarios.py, each planted bug's in test_canaries.py.)

Each run is a real cluster: a proxy process and node processes on loopback, a short time limit
and a fixed seed. A failing assertion prints the command, its output, and so the run directory
and the reproduce command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.system.conftest import MAELSTROM_NODES, chaos

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("workload", "program"),
    [("echo", "echo.py"),
     # Nightly: its final reads wait Maelstrom's 10 s; test_lin_kv.py's programs already talk
     # node to node through partitions in the default tier.
     pytest.param("broadcast", "broadcast.py", marks=pytest.mark.nightly)],
)
def test_third_party_maelstrom_programs_run_through_node_cmd(
    store: Path, workload: str, program: str
) -> None:
    scenario = "partition-heal" if workload == "broadcast" else workload
    node_cmd = f"{sys.executable} {MAELSTROM_NODES / program}"
    done = chaos("run", scenario, "--workload", workload, "--node-cmd", node_cmd,
                 "--seed", "1", "--time-limit", "5", "--json", store=store)
    assert done.returncode == 0, done.explain()
    assert done.summary["counts"]["ok"] > 0


# lin-kv (Raft), not a convergent workload: those wait Maelstrom's 10 s before final reads.
SHORT_ISOLATE = """
description = "isolate a random node, briefly"
workload = "lin-kv"
nodes = 3
time_limit_s = 2
warmup_s = 0.5
recovery_s = 1
rate = 20
concurrency = 3

[[timeline]]
at_s = 0.2
fault = "partition"
shape = "isolate"

[[timeline]]
at_s = 1.5
fault = "heal"
"""


def test_replay_repeats_the_schedule_and_parameters(store: Path, tmp_path: Path) -> None:
    """A scenario file by path, with a random choice in its schedule (which node is
    isolated), replays with the same schedule and parameters."""
    scenario = tmp_path / "short-isolate.toml"
    scenario.write_text(SHORT_ISOLATE)
    first = chaos("run", str(scenario), "--seed", "11", "--json", store=store)
    assert first.returncode == 0, first.explain()
    again = chaos("replay", str(first.run_dir), "--json", store=store)
    assert again.returncode == 0, again.explain()
    assert again.run_dir != first.run_dir
    assert (again.run_dir / "schedule.jsonl").read_text() == (
        first.run_dir / "schedule.jsonl"
    ).read_text()
    before = json.loads((first.run_dir / "run.json").read_text())
    after = json.loads((again.run_dir / "run.json").read_text())
    for key in ("scenario", "seed", "nodes", "time_limit_s", "rate", "concurrency", "workload"):
        assert after[key] == before[key], key
    assert after["reproduce"] == before["reproduce"]
