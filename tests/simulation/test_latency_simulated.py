"""The baseline latency (`latency_ms`, `--latency`) in the simulator: the simulated network adds
it to every message but the admin client's, keeps it through heals, counts it apart from the
faults' delays; a whole echo run takes at least two latencies per operation (the request and
the reply each wait) and replays byte for byte; `chaos run --simulate --latency` records it
and `chaos replay` keeps it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from sim_harness import GOSSIP, FakeLoop, MiniScenario, SetWorkload

from chaos.faults import ADMIN_ID, baseline_delay
from chaos.nemesis import plan_scenario
from chaos.simnet import BASE_LATENCY_MS, SimNetwork
from chaos.simulation import SimulationResult, run_simulation, simulate
from scenarios.loader import load_scenario
from scenarios.workloads import get_workload

ROOT = Path(__file__).resolve().parents[2]
NODES = ["n1", "n2", "n3"]
MS = 1_000_000
HOP_MS_MAX = BASE_LATENCY_MS[1]  # the simulated loopback hop, on top of the latency


class Net:
    """A network with a baseline latency on a fake loop: when did each message arrive?"""

    def __init__(self, latency_ms: float, distribution: str = "constant") -> None:
        self.loop = FakeLoop()
        self.arrived: dict[int, int] = {}  # message number -> arrival time, ns
        self.copies: dict[int, int] = {}
        self.net = SimNetwork(loop=self.loop, nodes=NODES, seed=1, deliver=self._deliver,
                              is_reachable=lambda dest: True,
                              baseline=baseline_delay(latency_ms, distribution))

    def _deliver(self, dest: str, data: str) -> None:
        n = json.loads(data)["n"]
        self.arrived.setdefault(n, self.loop.now_ns)
        self.copies[n] = self.copies.get(n, 0) + 1

    def send(self, src: str, dest: str, n: int) -> None:
        self.net.send(src, dest, json.dumps({"n": n}))

    def settle(self) -> None:
        self.loop.run_until(self.loop.now_ns + 120_000 * MS)

    def waited_ms(self, n: int, sent_ns: int) -> float:
        return (self.arrived[n] - sent_ns) / MS


def test_every_link_but_the_admins_waits_for_the_latency() -> None:
    n = Net(50)
    for i, (src, dest) in enumerate([("n1", "n2"), ("c1", "n1"), ("n1", "c1"),
                                     ("n1", "seq-kv"), (ADMIN_ID, "n1"), ("n1", ADMIN_ID)]):
        n.send(src, dest, i)
    n.settle()
    for i in range(4):
        assert 50 <= n.waited_ms(i, 0) <= 50 + HOP_MS_MAX, i
    for i in (4, 5):
        assert n.waited_ms(i, 0) <= HOP_MS_MAX, i  # c0: init and control, never held back
    s = n.net.statistics()
    assert (s["baseline_delayed"], s["delayed"], s["delivered"]) == (4, 0, 6)


def test_heals_and_new_link_faults_keep_the_latency_and_faults_come_on_top() -> None:
    n = Net(50)
    n.net.link_faults([{"delay": {"distribution": "constant", "ms": 30}}])
    n.send("n1", "n2", 1)
    n.settle()
    assert 80 <= n.waited_ms(1, 0) <= 80 + HOP_MS_MAX
    assert n.net.statistics()["delayed"] == 1  # the fault's delay: counted as a fault's
    n.net.link_faults([{"drop_probability": 1.0}])
    n.send("n1", "n2", 2)
    n.net.partition({"n2": ["n1"]})
    n.send("n1", "n2", 3)
    n.settle()
    assert 2 not in n.arrived  # dropped stays dropped
    assert 3 not in n.arrived
    for heal in (n.net.heal, lambda: n.net.link_faults([])):
        heal()
        sent_ns = n.loop.now_ns
        n.send("n1", "n2", 4)
        n.settle()
        assert 50 <= n.waited_ms(4, sent_ns) <= 50 + HOP_MS_MAX
        del n.arrived[4]
    s = n.net.statistics()
    assert (s["delayed"], s["dropped"], s["baseline_delayed"]) == (1, 2, 3)
    assert s["partitioned"] == 0  # the drop rule took message 3 before the grudge could


def test_a_message_whose_latency_ends_in_a_partition_is_lost() -> None:
    n = Net(50)
    n.send("n1", "n2", 1)
    n.loop.run_until(10 * MS)
    n.net.partition({"n2": ["n1"]})
    n.settle()
    assert n.arrived == {}
    assert n.net.statistics()["partitioned"] == 1


def test_each_copy_of_a_duplicate_waits_its_own_latency() -> None:
    n = Net(50, "uniform")
    n.net.link_faults([{"duplicate_probability": 1.0}])
    for i in range(200):
        n.send("n1", "n2", i)
    n.settle()
    assert set(n.copies.values()) == {2}
    s = n.net.statistics()
    assert (s["duplicated"], s["delayed"]) == (200, 0)
    assert s["baseline_delayed"] == 400
    assert all(0 <= n.waited_ms(i, 0) <= 100 + HOP_MS_MAX for i in range(200))


# -- whole echo runs ----------------------------------------------------------------------------


def echo_run(tmp_path: Path, name: str, *, seed: int = 1, **latency: Any,
             ) -> tuple[SimulationResult, bytes, list[float]]:
    """The packaged echo scenario (its link fault and heal included), simulated; the latency
    of every completed echo, in ms."""
    sc = load_scenario("echo")
    sc = sc.with_overrides(**latency) if latency else sc
    steps = plan_scenario(sc, random.Random(f"{seed}/nemesis"))  # as orchestrator.Run.plan
    path = tmp_path / f"{name}.jsonl"
    result = simulate(scenario=sc, service="echo", bug=None, seed=seed, steps=steps,
                      workload=get_workload("echo"), history_path=path, log_dir=None)
    ops = [json.loads(line) for line in path.read_bytes().splitlines()]
    invoked: dict[Any, int] = {}
    latencies = []
    for op in ops:
        if op["process"] == "nemesis":
            continue
        if op["type"] == "invoke":
            invoked[op["process"]] = op["time"]
        elif op["type"] == "ok":
            latencies.append((op["time"] - invoked.pop(op["process"])) / MS)
    return result, path.read_bytes(), latencies


def test_every_echo_takes_at_least_two_latencies_and_none_without(tmp_path: Path) -> None:
    result, _, slow = echo_run(tmp_path, "slow", latency_ms=50.0, latency_dist="constant")
    assert len(slow) > 50
    assert result.counts["ok"] == len(slow)  # nothing timed out
    assert min(slow) >= 100  # the request and the reply each waited 50 ms
    assert result.network["baseline_delayed"] >= 2 * len(slow)
    # the scenario's own link fault (a uniform 1-10 ms delay on client links, for a part of
    # the run) is still there, on top, and counted as the fault's; the latency alone never is
    assert 0 < result.network["delayed"] < result.network["baseline_delayed"]
    plain, _, fast = echo_run(tmp_path, "fast")
    assert max(fast) < 100
    assert plain.network["baseline_delayed"] == 0
    assert plain.network["delayed"] > 0


def test_the_same_seed_gives_a_byte_identical_history_with_a_random_latency(
        tmp_path: Path) -> None:
    first, a, latencies = echo_run(tmp_path, "a", latency_ms=40.0, latency_dist="exponential")
    second, b, _ = echo_run(tmp_path, "b", latency_ms=40.0, latency_dist="exponential")
    assert a == b
    assert first == second
    assert min(latencies) < 80 < max(latencies)  # random: some faster, some slower than 2L
    _, other, _ = echo_run(tmp_path, "c", seed=2, latency_ms=40.0, latency_dist="exponential")
    assert other != a


# -- chaos run --simulate --latency, and chaos replay -------------------------------------------


def chaos(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "chaos", *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"chaos {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_chaos_run_records_the_latency_and_replay_keeps_it(tmp_path: Path) -> None:
    store = str(tmp_path / "logs")
    first = chaos("run", "echo", "--simulate", "--latency", "50", "--seed", "1",
                  "--store", store)
    assert "--latency 50 --latency-dist constant" in first["reproduce"]
    again = chaos("replay", first["run_dir"])
    runs = [Path(s["run_dir"]) for s in (first, again)]
    assert runs[0] != runs[1]
    infos = [json.loads((r / "run.json").read_text()) for r in runs]
    for info in infos:
        assert (info["latency_ms"], info["latency_dist"]) == (50.0, "constant")
    assert infos[1]["reproduce"] == infos[0]["reproduce"]
    histories = [(r / "history.jsonl").read_bytes() for r in runs]
    assert histories[0] == histories[1]
    results = json.loads((runs[0] / "results.json").read_text())
    assert results["network"]["baseline_delayed"] > 0


def test_a_scenario_without_the_keys_is_simulated_without_latency(tmp_path: Path) -> None:
    """Scenario-like test doubles (sim_harness.MiniScenario) have no latency keys: the
    simulator reads them with their defaults."""
    scenario = MiniScenario()
    assert not hasattr(scenario, "latency_ms")
    result = run_simulation(scenario=scenario, spec=GOSSIP, bug=None, seed=1, steps=[],
                            workload=SetWorkload(with_setup=True),
                            history_path=tmp_path / "h.jsonl")
    assert result.network["baseline_delayed"] == 0
