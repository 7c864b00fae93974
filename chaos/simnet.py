"""The simulated network: the chaos proxy's fault model, applied to messages in virtual time.

Part of the deterministic simulator (`chaos.simulation`). Every message of a simulated run,
node to node and client to node, goes through `SimNetwork.send`, which does what
`chaos.proxy.Proxy` does to a message, with the same pure fault model (`chaos.faults`):

- the link-fault table (`FaultTable.fate`, drawn from one seeded rng in send order) decides
  whether the message is dropped, delayed, duplicated or held back to be reordered; client
  links are faulted only when the `link` fault said `"clients": true`;
- the grudge is checked when a copy leaves the proxy (at once, or when its delay is over),
  not when it arrived, so a message delayed into a partition is lost (`partitioned`);
- a copy for an id with nobody behind it (a node that is down, a client connection that was
  closed) is `unroutable`, as `ROUTER_MANDATORY` makes it in the real proxy;
- the run's baseline latency (the scenario's `latency_ms` and `latency_dist`, as Maelstrom's
  `--latency`; given to the constructor as `baseline`, a `chaos.faults.baseline_delay`) is
  added to every copy on every link but the admin client's, after the fault's draws and from
  the same rng, by the proxy's own decision (`chaos.faults.network_fate`); it is not a fault,
  so `heal` and `link_faults` leave it in force;
- the counters are the proxy's (`ProxyStatistics`: received, delivered, dropped, partitioned,
  duplicated, delayed, baseline_delayed, reordered, unroutable, overflow, malformed,
  control_errors, pending, links), with the same invariant `received + duplicated ==
  delivered + dropped + partitioned + unroutable + overflow + pending`; `delayed` counts
  copies a fault held back, `baseline_delayed` those the baseline latency held back.

What the simulation adds: a copy that leaves the proxy reaches its destination after a hop
latency drawn uniformly from `BASE_LATENCY_MS` (from its own rng, so fault decisions do not
depend on it), so that messages from different senders interleave: the loopback hop of a real
run, which comes on top of the scenario's baseline latency, not instead. The hop latency
keeps each directed link FIFO, as the real proxy's TCP connections do: only the fault model's
delays, and a baseline latency that is not constant, reorder messages on a link.

The network owns no clock and no heap: it is given the simulator's `EventLoop` (`now_ns`,
`call_at`) and a `deliver(dest, data)` callback for copies that arrive. Messages travel as JSON
text (`data`), encoded once by the sender and decoded by each receiver, so that no two
machines ever share a mutable object and a body that is not JSON fails loudly at its sender.

The services a cluster offers (`seq-kv`, `lin-kv`, `lww-kv`, `lin-tso`) are ids of this network
as of the proxy's: their links are exempt from faults unless `fault_service_links` is true, and
then link-fault rules treat them as nodes and a partition places them with one node
(`node.cluster_services.service_grudge`), exactly as the proxy does. The simulator hosts them
(`chaos.simulation`), so `is_reachable` says yes for them.

Not modelled: `malformed` (simulated senders cannot send garbage), `overflow` of zmq queues
(only of the delay heap, at `PENDING_MAX`), and `messages.jsonl` (the per-message log).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from chaos.faults import (
    ADMIN_ID,
    COUNTER_NAMES,
    DELIVER_NOW,
    Delay,
    FaultTable,
    Grudge,
    blocked_links,
    grudge_from_json,
    network_fate,
    parse_rules,
)
from node.cluster_services import SERVICE_IDS, service_grudge

BASE_LATENCY_MS = (0.1, 1.0)  # uniform: a proxy hop on loopback, both ways
PENDING_MAX = 1_000_000  # delayed copies held at once; beyond it a copy is an `overflow`
LINK_STATS_MAX = 10_000  # as the proxy: distinct links with their own counters


class Loop(Protocol):
    """What the network needs of the simulator's event loop."""

    now_ns: int

    def call_at(self, at_ns: int, fn: Callable[[Any], None], arg: Any) -> None: ...


