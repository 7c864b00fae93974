"""The built-in services in simulation, read from the registries: every planted bug caught by
its declared canary run (`ServiceSpec.canaries`), every correct service passing the same runs
and every shipped scenario, over many seeds, judged as `chaos run` judges (scenarios.judge,
with the fault guard, so a run whose faults cost nothing is not a pass); and a seed replays a
byte-identical history even in another process with another PYTHONHASHSEED.

Nothing here names a service: a new mechanism's canaries run here by being declared.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.nemesis import plan_scenario
from chaos.simulation import SimulationResult, simulate
from checker.elections import load_node_logs
from checker.history import load_jsonl
from node.service import Canary
from node.services import SERVICES
from scenarios.judge import judge
from scenarios.loader import list_scenarios, load_scenario
from scenarios.workloads import get_spec, get_workload

ROOT = Path(__file__).resolve().parents[2]
BUG_SEEDS = range(1, 11)
BUG_CAUGHT_MIN = 9  # of BUG_SEEDS
CORRECT_SEEDS = range(1, 11)  # the default tier; `pytest -m nightly` runs NIGHTLY_CORRECT_SEEDS
NIGHTLY_CORRECT_SEEDS = range(11, 41)
SCENARIO_SEEDS = range(1, 6)

CANARIES = [(spec.name, bug, canary) for spec in SERVICES.values()
            for bug, canary in sorted(spec.canaries.items())]
CORRECT = sorted({(spec.name, canary) for spec in SERVICES.values()
                  for canary in spec.canaries.values()}, key=str)
SHIPPED = [(sc.name, get_spec(sc.workload).service) for sc in list_scenarios()
           if get_spec(sc.workload).service in SERVICES]


def simulate_seed(tmp_path: Path, scenario: str, seed: int, *, service: str | None = None,
                  workload: str | None = None, bug: str | None = None,
                  time_limit_s: float = 8.0) -> tuple[dict[str, Any], SimulationResult]:
    """One simulated run as `chaos run SCENARIO --simulate --time-limit 8` makes it (shipped
    timelines are in fractions of the fault phase): its verdict and result."""
    shipped = load_scenario(scenario)
    sc = shipped.with_overrides(workload=workload,
                                time_limit_s=min(time_limit_s, shipped.time_limit_s))
    steps = plan_scenario(sc, random.Random(f"{seed}/nemesis"))
    wl = get_workload(sc.workload, **dict(sc.workload_params))
    run_dir = tmp_path / f"{Path(scenario).stem}-{service}-{bug}-{seed}"
    path = run_dir / "history.jsonl"
    result = simulate(scenario=sc, service=service or get_spec(sc.workload).service, bug=bug,
                      seed=seed, steps=steps, workload=wl, history_path=path,
                      log_dir=run_dir / "nodes")
    ops = load_jsonl(path)
    verdict = judge(ops, workload=wl, node_ids=sc.node_ids, network=result.network,
                    node_logs=load_node_logs(run_dir)[0])
    return verdict, result


def test_there_is_something_to_run() -> None:
    assert CANARIES
    assert SHIPPED


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_planted_bug_has_a_canary(service: str) -> None:
    spec = SERVICES[service]
    assert sorted(spec.canaries) == sorted(spec.bugs), f"{service}: declare a canary per bug"


@pytest.mark.parametrize(("service", "bug", "canary"), CANARIES,
                         ids=[f"{s}-{b}" for s, b, _ in CANARIES])
def test_every_planted_bug_is_caught(tmp_path: Path, service: str, bug: str,
                                     canary: Canary) -> None:
    caught: list[int] = []
    missed: list[int] = []
    for seed in BUG_SEEDS:
        verdict, _ = simulate_seed(tmp_path, canary.scenario, seed, service=service,
                                   workload=canary.workload, bug=bug)
        (caught if verdict["valid"] is False else missed).append(seed)
    assert len(caught) >= BUG_CAUGHT_MIN, (
        f"{service} --bug {bug} on {canary.scenario} caught on seeds {caught} only; reproduce "
        f"with: chaos run {canary.scenario} --simulate --seed {missed[0]} --bug {bug}"
        + (f" --workload {canary.workload}" if canary.workload else ""))


@pytest.mark.parametrize("seeds", [
    pytest.param(CORRECT_SEEDS, id="seeds-1-10"),
    pytest.param(NIGHTLY_CORRECT_SEEDS, id="seeds-11-40", marks=pytest.mark.nightly),
])
@pytest.mark.parametrize(("service", "canary"), CORRECT,
                         ids=[f"{s}-{c.scenario}" for s, c in CORRECT])
def test_every_correct_service_passes_its_canary_runs(tmp_path: Path, service: str,
                                                      canary: Canary, seeds: range) -> None:
    for seed in seeds:
        verdict, result = simulate_seed(tmp_path, canary.scenario, seed, service=service,
                                        workload=canary.workload)
        assert verdict["valid"] is True, (
            f"chaos run {canary.scenario} --simulate --seed {seed}: {verdict}")
        assert result.counts["ok"] > 0


@pytest.mark.parametrize(("scenario", "service"), SHIPPED, ids=[s for s, _ in SHIPPED])
def test_every_shipped_scenario_passes_in_simulation(tmp_path: Path, scenario: str,
                                                     service: str) -> None:
    for seed in SCENARIO_SEEDS:
        verdict, _ = simulate_seed(tmp_path, scenario, seed, service=service)
        assert verdict["valid"] is True, f"chaos run {scenario} --simulate --seed {seed}: {verdict}"


SCRIPT = """
import hashlib, random, sys
from pathlib import Path
from chaos.nemesis import plan_scenario
from chaos.simulation import simulate
from node.services import SERVICES
from scenarios.loader import load_scenario
from scenarios.workloads import get_workload

out = Path(sys.argv[1])
for spec in SERVICES.values():
    for bug, canary in sorted(spec.canaries.items()):
        sc = load_scenario(canary.scenario).with_overrides(workload=canary.workload,
                                                           time_limit_s=8)
        steps = plan_scenario(sc, random.Random("3/nemesis"))
        name = f"{spec.name}-{bug}"
        path = out / f"{name}.jsonl"
        simulate(scenario=sc, service=spec.name, bug=bug, seed=3, steps=steps,
                 workload=get_workload(sc.workload, **dict(sc.workload_params)),
                 history_path=path, log_dir=out / name)
        logs = b"".join(p.read_bytes() for p in sorted((out / name).rglob("*.*")))
        print(name, hashlib.sha256(path.read_bytes()).hexdigest(),
              hashlib.sha256(logs).hexdigest())
"""


def test_a_seed_replays_byte_identically_across_processes_and_hash_seeds(
        tmp_path: Path) -> None:
    outputs = []
    for hash_seed in ("0", "4242"):
        out = tmp_path / hash_seed
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert len(outputs[0].splitlines()) == len(CANARIES)
    assert outputs[0] == outputs[1]


def test_the_same_seed_in_process_gives_the_same_bytes(tmp_path: Path) -> None:
    service, _, canary = CANARIES[0]
    histories = []
    for attempt in ("a", "b"):
        sc = load_scenario(canary.scenario).with_overrides(workload=canary.workload)
        steps = plan_scenario(sc, random.Random("7/nemesis"))
        path = tmp_path / f"{attempt}.jsonl"
        simulate(scenario=sc, service=service, bug=None, seed=7, steps=steps,
                 workload=get_workload(sc.workload, **dict(sc.workload_params)),
                 history_path=path, log_dir=None)
        histories.append(path.read_bytes())
    assert histories[0] == histories[1]
