"""Gossip cost and repair time: the CRDT services and broadcast, on 5 and 25 nodes.

Two figures per service, cluster size and seed, from one run of a scenario (partition-heal by
default: two majority/minority splits, each healed):

- **messages per operation**, as Maelstrom counts them (its `msgs-per-op`): every message a
  node sent to another node (the proxy's `links` counters, `received` on each `nX->nY` link:
  sent, whatever became of it), divided by every client operation invoked (final reads
  included);
- **repair time after each heal**: the virtual time from the nemesis's heal until every
  running node holds everything any node held at the heal (for a CRDT: each node's state is
  above the join of all states at the heal; for broadcast: each node's set includes the union
  of all sets). Clients keep running meanwhile, so this is the time the heal's backlog takes
  to spread, not a quiet cluster's settling time. A monitor reads the nodes' machines every
  10 ms of virtual time, which only the simulator allows; it sends nothing.

Runs are simulated by default (`chaos.simulation`, the same machines and checkers as `chaos
run --simulate`, so a seed gives the same figures every time), and each is judged: a figure
from an invalid run would be worthless. `--real` adds one real-process run per service and
size (`chaos run ... --seed 1`): its messages per operation from the proxy's counters in
`results.json` (no repair time: real nodes cannot be read from outside).

    .venv/bin/python bench/crdt.py                               # every service, 5 and 25 nodes
    .venv/bin/python bench/crdt.py --services broadcast g-counter --nodes 25 --seeds 5 --real
    .venv/bin/python bench/crdt.py --services broadcast --broadcast-rev 75bb6ed   # as it was

`--broadcast-rev REV` measures broadcast's machine as it was at a git revision (its
`node/services/broadcast/core.py`, imported from `git show`), for a before-and-after.

Targets (issue 10, Maelstrom's Gossip Glomers bar for dissemination): under 30 messages per
operation on 25 nodes, then under 20, for the CRDT services and for broadcast. It prints
figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.nemesis import plan_scenario
from chaos.simulation import Simulation
from checker.history import load_jsonl
from node.service import ServiceSpec
from node.services import get_service
from scenarios.judge import judge
from scenarios.loader import load_scenario
from scenarios.workloads import get_workload

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("broadcast", "g-set", "g-counter", "pn-counter", "or-set", "lww-register")
NODE_ID = re.compile(r"n\d+")
POLL_S = 0.01
REPAIR_S_MAX = 30.0


def node_messages(network: dict[str, Any]) -> int:
    """Messages nodes sent to nodes: `received` on every `nX->nY` link of the proxy (not
    clients' links, nor those to the services a cluster offers, such as `seq-kv`)."""
    return sum(counts["received"] for link, counts in network["links"].items()
               if all(NODE_ID.fullmatch(end) for end in link.split("->")))


def holdings(machine: Any) -> Any:
    """What a node holds, as a value `covers` and `join` understand."""
    if hasattr(machine, "KIND"):  # a CRDT replica: its lattice state
        return machine.state
    return frozenset(machine.state.messages)  # broadcast: its set of messages


def join(values: list[Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        out = out | v if isinstance(out, frozenset) else out.merge(v)
    return out


def covers(held: Any, target: Any) -> bool:
    return target <= held if isinstance(held, frozenset) else target.leq(held)


class MeasuredSimulation(Simulation):
    """A simulated run that times, after each heal, how long the backlog takes to spread."""

    repairs_s: list[float | None]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repairs_s = []

    async def heal(self) -> None:
        await super().heal()
        self.loop.spawn(self._repair(len(self.repairs_s)))
        self.repairs_s.append(None)

    def _held(self) -> list[Any]:
        return [holdings(n.machine) for n in self.nodes.values() if n.machine is not None]

    async def _repair(self, index: int) -> None:
        healed_ns = self.loop.now_ns
        target = join(self._held())
        while self.loop.now_ns - healed_ns < REPAIR_S_MAX * 1e9:
            if all(covers(held, target) for held in self._held()):
                self.repairs_s[index] = (self.loop.now_ns - healed_ns) / 1e9
                return
            await self.loop.sleep(POLL_S)


@dataclass
class Figures:
    msgs_per_op: list[float] = field(default_factory=list)
    repairs_s: list[list[float | None]] = field(default_factory=list)
    verdicts: list[Any] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)


def simulate_one(spec: ServiceSpec, workload: str, scenario: str, nodes: int, seed: int,
                 root: Path) -> tuple[float, list[float | None], Any]:
    sc = load_scenario(scenario).with_overrides(workload=workload, nodes=nodes)
    steps = plan_scenario(sc, random.Random(f"{seed}/nemesis"))
    wl = get_workload(sc.workload, **dict(sc.workload_params))
    history = Path(tempfile.mkdtemp(dir=root)) / "history.jsonl"
    sim = MeasuredSimulation(scenario=sc, spec=spec, bug=None, seed=seed, workload=wl,
                             history_path=history)
    try:
        result = sim.run(steps)
    finally:
        sim.recorder.close()
    verdict = judge(load_jsonl(history), workload=wl, node_ids=sc.node_ids,
                    network=result.network)
    return node_messages(result.network) / result.counts["invoke"], sim.repairs_s, \
        verdict["valid"]


def real_one(service: str, workload: str, scenario: str, nodes: int, root: Path
             ) -> tuple[float, Any, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "chaos"), "run", scenario, "--workload", workload,
         "--service", service, "--nodes", str(nodes), "--seed", "1", "--store",
         str(root / "real"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    wall_s = time.monotonic() - start
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    results = json.loads((Path(summary["run_dir"]) / "results.json").read_text())
    ops = results["counts"]["invoke"]
    network = results.get("network") or results["proxy"]  # the proxy's counters, by either name
    return node_messages(network) / ops, (proc.returncode, summary["valid"]), wall_s


def broadcast_at(rev: str, root: Path) -> ServiceSpec:
    """The broadcast service whose machine is `node/services/broadcast/core.py` at `rev`."""
    source = subprocess.run(["git", "show", f"{rev}:node/services/broadcast/core.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    path = root / f"broadcast_at_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return ServiceSpec(name=f"broadcast@{rev}", summary="", machine=module.Broadcast,
                       bugs=module.BUGS)


def fmt_repairs(repairs: list[list[float | None]]) -> str:
    """Per heal (in order): mean / max over seeds, in seconds."""
    parts = []
    for i in range(max(map(len, repairs), default=0)):
        got = [r[i] for r in repairs if len(r) > i]
        done = [x for x in got if x is not None]
        if not done:
            parts.append("never")
            continue
        never = f" ({len(got) - len(done)} never)" if len(done) < len(got) else ""
        parts.append(f"{statistics.mean(done):.2f} / {max(done):.2f}{never}")
    return " · ".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--nodes", nargs="+", type=int, default=[5, 25])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N (simulated)")
    parser.add_argument("--scenario", default="partition-heal")
    parser.add_argument("--real", action="store_true", help="one real run each, seed 1")
    parser.add_argument("--broadcast-rev", default=None,
                        help="measure broadcast's machine as it was at this git revision")
    args = parser.parse_args(argv)
    print(f"scenario {args.scenario}, seeds 1..{args.seeds} simulated"
          + (", seed 1 on real processes" if args.real else ""))
    print("| service | nodes | msgs/op mean (min-max) | repair s after each heal, mean / max |"
          " verdicts | sim s/seed |" + (" real msgs/op (exit, valid, wall s) |" if args.real
                                        else ""))
    print("|---|---:|---:|---|---|---:|" + ("---|" if args.real else ""))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for service in args.services:
            workload = service  # each CRDT service serves its namesake; broadcast too
            spec = get_service(service)
            if service == "broadcast" and args.broadcast_rev:
                spec = broadcast_at(args.broadcast_rev, root)
                service = spec.name
            for nodes in args.nodes:
                figs = Figures()
                for seed in range(1, args.seeds + 1):
                    start = time.perf_counter()
                    mpo, repairs, valid = simulate_one(spec, workload, args.scenario, nodes,
                                                       seed, root)
                    figs.wall_s.append(time.perf_counter() - start)
                    figs.msgs_per_op.append(mpo)
                    figs.repairs_s.append(repairs)
                    figs.verdicts.append(valid)
                line = (f"| {service} | {nodes} | {statistics.mean(figs.msgs_per_op):.1f} "
                        f"({min(figs.msgs_per_op):.1f}-{max(figs.msgs_per_op):.1f}) | "
                        f"{fmt_repairs(figs.repairs_s)} | "
                        f"{sum(v is True for v in figs.verdicts)}/{len(figs.verdicts)} valid | "
                        f"{statistics.mean(figs.wall_s):.1f} |")
                if args.real and "@" not in service:
                    mpo, (code, valid), wall_s = real_one(service, workload, args.scenario,
                                                         nodes, root)
                    line += f" {mpo:.1f} ({code}, {valid}, {wall_s:.0f}) |"
                print(line, flush=True)


if __name__ == "__main__":
    main()
