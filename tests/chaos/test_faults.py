"""Delays, link-fault rules and the fault table, with a seeded rng."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.faults import (
    DELAY_MS_MAX,
    DELIVER_NOW,
    Delay,
    FaultTable,
    LinkFault,
    parse_rules,
)

NODES = ["n1", "n2", "n3"]


def draws(delay: Delay, count: int = 2000, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [delay.sample_ms(rng) for _ in range(count)]


def test_constant_delay() -> None:
    assert set(draws(Delay.constant(5))) == {5.0}


def test_uniform_delay_within_bounds() -> None:
    values = draws(Delay.uniform(low_ms=1, high_ms=10))
    assert min(values) >= 1
    assert max(values) <= 10


def test_exponential_delay_nonnegative_with_roughly_its_mean() -> None:
    values = draws(Delay.exponential(5))
    assert min(values) >= 0
    assert 4 < sum(values) / len(values) < 6


def test_normal_delay_never_negative() -> None:
    values = draws(Delay.normal(mean_ms=1, jitter_ms=5))
    assert min(values) == 0.0  # clipped, and some draws were clipped
    assert max(values) <= DELAY_MS_MAX


@given(
    st.sampled_from(["constant", "uniform", "exponential", "normal"]),
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.integers(0, 2**32),
)
def test_every_delay_in_range(distribution: str, a: float, b: float, seed: int) -> None:
    low, high = sorted((a, b))
    delay = {
        "constant": Delay.constant(a),
        "uniform": Delay.uniform(low_ms=low, high_ms=high),
        "exponential": Delay.exponential(a),
        "normal": Delay.normal(mean_ms=a, jitter_ms=b),
    }[distribution]
    assert all(0 <= v <= DELAY_MS_MAX for v in draws(delay, count=20, seed=seed))
    assert Delay.from_json(delay.to_json()) == delay


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("fast", "delay must be an object"),
        ({"distribution": "pareto"}, r"delay.distribution must be one of constant, uniform"),
        ({"distribution": "constant"}, r"delay.ms is required"),
        ({"distribution": "constant", "ms": -1}, r"delay.ms must be in \[0, 60000\]"),
        ({"distribution": "constant", "ms": "5"}, r"delay.ms must be a number"),
        ({"distribution": "uniform", "low_ms": 5, "high_ms": 1}, "low_ms .* must not exceed"),
        ({"distribution": "exponential", "mean_ms": 1, "ms": 2}, "unknown field.*ms"),
    ],
)
def test_bad_delays_rejected_naming_the_field(obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Delay.from_json(obj)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"drop_probability": 1.5}, r"faults\[0\].drop_probability must be in \[0, 1\]"),
        ({"duplicate_probability": -0.1}, r"faults\[0\].duplicate_probability must be in"),
        ({"reorder_probability": True}, r"faults\[0\].reorder_probability must be a number"),
        ({"src": 3}, r"faults\[0\].src must be a node id"),
        ({"drop": 0.5}, r"faults\[0\]: unknown field\(s\) drop"),
        ({"delay": {"distribution": "constant", "ms": 1e9}}, r"faults\[0\].delay.ms must be in"),
    ],
)
def test_bad_rules_rejected_naming_the_field(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules([rule])


def test_link_fault_validates_directly() -> None:
    with pytest.raises(ValueError, match="drop_probability"):
        LinkFault(drop_probability=2.0)


def test_rule_json_round_trip() -> None:
    rule = {
        "src": "n1",
        "dest": "*",
        "drop_probability": 0.1,
        "duplicate_probability": 0.2,
        "reorder_probability": 0.3,
        "reorder_hold_ms": 10.0,
        "delay": {"distribution": "normal", "mean_ms": 5.0, "jitter_ms": 2.0},
    }
    assert parse_rules([rule])[0].to_json() == rule


def test_most_specific_rule_wins() -> None:
    rules = [
        LinkFault(drop_probability=0.1),
        LinkFault(dest="n2", drop_probability=0.2),
        LinkFault(src="n1", drop_probability=0.3),
        LinkFault(src="n1", dest="n2", drop_probability=0.4),
    ]
    table = FaultTable(rules, nodes=NODES)

    def drop(src: str, dest: str) -> float | None:
        rule = table.rule_for(src, dest)
        return None if rule is None else rule.drop_probability

    assert drop("n1", "n2") == 0.4
    assert drop("n1", "n3") == 0.3
    assert drop("n3", "n2") == 0.2
    assert drop("n3", "n1") == 0.1


def test_client_links_unfaulted_unless_asked() -> None:
    rules = [LinkFault(drop_probability=1.0)]
    assert FaultTable(rules, nodes=NODES).rule_for("c1", "n1") is None
    assert FaultTable(rules, nodes=NODES).rule_for("n1", "c1") is None
    assert FaultTable(rules, nodes=NODES, clients=True).rule_for("c1", "n1") is not None


def test_rules_must_name_nodes_unless_clients() -> None:
    with pytest.raises(ValueError, match=r"faults\[0\].src: 'c1' is not a node"):
        FaultTable([LinkFault(src="c1")], nodes=NODES)
    FaultTable([LinkFault(src="c1")], nodes=NODES, clients=True)


def test_duplicate_rule_for_a_link_rejected() -> None:
    with pytest.raises(ValueError, match=r"faults\[1\]: a second rule for n1 -> \*"):
        FaultTable([LinkFault(src="n1"), LinkFault(src="n1")], nodes=NODES)


def test_drop_one_drops_everything() -> None:
    table = FaultTable([LinkFault(drop_probability=1.0)], nodes=NODES)
    rng = random.Random(1)
    assert all(table.fate("n1", "n2", rng).is_dropped for _ in range(500))


def test_duplicate_one_delivers_twice() -> None:
    table = FaultTable([LinkFault(duplicate_probability=1.0)], nodes=NODES)
    rng = random.Random(1)
    for _ in range(500):
        fate = table.fate("n1", "n2", rng)
        assert fate.is_duplicated
        assert fate.delays_ms == (0.0, 0.0)


def test_reorder_holds_back_within_the_hold() -> None:
    table = FaultTable([LinkFault(reorder_probability=1.0, reorder_hold_ms=8)], nodes=NODES)
    rng = random.Random(1)
    for _ in range(500):
        fate = table.fate("n1", "n2", rng)
        assert fate.reordered
        assert 4 <= fate.delays_ms[0] <= 8


def test_delay_applies_to_every_copy() -> None:
    rule = LinkFault(duplicate_probability=1.0, delay=Delay.uniform(low_ms=2, high_ms=3))
    rng = random.Random(1)
    fate = FaultTable([rule], nodes=NODES).fate("n1", "n2", rng)
    assert len(fate.delays_ms) == 2
    assert all(2 <= d <= 3 for d in fate.delays_ms)


def test_drop_half_is_roughly_half_and_seeded() -> None:
    table = FaultTable([LinkFault(drop_probability=0.5)], nodes=NODES)

    def run(seed: int) -> list[bool]:
        rng = random.Random(seed)
        return [table.fate("n1", "n2", rng).is_dropped for _ in range(2000)]

    assert run(3) == run(3)
    assert 800 < sum(run(3)) < 1200


def test_noop_rule_draws_nothing() -> None:
    table = FaultTable([LinkFault(delay=Delay.constant(0))], nodes=NODES)
    rng = random.Random(5)
    state = rng.getstate()
    assert table.fate("n1", "n2", rng) is DELIVER_NOW
    assert rng.getstate() == state
