"""Consistency models and the anomalies they forbid, as Elle relates them.

Expected boundaries are Elle's (jepsen-io/elle test/elle/list_append_test.clj and elle-cli's
results in ligurio/elle-cli test/test-data/), with Elle's `strong-serializable` called
`strict-serializable` here.
"""

from __future__ import annotations

import pytest

from checker.elle import models
from checker.elle.models import (
    CYCLE_TYPES,
    MODELS,
    ModelError,
    boundary,
    canonical,
    impossible_models,
    prohibited,
)


@pytest.mark.parametrize(
    ("anomalies", "weakest"),
    [
        (["G0"], ["read-uncommitted"]),
        (["G1a"], ["read-committed"]),
        (["G1b"], ["read-committed"]),
        (["G1c"], ["read-committed"]),
        (["G-single"], ["consistent-view", "repeatable-read"]),
        (["G-nonadjacent"], ["repeatable-read", "snapshot-isolation"]),
        (["G2-item"], ["repeatable-read"]),
        (["lost-update"], ["ROLA", "cursor-stability"]),
        (["internal"], ["read-atomic"]),
        (["future-read"], ["read-committed"]),
        (["incompatible-order"], ["read-committed"]),
        (["dirty-update"], ["read-committed"]),
        (["duplicate-elements"], ["read-uncommitted"]),
        (["G0-process"], ["strong-session-read-uncommitted"]),
        (["G1c-process"], ["strong-session-read-committed"]),
        (["G-single-process"], ["strong-session-snapshot-isolation"]),
        (["G-nonadjacent-process"], ["strong-session-snapshot-isolation"]),
        (["G2-item-process"], ["strong-session-serializable"]),
        (["G0-realtime"], ["strong-read-uncommitted"]),
        (["G1c-realtime"], ["strong-read-committed"]),
        (["G-single-realtime"], ["strong-snapshot-isolation"]),
        (["G2-item-realtime"], ["strict-serializable"]),
        (["G0", "G-single"], ["read-uncommitted"]),
        ([], []),
    ],
)
def test_weakest_models_ruled_out(anomalies: list[str], weakest: list[str]) -> None:
    assert boundary(anomalies)[0] == weakest


def test_also_not_is_every_stronger_model_ruled_out() -> None:
    # elle-cli's G2-item result for elle issue 30 (with strong- for strict-serializable).
    assert boundary(["G2-item"]) == (
        ["repeatable-read"],
        ["serializable", "strict-serializable", "strong-session-serializable"],
    )
    weakest, also = boundary(["G0"])
    assert weakest == ["read-uncommitted"]
    assert set(also) == MODELS - {"read-uncommitted"}  # G0 rules out every model here


@pytest.mark.parametrize(
    ("model", "forbidden", "allowed"),
    [
        ("read-uncommitted", {"G0", "duplicate-elements"}, {"G1a", "G1c", "G-single"}),
        ("read-committed", {"G0", "G1a", "G1b", "G1c", "dirty-update", "incompatible-order"},
         {"G-single", "G2-item", "internal", "lost-update", "G0-realtime"}),
        ("repeatable-read", {"G1c", "G-single", "G-nonadjacent", "G2-item", "lost-update"},
         {"G0-process", "G-single-realtime"}),
        ("snapshot-isolation", {"G1c", "G-single", "G-nonadjacent", "internal", "lost-update"},
         {"G2-item", "G-single-process", "G-single-realtime"}),
        ("serializable", {"G1c", "G-single", "G2-item", "internal"},
         {"G0-process", "G1c-realtime", "G2-item-realtime"}),
        ("strict-serializable", {*CYCLE_TYPES, "internal", "G1a", "lost-update"}, set()),
        ("strong-session-serializable", {"G2-item-process", "G-single"},
         {"G-single-realtime", "G0-realtime"}),
        ("strong-session-snapshot-isolation", {"G-single-process", "G1c-process"},
         {"G2-item-process", "G-single-realtime"}),
        ("strong-snapshot-isolation", {"G-single-realtime", "G-single-process"},
         {"G2-item-realtime"}),
    ],
)
def test_prohibited(model: str, forbidden: set[str], allowed: set[str]) -> None:
    found = prohibited([model])
    assert forbidden <= found
    assert not allowed & found


def test_every_cycle_type_is_forbidden_by_strict_serializable_only_as_implied() -> None:
    """Each cycle anomaly rules out some model, and a process cycle rules out its
    real-time variant's models too (a process runs one transaction at a time)."""
    for t in CYCLE_TYPES:
        assert impossible_models([t])
    assert impossible_models(["G-single-realtime"]) < impossible_models(["G-single-process"])


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("PL-3", "serializable"), ("PL-SS", "strict-serializable"),
        ("strong-serializable", "strict-serializable"), ("PL-SI", "snapshot-isolation"),
        ("PL-2", "read-committed"), ("PL-1", "read-uncommitted"),
        ("PL-2.99", "repeatable-read"), ("strong-session-PL-2", "strong-session-read-committed"),
        ("serializable", "serializable"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert canonical(alias) == name


def test_unknown_model_names_the_known() -> None:
    with pytest.raises(ModelError, match="unknown consistency model 'snapshot'; known models: "
                       "ROLA, causal-cerone"):
        canonical("snapshot")


def test_the_graphs_name_only_known_models() -> None:
    for model, implied in models.IMPLIES.items():
        assert model in MODELS
        assert set(implied) <= MODELS
    assert set(models.FORBIDS) <= MODELS
    assert set(models.ALIASES.values()) <= MODELS
