"""Every planted bug is caught on real processes: the canaries the services declare.

Each service declares, for each `--bug`, the shipped scenario that must catch it
(`ServiceSpec.canaries`). On real processes the canaries are nightly (`pytest -m nightly`):
each runs on seeds 1 to 5 and must exit 1, with an invalid checker that `chaos check` agrees
with, on at least 4 of them (a real run's interleavings are not the seed's to choose; the
simulation tests, in the default tier, demand 9 of 10 seeds of each). A canary that passes is
a harness that cannot see failure. No run may end in a harness failure (exit 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.service import Canary
from node.services import SERVICES
from scenarios.loader import load_scenario
from tests.system.conftest import chaos, read_jsonl

pytestmark = [pytest.mark.cluster, pytest.mark.nightly]

TIME_LIMIT_S_MAX = 6.0
SEEDS = (1, 2, 3, 4, 5)
CAUGHT_MIN = 4  # of SEEDS
CANARIES = [(svc.name, bug, canary) for svc in SERVICES.values()
            for bug, canary in svc.canaries.items()]


def test_every_bug_has_a_canary() -> None:
    for svc in SERVICES.values():
        assert set(svc.canaries) == set(svc.bugs), svc.name


@pytest.mark.parametrize(("service", "bug", "canary"), CANARIES,
                         ids=[f"{s}-{b}" for s, b, _ in CANARIES])
def test_every_planted_bug_is_caught_on_real_processes(
    store: Path, service: str, bug: str, canary: Canary
) -> None:
    scenario = load_scenario(canary.scenario)
    workload = canary.workload or scenario.workload
    time_limit_s = min(scenario.time_limit_s, TIME_LIMIT_S_MAX)
    caught: list[int] = []
    for seed in SEEDS:
        done = chaos("run", scenario.name, "--workload", workload, "--service", service,
                     "--bug", bug, "--seed", str(seed), "--time-limit", f"{time_limit_s:g}",
                     "--json", store=store)
        assert done.returncode in (0, 1, 3), done.explain()
        if done.returncode != 1:
            continue
        history = read_jsonl(done.run_dir / "history.jsonl")
        nemesis = [op for op in history if op["process"] == "nemesis"]
        assert nemesis and all(op["type"] != "info" for op in nemesis), "a fault failed"
        results = json.loads((done.run_dir / "results.json").read_text())["results"]
        invalid = [name for name, r in results.items() if r["valid"] is False]
        assert invalid, results
        again = chaos("check", str(done.run_dir), store=store)
        assert again.returncode == 1, again.explain()
        assert any(f"{name}: INVALID" in again.stdout for name in invalid), again.stdout
        caught.append(seed)
    assert len(caught) >= CAUGHT_MIN, (
        f"{service} --bug {bug} on {canary.scenario} caught on seeds {caught} of {SEEDS}")
