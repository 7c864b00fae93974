"""`chaos maelstrom test`: Maelstrom's options translated into a `chaos run`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaos import cli
from chaos.runconfig import reproduce_command
from tests.system.conftest import MAELSTROM_NODES, chaos

ECHO = str(MAELSTROM_NODES / "echo.py")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The RunConfig `chaos maelstrom test` builds, instead of running it."""
    seen: dict[str, Any] = {}

    def execute_run(config: Any, *, as_json: bool) -> int:
        seen["config"] = config
        return 0

    monkeypatch.setattr(cli, "execute_run", execute_run)
    monkeypatch.chdir(tmp_path)
    return seen


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.cli, ["maelstrom", "test", *args], catch_exceptions=False)


def test_gossip_glomers_broadcast_options_become_a_chaos_run(captured: dict[str, Any]) -> None:
    done = invoke("-w", "broadcast", "--bin", sys.executable, "--node-count", "25",
                  "--time-limit", "20", "--rate", "100", "--latency", "100", "--seed", "3",
                  "--", ECHO, "--flag")
    assert done.exit_code == 0, done.output
    config = captured["config"]
    sc = config.scenario
    assert (sc.name, sc.workload, sc.nodes, sc.time_limit_s, sc.rate, sc.concurrency) == (
        "maelstrom", "broadcast", 25, 20, 100, 25)  # --concurrency 1n: a client per node
    assert config.node_cmd == (sys.executable, ECHO, "--flag")
    assert config.seed == 3 and not sc.nemesis
    assert sc.latency_ms == 100 and sc.latency_dist == "constant"
    assert "--latency 100 --latency-dist constant" in reproduce_command(config)


def test_concurrency_per_node_nemesis_and_availability(captured: dict[str, Any]) -> None:
    done = invoke("-w", "unique-ids", "--bin", sys.executable, "--node-count", "3",
                  "--time-limit", "30", "--rate", "1000", "--concurrency", "2n",
                  "--availability", "total", "--nemesis", "partition", "--log-stderr",
                  "--", ECHO)
    assert done.exit_code == 0, done.output
    sc = captured["config"].scenario
    assert (sc.concurrency, sc.nemesis, sc.availability) == (6, ("partition",), 1.0)


@pytest.mark.parametrize(("args", "complaint"), [
    ((), "--bin is required"),
    (("--bin", sys.executable, "--concurrency", "lots"), "--concurrency: 'lots' is neither"),
    (("--bin", sys.executable, "--concurrency", "0n"), "makes 0 clients"),
    (("--bin", sys.executable, "--availability", "most"), "--availability: 'most'"),
    (("--bin", sys.executable, "--availability", "1.5"), "--availability: '1.5'"),
    (("--bin", sys.executable, "--topology", "tree4"), "unknown parameter(s) topology"),
    (("--bin", sys.executable, "-w", "broadcast", "--topology", "tree9"), "unknown topology"),
    (("--bin", sys.executable, "-w", "lock"), "unknown workload 'lock'"),
    (("--bin", sys.executable, "--nemesis", "meteor"), "unknown fault 'meteor'"),
    (("--bin", "/no/such/program"), "is not an executable"),
])
def test_bad_options_are_one_line_and_exit_2(
    captured: dict[str, Any], args: tuple[str, ...], complaint: str
) -> None:
    done = invoke(*args)
    assert done.exit_code == 2, done.output
    assert complaint in done.output and "Traceback" not in done.output
    assert "config" not in captured


@pytest.mark.cluster
def test_maelstroms_echo_command_runs_a_program_and_judges_it(tmp_path: Path) -> None:
    # Fly.io's first challenge, as typed for Maelstrom (with our store and seed).
    store = tmp_path / "logs"
    done = chaos("maelstrom", "test", "-w", "echo", "--bin", sys.executable, "--node-count", "1",
                 "--time-limit", "3", "--rate", "20", "--latency", "20", "--seed", "1",
                 "--store", str(store), "--json", "--", ECHO, store=store)
    assert done.returncode == 0, done.explain()
    summary = json.loads(done.stdout)
    assert summary["counts"]["ok"] > 20
    run_dir = Path(summary["run_dir"])
    info = json.loads((run_dir / "run.json").read_text())
    argv = shlex.split(info["reproduce"])
    assert argv[:3] == ["chaos", "run", "maelstrom"]
    assert argv[argv.index("--latency") + 1] == "20"
    # Every echo crossed the network twice at 20 ms: none took less than 40 ms.
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    invoked: dict[Any, int] = {}
    latencies_ms = []
    for op in ops:  # a client's operations come one at a time
        if op["process"] == "nemesis":
            continue
        if op["type"] == "invoke":
            invoked[op["process"]] = op["time"]
        elif op["type"] == "ok":
            latencies_ms.append((op["time"] - invoked[op["process"]]) / 1e6)
    assert latencies_ms and min(latencies_ms) >= 39, min(latencies_ms)


def test_workload_knobs_become_workload_parameters(captured: dict[str, Any]) -> None:
    done = invoke("-w", "txn-list-append", "--bin", sys.executable, "--key-count", "5",
                  "--max-txn-length", "3", "--max-writes-per-key", "8",
                  "--consistency-models", "serializable, snapshot-isolation", "--", ECHO)
    assert done.exit_code == 0, done.output
    config = captured["config"]
    assert config.scenario.params_set == {
        "keys": 5, "max_txn_length": 3, "max_writes_per_key": 8,
        "consistency_models": ["serializable", "snapshot-isolation"]}
    argv = shlex.split(reproduce_command(config))
    given = [argv[i + 1] for i, a in enumerate(argv) if a == "--param"]
    assert given == ['consistency_models=["serializable","snapshot-isolation"]', "keys=5",
                     "max_txn_length=3", "max_writes_per_key=8"]
    done = invoke("-w", "broadcast", "--bin", sys.executable, "--topology", "tree4", "--", ECHO)
    assert done.exit_code == 0, done.output
    assert captured["config"].scenario.workload_params["topology"] == "tree4"
