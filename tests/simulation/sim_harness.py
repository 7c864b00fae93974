"""Small machines, a workload, a scenario and an event loop for the simulator's tests.

They keep the simulator's own tests independent of the real services (tests/simulation/
test_services.py runs those): each machine does one thing a test needs to see.

- `Gossip`: a tiny broadcast. A new message is pushed to every other node and, unless the bug
  `no-retry` is planted, resent every `RETRY_S` until acknowledged; client-acknowledged
  messages are fsynced and reloaded on restart.
- `Counter`: `add{delta}` -> `add_ok{total}`; the total persisted with `sync` unless the
  bug `unsynced` is planted; it reports `total` on `read`.
- `Blackhole`: answers `init` (the driver does) and nothing else: every request times out.
- `SetWorkload`: adds of unique integers and reads, judged by "every acknowledged add is in
  every final read".
- `FakeLoop`: the `call_at`/`now_ns` the network and nodes need, stepped by hand.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.machine import Boot, Machine, Message, field_of
from node.service import ServiceSpec

RETRY_S = 0.2


class Gossip(Machine):
    def __init__(self, boot: Boot) -> None:
        super().__init__(boot)
        self.messages: set[int] = set(boot.durable.get("messages", []))
        self.owed: dict[str, set[int]] = {}

    def on_init(self) -> None:
        if self.bug != "no-retry":
            self.set_timer("retry", RETRY_S)

    def on_topology(self, msg: Message) -> None:
        self.reply(msg, {"type": "topology_ok"})

    def on_add(self, msg: Message) -> None:
        value = field_of(msg, "value", int)
        self._learn([value], src=None)
        self.persist("messages", sorted(self.messages))
        self.reply(msg, {"type": "add_ok"})

    def on_read(self, msg: Message) -> None:
        self.reply(msg, {"type": "read_ok", "value": sorted(self.messages)})

    def on_gossip(self, msg: Message) -> None:
        values = field_of(msg, "values", list)
        self._learn(values, src=msg["src"])
        self.reply(msg, {"type": "gossip_ok", "values": values})

    def on_gossip_ok(self, msg: Message) -> None:
        self.owed.get(msg["src"], set()).difference_update(msg["body"]["values"])

    def tick_retry(self) -> None:
        for node in sorted(self.owed):
            if self.owed[node]:
                self.send(node, {"type": "gossip", "values": sorted(self.owed[node])})
        self.set_timer("retry", RETRY_S)

    def _learn(self, values: list[int], *, src: str | None) -> None:
        new = sorted(set(values) - self.messages)
        if not new:
            return
        self.messages.update(new)
        for node in self.other_node_ids():
            if node == src:
                continue
            if self.bug != "no-retry":
                self.owed.setdefault(node, set()).update(new)
            self.send(node, {"type": "gossip", "values": new})


class Counter(Machine):
    def __init__(self, boot: Boot) -> None:
        super().__init__(boot)
        self.total = int(boot.durable.get("total", 0))
        self.boots = int(boot.durable.get("boots", 0)) + 1

    def on_init(self) -> None:
        self.persist("boots", self.boots, sync=False)

    def on_add(self, msg: Message) -> None:
        self.total += field_of(msg, "value", int)
        self.persist("total", self.total, sync=self.bug != "unsynced")
        self.reply(msg, {"type": "add_ok"})

    def on_read(self, msg: Message) -> None:
        self.reply(msg, {"type": "read_ok", "value": self.total})

    def tick_ping(self) -> None:
        self.log("info", "ping", now_s=self.now_s)


class Blackhole(Machine):
    def on_add(self, msg: Message) -> None:
        pass

    def on_read(self, msg: Message) -> None:
        pass


GOSSIP = ServiceSpec(name="test-gossip", summary="tiny broadcast", machine=Gossip,
                     bugs={"no-retry": "sends each message once"})
COUNTER = ServiceSpec(name="test-counter", summary="a durable counter", machine=Counter,
                      bugs={"unsynced": "never syncs"})
BLACKHOLE = ServiceSpec(name="test-blackhole", summary="never answers", machine=Blackhole)


class SetWorkload:
    """Adds of unique integers to a grow-only set, and reads of the whole set."""

    name = "test-set"

    def __init__(self, *, with_setup: bool = False) -> None:
        self._next = itertools.count()
        self.with_setup = with_setup  # a `topology` to every node first (Gossip answers it)

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        if not self.with_setup:
            return []
        return [(n, {"type": "topology", "topology": {}}) for n in node_ids]

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.5:
            return "read", None
        return "add", next(self._next)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "add", "value": value} if f == "add" else {"type": "read"}

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]:
        if reply.get("type") == f"{f}_ok":
            return "ok", reply["value"] if f == "read" else value, None
        return ("fail" if f == "read" else "info"), value, reply

    def is_idempotent(self, f: str) -> bool:
        return f == "read"

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(n, "read", None) for n in node_ids]

    def lost(self, history: list[dict[str, Any]]) -> set[int]:
        """Acknowledged adds missing from some final read."""
        added = {op["value"] for op in history if op["f"] == "add" and op["type"] == "ok"}
        finals = [op for op in history if op.get("final") and op["type"] == "ok"]
        assert finals, "no final read succeeded"
        return {v for v in added for op in finals if v not in op["value"]}


@dataclass(frozen=True)
class MiniScenario:
    """The fields of `scenarios.schema.Scenario` the simulator reads."""

    nodes: int = 3
    warmup_s: float = 1.0
    time_limit_s: float = 4.0
    recovery_s: float = 2.0
    settle_s: float = 0.5
    rate: float = 20.0
    concurrency: int = 3
    request_timeout_s: float = 1.0
    name: str = "mini"

    @property
    def node_ids(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]


class FakeLoop:
    """An event heap stepped by the test: `run_until(t_ns)` takes every event due by then."""

    def __init__(self) -> None:
        self.now_ns = 0
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._seq = itertools.count()

    def call_at(self, at_ns: int, fn: Callable[[Any], None], arg: Any) -> None:
        heapq.heappush(self._heap, (at_ns, next(self._seq), fn, arg))

    def run_until(self, t_ns: int) -> None:
        while self._heap and self._heap[0][0] <= t_ns:
            at_ns, _, fn, arg = heapq.heappop(self._heap)
            self.now_ns = at_ns
            fn(arg)
        self.now_ns = max(self.now_ns, t_ns)

    @property
    def pending(self) -> int:
        return len(self._heap)