class SimNetwork:
    """The proxy of a simulated run. `nodes` are the cluster's ids; any other id is a client."""

    def __init__(
        self,
        *,
        loop: Loop,
        nodes: Iterable[str],
        seed: int,
        deliver: Callable[[str, str], None],
        is_reachable: Callable[[str], bool],
        fault_service_links: bool = False,
        baseline: Delay | None = None,
    ) -> None:
        self.nodes = tuple(nodes)
        self.baseline = baseline if baseline is not None and not baseline.is_zero else None
        self.fault_service_links = fault_service_links
        self._service_ids = frozenset(SERVICE_IDS)
        self._exempt = frozenset({ADMIN_ID} | (set() if fault_service_links else set(SERVICE_IDS)))
        self._faulted_ids = self.nodes + (SERVICE_IDS if fault_service_links else ())
        self._loop = loop
        self._deliver = deliver
        self._is_reachable = is_reachable
        self._fault_rng = random.Random(f"{seed}/network")
        self._latency_rng = random.Random(f"{seed}/latency")
        self.table = FaultTable(nodes=self._faulted_ids)
        self.grudge: Grudge = {}
        self._blocked: frozenset[tuple[str, str]] = frozenset()
        self._counts = dict.fromkeys(COUNTER_NAMES, 0)
        self._pending = 0
        self._last_arrival_ns: dict[tuple[str, str], int] = {}
        self._links: dict[tuple[str, str], list[int]] = {}  # received, delivered, lost

    # -- the fault table and the grudge (the proxy's control commands) --------------------------

    def partition(self, grudge: Any, *, clients: bool = False) -> None:
        """Replace the grudge (`{"n1": ["n3"], ...}`: n1 cannot hear n3). Raises ValueError."""
        self.grudge = grudge_from_json(grudge, nodes=self.nodes, clients=clients)
        if self.fault_service_links:
            self._blocked = blocked_links(service_grudge(self.grudge, self.nodes, SERVICE_IDS))
        else:
            self._blocked = frozenset(
                (a, b) for a, b in blocked_links(self.grudge)
                if a not in self._service_ids and b not in self._service_ids
            )

    def link_faults(self, rules: Any, *, clients: bool = False) -> None:
        """Replace the link-fault table with `rules` (a list of rule objects). Raises ValueError."""
        self.table = FaultTable(parse_rules(rules), nodes=self._faulted_ids, clients=clients)

    def heal(self) -> None:
        self.grudge = {}
        self._blocked = frozenset()
        self.table = FaultTable(nodes=self._faulted_ids)

    # -- messages --------------------------------------------------------------------------------

    def send(self, src: str, dest: str, data: str) -> None:
        """A message `src -> dest` (JSON text) reaches the proxy now."""
        counts = self._counts
        counts["received"] += 1
        self._link(src, dest)[0] += 1
        fate = network_fate(self.table, src, dest, self._fault_rng, exempt=self._exempt,
                            baseline=self.baseline)  # as the proxy
        if fate is DELIVER_NOW:
            self._forward(src, dest, data)
            return
        if not fate.delays_ms:
            counts["dropped"] += 1
            self._link(src, dest)[2] += 1
            return
        if fate.reordered:
            counts["reordered"] += 1
        now_ns = self._loop.now_ns
        baseline_ms = fate.baseline_ms
        for copy, delay_ms in enumerate(fate.delays_ms):
            if copy:
                counts["duplicated"] += 1
            held_ms = delay_ms
            if baseline_ms and baseline_ms[copy] > 0:
                held_ms += baseline_ms[copy]
                counts["baseline_delayed"] += 1
            if held_ms == 0:
                self._forward(src, dest, data)
                continue
            if delay_ms > 0:
                counts["delayed"] += 1  # a fault's doing; the baseline alone is not counted here
            if self._pending >= PENDING_MAX:
                counts["overflow"] += 1
                self._link(src, dest)[2] += 1
                continue
            self._pending += 1
            self._loop.call_at(now_ns + int(held_ms * 1_000_000), self._forward_due,
                               (src, dest, data))

    def _forward_due(self, packet: tuple[str, str, str]) -> None:
        self._pending -= 1
        self._forward(*packet)

    def _forward(self, src: str, dest: str, data: str) -> None:
        """The proxy hands a copy on: partitioned, unroutable, or on its way."""
        if self._blocked and (src, dest) in self._blocked:
            self._counts["partitioned"] += 1
            self._link(src, dest)[2] += 1
            return
        if not self._is_reachable(dest):
            self._counts["unroutable"] += 1
            self._link(src, dest)[2] += 1
            return
        self._counts["delivered"] += 1
        self._link(src, dest)[1] += 1
        low_ms, high_ms = BASE_LATENCY_MS
        arrival_ns = self._loop.now_ns + int(self._latency_rng.uniform(low_ms, high_ms) * 1e6)
        link = (src, dest)
        last_ns = self._last_arrival_ns.get(link, 0)
        if arrival_ns < last_ns:
            arrival_ns = last_ns  # FIFO per link, as over TCP
        self._last_arrival_ns[link] = arrival_ns
        self._loop.call_at(arrival_ns, self._arrive, (dest, data))

    def _arrive(self, packet: tuple[str, str]) -> None:
        self._deliver(*packet)

    def _link(self, src: str, dest: str) -> list[int]:
        counts = self._links.get((src, dest))
        if counts is None:
            if len(self._links) >= LINK_STATS_MAX:
                counts = self._links.setdefault(("other", "other"), [0, 0, 0])
            else:
                counts = self._links[(src, dest)] = [0, 0, 0]
        return counts

    # -- statistics ------------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        """The proxy's `stats` reply, shaped as `ProxyStatistics.to_json()`."""
        links = {
            f"{src}->{dest}": {"received": c[0], "delivered": c[1], "lost": c[2]}
            for (src, dest), c in sorted(self._links.items())
        }
        return {**self._counts, "pending": self._pending, "links": links}
