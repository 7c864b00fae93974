"""`--availability`, as Maelstrom's: a run is invalid unless that share of operations succeeded."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.system.conftest import chaos


def test_total_availability_fails_a_run_whose_partitions_failed_operations(tmp_path: Path) -> None:
    store = tmp_path / "logs"
    # lin-kv on Raft through partitions: some operations fail or time out, and every one must
    # succeed.
    done = chaos("run", "partition-heal", "--simulate", "--seed", "1", "--time-limit", "6",
                 "--availability", "total", "--json", store=store)
    assert done.returncode == 1, done.explain()
    run_dir = done.run_dir
    results = json.loads((run_dir / "results.json").read_text())
    availability = results["results"]["availability"]
    assert availability["valid"] is False and availability["min_ok_fraction"] == 1.0
    assert availability["ok_fraction"] < 1.0
    assert results["run"]["availability"] == 1.0
    reproduce = shlex.split(json.loads((run_dir / "run.json").read_text())["reproduce"])
    assert reproduce[reproduce.index("--availability") + 1] == "total"
    # Judged again from the stored run, the same requirement holds.
    again = chaos("check", str(run_dir), store=store)
    assert again.returncode == 1, again.explain()
    # A requirement the run met: valid.
    met = chaos("run", "partition-heal", "--simulate", "--seed", "1", "--time-limit", "6",
                "--availability", "0.5", "--json", store=store)
    assert met.returncode == 0, met.explain()


def test_without_the_option_any_success_will_do(tmp_path: Path) -> None:
    store = tmp_path / "logs"
    done = chaos("run", "partition-heal", "--simulate", "--seed", "1", "--time-limit", "6",
                 "--json", store=store)
    assert done.returncode == 0, done.explain()
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["results"]["availability"]["min_ok_fraction"] is None
    assert "--availability" not in json.loads((done.run_dir / "run.json").read_text())["reproduce"]


def test_a_bad_availability_is_one_line_and_exit_2(tmp_path: Path) -> None:
    store = tmp_path / "logs"
    for value in ("most", "1.5", "-0.1", "nan"):
        done = chaos("run", "partition-heal", "--simulate", "--availability", value,
                     store=store)
        assert done.returncode == 2, done.explain()
        assert "--availability" in done.stderr and "Traceback" not in done.stderr
    scenario = tmp_path / "s.toml"
    scenario.write_text('workload = "echo"\nnodes = 1\ntime_limit_s = 1\navailability = "most"\n')
    done = chaos("run", str(scenario), "--simulate", store=store)
    assert done.returncode == 2 and "availability" in done.stderr, done.explain()
    assert 'write availability = "total"' in done.stderr
