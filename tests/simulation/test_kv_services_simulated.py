"""The services a cluster offers, in simulation: a machine that keeps a g-counter in seq-kv.

The simulator hosts seq-kv, lin-kv, lww-kv and lin-tso as the proxy does (chaos.simulation).
A counter whose adds are read-then-cas loops against seq-kv (with a write before each read to
catch up, as Gossip Glomers solutions do) passes partition-heal with the services' links
faulted; the same counter with a read-then-write race is caught. The same seed gives the same
history, services' stale answers included.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest

from chaos.nemesis import plan_scenario
from chaos.simulation import SimulationResult, run_simulation
from checker.history import load_jsonl
from node.machine import Boot, Machine, Message, field_of
from node.service import ServiceSpec
from scenarios.judge import judge
from scenarios.loader import load_scenario
from scenarios.workloads import get_workload

KEY = "counter"


class SeqKvCounter(Machine):
    """g-counter's add and read, the total kept in seq-kv under one key."""

    def __init__(self, boot: Boot) -> None:
        super().__init__(boot)
        self.calls: dict[int, tuple[str, Message, int]] = {}  # msg_id -> (phase, request, delta)
        self.syncs = 0

    def _call(self, phase: str, request: Message, delta: int, body: dict[str, Any]) -> None:
        self.calls[self.send("seq-kv", body)] = (phase, request, delta)

    def on_add(self, msg: Message) -> None:
        self._call("read", msg, field_of(msg, "delta", int), {"type": "read", "key": KEY})

    def on_read(self, msg: Message) -> None:
        self.syncs += 1
        self._call("sync", msg, 0, {"type": "write", "key": f"sync-{self.node_id}",
                                    "value": self.syncs})

    def _answer(self, msg: Message) -> None:
        call = self.calls.pop(msg["body"].get("in_reply_to"), None)
        if call is None:
            return
        phase, request, delta = call
        body = msg["body"]
        if phase == "sync":
            self._call("final", request, 0, {"type": "read", "key": KEY})
        elif phase == "final":
            self.reply(request, {"type": "read_ok", "value": body.get("value", 0)})
        elif phase == "read":
            current = body["value"] if body["type"] == "read_ok" else 0
            if self.bug == "race":
                update = {"type": "write", "key": KEY, "value": current + delta}
            else:
                update = {"type": "cas", "key": KEY, "from": current, "to": current + delta,
                          "create_if_not_exists": True}
            self._call("update", request, delta, update)
        elif body["type"] in ("cas_ok", "write_ok"):
            self.reply(request, {"type": "add_ok"})
        else:  # 22: stale read, or someone added meanwhile
            self._call("read", request, delta, {"type": "read", "key": KEY})

    on_read_ok = on_write_ok = on_cas_ok = on_error = _answer


SPEC = ServiceSpec(name="seq-kv-counter", summary="a g-counter kept in seq-kv",
                   machine=SeqKvCounter, bugs={"race": "adds read, then write: lost updates"})


def simulate_counter(tmp_path: Path, seed: int, *, bug: str | None,
                     fault_service_links: bool) -> tuple[dict[str, Any], SimulationResult, Path]:
    shipped = load_scenario("partition-heal")
    sc = dataclasses.replace(shipped.with_overrides(workload="g-counter", time_limit_s=8.0),
                             fault_service_links=fault_service_links)
    steps = plan_scenario(sc, random.Random(f"{seed}/nemesis"))
    wl = get_workload("g-counter")
    path = tmp_path / f"{bug}-{fault_service_links}-{seed}" / "history.jsonl"
    path.parent.mkdir(parents=True)
    result = run_simulation(scenario=sc, spec=SPEC, bug=bug, seed=seed, steps=steps,
                            workload=wl, history_path=path)
    verdict = judge(load_jsonl(path), workload=wl, node_ids=sc.node_ids, network=result.network,
                    node_logs={})
    return verdict, result, path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_counter_in_seq_kv_passes_partition_heal(tmp_path: Path, seed: int) -> None:
    verdict, result, _ = simulate_counter(tmp_path, seed, bug=None, fault_service_links=True)
    assert verdict["valid"] is True, f"seed {seed}: {verdict}"
    assert result.counts["ok"] > 100
    links = result.network["links"]
    assert any(c["lost"] for name, c in links.items() if name.endswith("->seq-kv")), (
        "the partitions cut nodes off from seq-kv")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lost_update_race_is_caught(tmp_path: Path, seed: int) -> None:
    verdict, _, _ = simulate_counter(tmp_path, seed, bug="race", fault_service_links=True)
    assert verdict["valid"] is False, f"seed {seed}: {verdict}"


def test_service_links_are_reliable_unless_the_scenario_says_otherwise(tmp_path: Path) -> None:
    _, result, _ = simulate_counter(tmp_path, 1, bug=None, fault_service_links=False)
    service_links = {name: c for name, c in result.network["links"].items()
                     if "seq-kv" in name}
    assert service_links
    assert all(c["lost"] == 0 for c in service_links.values()), service_links


def test_the_same_seed_gives_the_same_history(tmp_path: Path) -> None:
    _, _, first = simulate_counter(tmp_path / "a", 4, bug=None, fault_service_links=True)
    _, _, second = simulate_counter(tmp_path / "b", 4, bug=None, fault_service_links=True)
    assert first.read_bytes() == second.read_bytes()
