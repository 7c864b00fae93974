"""`chaos run --latency`: a whole real run over a network with a baseline latency, as Maelstrom's
`--latency` (tests/chaos/test_latency*.py and tests/simulation/test_latency_simulated.py test
the pieces; this one shows the proxy process gets it and applies it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

SHORT_ECHO = """\
description = "echo, quickly: no faults, only the network's latency"
workload = "echo"
nodes = 2
time_limit_s = 1
warmup_s = 0.5
recovery_s = 0.5
settle_s = 0
rate = 20
concurrency = 2
"""


def test_every_operation_waits_for_the_latency_both_ways(store: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "short-echo.toml"
    scenario.write_text(SHORT_ECHO)
    done = chaos("run", str(scenario), "--latency", "50", "--latency-dist", "constant",
                 "--seed", "3", "--json", store=store)
    assert done.returncode == 0, done.explain()
    summary = done.summary
    assert "--latency 50 --latency-dist constant" in summary["reproduce"], done.explain()
    ops = read_jsonl(done.run_dir / "history.jsonl")
    invoked: dict[int, int] = {}
    latencies_ms = []
    for op in ops:
        if op["process"] == "nemesis":
            continue
        if op["type"] == "invoke":
            invoked[op["process"]] = op["time"]
        else:
            assert op["type"] == "ok", (op, done.explain())
            latencies_ms.append((op["time"] - invoked.pop(op["process"])) / 1e6)
    assert len(latencies_ms) >= 10, done.explain()
    assert min(latencies_ms) >= 100, (sorted(latencies_ms)[:5], done.explain())
    run_info = json.loads((done.run_dir / "run.json").read_text())
    assert (run_info["latency_ms"], run_info["latency_dist"]) == (50.0, "constant")
    proxy = json.loads((done.run_dir / "results.json").read_text())["proxy"]
    assert proxy["baseline_delayed"] >= 2 * len(latencies_ms)
    assert proxy["delayed"] == 0  # no fault: the latency is never counted as one
    # the orchestrator's init, through the same proxy, did not wait
    inits = [x for x in read_jsonl(done.run_dir / "messages.jsonl")
             if x.get("type") in ("init", "init_ok")]
    assert len(inits) == 4
    assert all("baseline_ms" not in x and x["delay_ms"] == 0 for x in inits), inits
