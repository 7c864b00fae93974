"""The simulated network applies the proxy's fault model: partitions, drops, duplicates, delays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sim_harness import FakeLoop

from chaos.simnet import SimNetwork

NODES = ["n1", "n2", "n3"]
MS = 1_000_000


class Net:
    """A network on a fake loop that records what arrives where, in order."""

    def __init__(self, *, down: tuple[str, ...] = ()) -> None:
        self.loop = FakeLoop()
        self.arrived: list[tuple[str, int]] = []  # (dest, sequence number of the message)
        self.down = set(down)
        self.net = SimNetwork(loop=self.loop, nodes=NODES, seed=1, deliver=self._deliver,
                              is_reachable=lambda dest: dest not in self.down)

    def _deliver(self, dest: str, data: str) -> None:
        self.arrived.append((dest, json.loads(data)["n"]))

    def send(self, src: str, dest: str, n: int) -> None:
        self.net.send(src, dest, json.dumps({"n": n}))

    def settle(self, ms: int = 120_000) -> None:
        self.loop.run_until(self.loop.now_ns + ms * MS)

    def stats(self) -> dict[str, Any]:
        s = self.net.statistics()
        # the proxy's invariant: every copy has exactly one outcome
        assert s["received"] + s["duplicated"] == (
            s["delivered"] + s["dropped"] + s["partitioned"] + s["unroutable"] + s["overflow"]
            + s["pending"]
        ), s
        return s


def test_unfaulted_messages_arrive_after_a_base_latency_in_order() -> None:
    n = Net()
    for i in range(100):
        n.send("n1", "n2", i)
    assert n.arrived == []  # nothing arrives at the instant it is sent
    n.loop.run_until(0)
    assert n.arrived == []
    n.settle(1)
    assert n.arrived == [("n2", i) for i in range(100)]  # FIFO per link, within 1 ms
    s = n.stats()
    assert (s["received"], s["delivered"], s["dropped"]) == (100, 100, 0)
    assert s["links"]["n1->n2"] == {"received": 100, "delivered": 100, "lost": 0}


def test_a_partition_drops_and_counts_and_heal_restores() -> None:
    n = Net()
    n.net.partition({"n1": ["n2"], "n2": ["n1"]})
    n.send("n2", "n1", 1)
    n.send("n1", "n2", 2)
    n.send("n1", "n3", 3)
    n.send("c1", "n1", 4)  # a client link: not in the grudge
    n.settle()
    assert sorted(n.arrived) == [("n1", 4), ("n3", 3)]
    assert n.stats()["partitioned"] == 2
    n.net.heal()
    n.send("n2", "n1", 5)
    n.settle()
    assert n.arrived[-1] == ("n1", 5)
    assert n.stats()["partitioned"] == 2


def test_a_one_way_grudge_cuts_one_direction() -> None:
    n = Net()
    n.net.partition({"n2": ["n1"]})  # n2 cannot hear n1
    n.send("n1", "n2", 1)
    n.send("n2", "n1", 2)
    n.settle()
    assert n.arrived == [("n1", 2)]


def test_a_bad_grudge_is_refused() -> None:
    with pytest.raises(ValueError, match="not a node"):
        Net().net.partition({"n1": ["n9"]})


def test_drop_probability_drops_about_that_share_and_counts() -> None:
    n = Net()
    n.net.link_faults([{"drop_probability": 0.5}])
    for i in range(1000):
        n.send("n1", "n2", i)
    n.settle()
    s = n.stats()
    assert 400 < s["dropped"] < 600
    assert s["delivered"] == len(n.arrived) == 1000 - s["dropped"]


def test_link_faults_spare_clients_unless_asked() -> None:
    n = Net()
    n.net.link_faults([{"drop_probability": 1.0}])
    n.send("c1", "n1", 1)
    n.send("n1", "c1", 2)
    n.send("n1", "n2", 3)
    n.settle()
    assert sorted(n.arrived) == [("c1", 2), ("n1", 1)]
    n.net.link_faults([{"drop_probability": 1.0}], clients=True)
    n.send("c1", "n1", 4)
    n.settle()
    assert n.stats()["dropped"] == 2


def test_duplicate_probability_delivers_twice() -> None:
    n = Net()
    n.net.link_faults([{"duplicate_probability": 1.0}])
    for i in range(10):
        n.send("n1", "n2", i)
    n.settle()
    assert sorted(n.arrived) == sorted([("n2", i) for i in range(10)] * 2)
    s = n.stats()
    assert (s["duplicated"], s["delivered"]) == (10, 20)


def test_a_delay_holds_a_link_back_while_others_overtake_it() -> None:
    n = Net()
    n.net.link_faults([{"src": "n1", "dest": "n2",
                        "delay": {"distribution": "constant", "ms": 50}}])
    n.send("n1", "n2", 1)
    n.send("n3", "n2", 2)
    n.settle(10)
    assert n.arrived == [("n2", 2)]
    n.settle(50)
    assert n.arrived == [("n2", 2), ("n2", 1)]
    s = n.stats()
    assert (s["delayed"], s["pending"], s["delivered"]) == (1, 0, 2)


def test_jittered_delays_and_reordering_reorder_a_link() -> None:
    for rule in ({"delay": {"distribution": "uniform", "low_ms": 0, "high_ms": 20}},
                 {"reorder_probability": 0.3}):
        n = Net()
        n.net.link_faults([rule])
        for i in range(200):
            n.send("n1", "n2", i)
        n.settle()
        order = [i for _, i in n.arrived]
        assert sorted(order) == list(range(200))
        assert order != list(range(200)), rule
    assert n.stats()["reordered"] > 0


def test_a_copy_delayed_into_a_partition_is_lost_to_it() -> None:
    n = Net()
    n.net.link_faults([{"delay": {"distribution": "constant", "ms": 100}}])
    n.send("n1", "n2", 1)
    assert n.stats()["pending"] == 1
    n.net.partition({"n2": ["n1"]})
    n.settle()
    assert n.arrived == []
    s = n.stats()
    assert (s["partitioned"], s["pending"]) == (1, 0)


def test_a_copy_for_nobody_is_unroutable() -> None:
    n = Net(down=("n3", "c9"))
    n.send("n1", "n3", 1)
    n.send("n1", "c9", 2)
    n.settle()
    assert n.arrived == []
    assert n.stats()["unroutable"] == 2


def test_fates_replay_from_the_seed() -> None:
    def run() -> list[tuple[str, int]]:
        n = Net()
        n.net.link_faults([{"drop_probability": 0.3, "duplicate_probability": 0.2,
                            "delay": {"distribution": "exponential", "mean_ms": 5}}])
        for i in range(300):
            n.send("n1", "n2", i)
            n.send("n2", "n3", i)
        n.settle()
        return n.arrived

    assert run() == run()
