"""Whole runs of `chaos run`, as a user runs them (issue 2's "done when").

Each run is a real cluster: a proxy process and node processes on loopback, a short time limit
and a fixed seed. A failing assertion prints the command, its output, and so the run directory
and the reproduce command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.system.conftest import MAELSTROM_NODES, chaos, read_jsonl

pytestmark = pytest.mark.cluster


def test_partition_heal_broadcast_is_valid_with_a_complete_run_directory(store: Path) -> None:
    done = chaos("run", "partition-heal", "--workload", "broadcast", "--seed", "1",
                 "--time-limit", "8", "--json", store=store)
    assert done.returncode == 0, done.explain()
    run_dir = done.run_dir
    for name in ("run.json", "schedule.jsonl", "history.jsonl", "messages.jsonl",
                 "results.json"):
        assert (run_dir / name).is_file(), f"{name} missing in {run_dir}"
    assert (store / "latest").resolve() == run_dir.resolve()

    history = read_jsonl(run_dir / "history.jsonl")
    nemesis = [op for op in history if op["process"] == "nemesis"]
    assert {op["f"] for op in nemesis} >= {"partition", "heal"}
    assert [op["index"] for op in history] == list(range(len(history)))
    clients_ok = [op for op in history if op["type"] == "ok" and op["process"] != "nemesis"]
    assert any(op["f"] == "broadcast" for op in clients_ok)
    assert any(op["f"] == "read" and op.get("final") for op in clients_ok)

    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True, results
    assert results["results"]["set-full"]["valid"] is True

    # The partition really cut messages: the proxy logged drops between partition and heal.
    messages = read_jsonl(run_dir / "messages.jsonl")
    partitioned = [m for m in messages if m["fate"] == "partitioned"]
    assert partitioned, "no message was lost to the partitions: the run tested nothing"
    windows = []
    start = None
    for op in nemesis:
        if op["type"] != "ok":
            continue
        if op["f"] == "partition":
            start = op["time"]
        elif op["f"] == "heal" and start is not None:
            windows.append((start, op["time"]))
            start = None
    assert windows
    slack_ns = 50_000_000
    for m in partitioned:
        assert any(a - slack_ns <= m["time"] <= b + slack_ns for a, b in windows), m

    # `chaos check` re-judges the stored run with the same checkers and verdict.
    again = chaos("check", str(run_dir), "--json", store=store)
    assert again.returncode == 0, again.explain()
    rejudged = json.loads(again.stdout)["files"][str(run_dir)]
    assert set(rejudged["results"]) == set(results["results"])

    info = json.loads((run_dir / "run.json").read_text())
    assert info["seed"] == 1
    assert info["exit_code"] == 0
    assert "--seed 1" in info["reproduce"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_broadcast_without_retries_is_caught(store: Path, seed: int) -> None:
    done = chaos("run", "partition-heal", "--workload", "broadcast", "--seed", str(seed),
                 "--time-limit", "8", "--bug", "no-retry", "--json", store=store)
    assert done.returncode == 1, done.explain()
    results = json.loads((done.run_dir / "results.json").read_text())
    setfull = results["results"]["set-full"]
    assert setfull["valid"] is False
    assert setfull["lost_count"] > 0
    again = chaos("check", str(done.run_dir), store=store)
    assert again.returncode == 1, again.explain()
    assert f"set-full: INVALID  lost_count={setfull['lost_count']}" in again.stdout


@pytest.mark.parametrize(
    ("workload", "program"),
    [("echo", "echo.py"), ("broadcast", "broadcast.py")],
)
def test_third_party_maelstrom_programs_run_through_node_cmd(
    store: Path, workload: str, program: str
) -> None:
    scenario = "partition-heal" if workload == "broadcast" else workload
    node_cmd = f"{sys.executable} {MAELSTROM_NODES / program}"
    done = chaos("run", scenario, "--workload", workload, "--node-cmd", node_cmd,
                 "--seed", "1", "--time-limit", "8", "--json", store=store)
    assert done.returncode == 0, done.explain()
    assert done.summary["counts"]["ok"] > 0


@pytest.mark.parametrize("scenario", ["echo", "unique-ids"])
def test_smoke_scenarios_pass(store: Path, scenario: str) -> None:
    done = chaos("run", scenario, "--seed", "3", "--time-limit", "3", "--json", store=store)
    assert done.returncode == 0, done.explain()
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["valid"] is True


@pytest.mark.parametrize(("bug", "exit_code"), [(None, 0), ("unsynced-boot-counter", 1)])
def test_kill_and_restart_with_unique_ids(store: Path, bug: str | None, exit_code: int) -> None:
    """Process faults reach the nodes, and a node that forgets its boot count on SIGKILL is
    caught handing out ids again after its restart."""
    args = ["run", "kill-restart", "--workload", "unique-ids", "--seed", "1",
            "--time-limit", "6", "--json"]
    done = chaos(*args, *(["--bug", bug] if bug else []), store=store)
    assert done.returncode == exit_code, done.explain()
    history = read_jsonl(done.run_dir / "history.jsonl")
    faults = {op["f"] for op in history if op["process"] == "nemesis" and op["type"] == "ok"}
    assert {"kill", "restart", "pause", "resume"} <= faults
    unique = json.loads((done.run_dir / "results.json").read_text())["results"]["unique-ids"]
    assert unique["valid"] is (bug is None)
    assert (unique["duplicated_count"] > 0) is (bug is not None)


def test_replay_repeats_the_schedule_and_parameters(store: Path) -> None:
    first = chaos("run", "isolate-node", "--seed", "11", "--time-limit", "4", "--json",
                  store=store)
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
