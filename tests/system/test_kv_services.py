"""A program written elsewhere keeps its g-counter in seq-kv, on real processes (issue 10).

tests/maelstrom_nodes/gcounter_seqkv.py is plain python3, as Gossip Glomers solutions are: its
adds are read-then-cas loops against the cluster's `seq-kv` (hosted by the proxy), and it runs
unchanged through `--node-cmd`. It passes partition-heal with the services' links faulted (so
the partitions cut the minority off from seq-kv and the run tests something); with `--race`
(read-then-write) it loses updates and the counter checker catches it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scenarios.loader import scenario_dir
from tests.system.conftest import MAELSTROM_NODES, Completed, chaos

pytestmark = pytest.mark.cluster


def scenario_with_faulted_services(tmp_path: Path) -> Path:
    """partition-heal as shipped, plus `fault_service_links = true`."""
    text = (scenario_dir() / "partition-heal.toml").read_text()
    path = tmp_path / "partition-heal-services.toml"
    path.write_text(text.replace("[workload_params]",
                                 "fault_service_links = true\n\n[workload_params]", 1))
    return path


def run_counter(store: Path, scenario: Path, *extra: str) -> Completed:
    node_cmd = " ".join([sys.executable, str(MAELSTROM_NODES / "gcounter_seqkv.py"), *extra])
    return chaos("run", str(scenario), "--workload", "g-counter", "--node-cmd", node_cmd,
                 "--seed", "1", "--time-limit", "5", "--json", store=store)  # fmt: skip


@pytest.mark.nightly  # the default tier runs the txn program below on lin-kv, and this one in
def test_a_counter_in_seq_kv_passes(store: Path, tmp_path: Path) -> None:  # simulation
    scenario = scenario_with_faulted_services(tmp_path)
    done = run_counter(store, scenario)
    assert done.returncode == 0, done.explain()
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["results"]["counter"]["valid"] is True
    links = results["proxy"]["links"]
    assert any(c["lost"] for name, c in links.items() if name.endswith("->seq-kv")), (
        f"the partitions cut no node off from seq-kv\n{done.explain()}")


@pytest.mark.nightly  # the race is caught in simulation in the default tier
def test_a_counter_in_seq_kv_with_a_lost_update_race_is_caught(store: Path,
                                                               tmp_path: Path) -> None:
    scenario = scenario_with_faulted_services(tmp_path)
    raced = run_counter(store, scenario, "--race")
    assert raced.returncode == 1, raced.explain()
    results = json.loads((raced.run_dir / "results.json").read_text())
    assert results["results"]["counter"]["valid"] is False


def run_txn_program(store: Path, scenario: Path, *extra: str) -> Completed:
    node_cmd = " ".join([sys.executable, str(MAELSTROM_NODES / "txn_linkv.py"), *extra])
    return chaos("run", str(scenario), "--workload", "txn-list-append", "--node-cmd",
                 node_cmd, "--seed", "1", "--time-limit", "4", "--json", store=store)


def test_a_txn_program_keeping_its_data_in_lin_kv_is_judged(store: Path, tmp_path: Path) -> None:
    """Issue 12's outsider: tests/maelstrom_nodes/txn_linkv.py keeps the whole database as one
    value in the cluster's lin-kv and commits by compare-and-set, so its transactions are
    serializable."""
    done = run_txn_program(store, scenario_with_faulted_services(tmp_path))
    assert done.returncode == 0, done.explain()
    results = json.loads((done.run_dir / "results.json").read_text())
    assert results["results"]["list-append"]["txn_count"] > 100


@pytest.mark.nightly
def test_a_txn_program_that_writes_without_cas_is_caught(store: Path, tmp_path: Path) -> None:
    """The same program with --no-cas: a plain write loses concurrent appends, and Elle names
    the anomalies."""
    lost = run_txn_program(store, scenario_with_faulted_services(tmp_path), "--no-cas")
    assert lost.returncode == 1, lost.explain()
    anomalies = json.loads((lost.run_dir / "results.json").read_text())["results"]["list-append"]
    assert anomalies["valid"] is False and anomalies["anomaly-types"], anomalies


def run_kafka_program(store: Path, scenario: Path, *extra: str) -> Completed:
    node_cmd = " ".join([sys.executable, str(MAELSTROM_NODES / "kafka_linkv.py"), *extra])
    return chaos("run", str(scenario), "--workload", "kafka", "--node-cmd", node_cmd,
                 "--seed", "1", "--time-limit", "5", "--json", store=store)


@pytest.mark.nightly
def test_a_kafka_program_keeping_its_offsets_in_lin_kv_is_judged(store: Path,
                                                                 tmp_path: Path) -> None:
    """Issue 11's outsider: tests/maelstrom_nodes/kafka_linkv.py keeps offsets, messages and
    commits in the cluster's lin-kv (offsets taken by compare-and-set) and passes; with
    --local-offsets each node numbers on its own, and the kafka checker finds lost writes."""
    scenario = scenario_with_faulted_services(tmp_path)
    done = run_kafka_program(store, scenario)
    assert done.returncode == 0, done.explain()
    local = run_kafka_program(store, scenario, "--local-offsets")
    assert local.returncode == 1, local.explain()
    kafka = json.loads((local.run_dir / "results.json").read_text())["results"]["kafka"]
    assert kafka["valid"] is False and kafka["lost_count"] > 0, kafka
