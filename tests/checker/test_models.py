"""Each model module's step accepts what its specification allows and rejects the rest, and the
registry lists every model module.

A case is a sequence of operations `(f, invoked, completed)`, all completed `ok`, run one at a
time from the model's initial state: the last one is accepted (`step` gives the state named) or
rejected (`step` gives `IMPOSSIBLE`).
"""

from __future__ import annotations

import json
import pkgutil
from typing import Any

import pytest

import checker.models
from checker.models import IMPOSSIBLE, MODEL_NAMES, MODELS, Model, ModelError, make

OK = "ok"


def run(name: str, init: Any, ops: list[tuple[str, Any, Any]]) -> Any:
    """The state after `ops`, in order, from `init`; IMPOSSIBLE as soon as one is impossible."""
    model = make(name, init)
    state = model.initial_state()
    for f, invoked, completed in ops:
        call = model.compile(f, invoked, completed, OK)
        assert call is not None, f"{name}: {f} {invoked!r} -> {completed!r} compiled to nothing"
        state = model.step(state, call)
        if state is IMPOSSIBLE:
            break
    return state


# (model, init, operations, the state after them or IMPOSSIBLE)
CASES: list[tuple[str, str, Any, list[tuple[str, Any, Any]], Any]] = [
    ("register-read-own-write", "register", None, [("write", 3, 3), ("read", None, 3)], 3),
    ("register-read-init", "register", 5, [("read", None, 5)], 5),
    ("register-stale-read", "register", None, [("write", 1, 1), ("write", 2, 2),
                                                ("read", None, 1)], IMPOSSIBLE),
    ("cas-register-cas", "cas-register", 1, [("cas", [1, 2], [1, 2]), ("read", None, 2)], 2),
    ("cas-register-cas-wrong-from", "cas-register", 1, [("cas", [3, 2], [3, 2])], IMPOSSIBLE),
    ("kv-append-from-absent", "kv", None, [("append", ["k", "x"], ["k", "x"]),
                                           ("append", ["k", "y"], ["k", "y"]),
                                           ("get", ["k", None], ["k", "xy"])], "xy"),
    ("kv-cas-then-read", "kv", None, [("put", ["k", 1], ["k", 1]),
                                      ("cas", ["k", [1, 2]], ["k", [1, 2]])], 2),
    ("kv-read-of-another-value", "kv", None, [("write", ["k", 1], ["k", 1]),
                                              ("read", ["k", None], ["k", 2])], IMPOSSIBLE),
    ("kv-append-number-to-string", "kv", "", [("append", ["k", "x"], ["k", "x"]),
                                              ("append", ["k", 1], ["k", 1])], IMPOSSIBLE),
    ("mutex-acquire-release", "mutex", None, [("acquire", None, None),
                                              ("release", None, None)], False),
    ("mutex-double-acquire", "mutex", None, [("acquire", None, None),
                                             ("acquire", None, None)], IMPOSSIBLE),
    ("mutex-release-free", "mutex", None, [("release", None, None)], IMPOSSIBLE),
    ("fifo-queue-in-order", "fifo-queue", None, [("enqueue", 1, 1), ("enqueue", 2, 2),
                                                 ("dequeue", None, 1)], (2,)),
    ("fifo-queue-empty-dequeue", "fifo-queue", None, [("dequeue", None, None)], ()),
    ("fifo-queue-out-of-order", "fifo-queue", [1, 2], [("dequeue", None, 2)], IMPOSSIBLE),
    ("set-read-after-adds", "set", None, [("add", 1, 1), ("add", 2, 2),
                                          ("read", None, [2, 1])], frozenset({1, 2})),
    ("set-read-misses-an-add", "set", [7], [("add", 1, 1), ("read", None, [1])], IMPOSSIBLE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "init", "ops", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_step_accepts_and_rejects(name: str, init: Any, ops: list, expected: Any) -> None:
    assert run(name, init, ops) == expected


def test_every_model_has_an_accepting_and_a_rejecting_case() -> None:
    accepted = {c[1] for c in CASES if c[4] is not IMPOSSIBLE}
    rejected = {c[1] for c in CASES if c[4] is IMPOSSIBLE}
    assert accepted == rejected == set(MODEL_NAMES)


def test_registry_lists_every_model_module() -> None:
    modules = [m.name for m in pkgutil.iter_modules(checker.models.__path__)]
    models = [m for m in modules if not m.startswith("_")]
    assert len(models) == len(MODELS) == len(MODEL_NAMES)
    assert tuple(MODELS) == MODEL_NAMES
    for name, model in MODELS.items():
        assert model.name == name
        assert model.init is None


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_is_buildable_and_a_value(name: str) -> None:
    model = make(name, [1])
    assert isinstance(model, Model)
    assert model.name == name
    assert model.init == (1,)  # frozen: hashable, so models and states can be memoised
    assert hash(model) == hash(make(name, [1]))
    assert model == make(name, [1]) != make(name, None)
    hash(model.initial_state())
    assert model.expected.startswith("it knows")
    assert model.summary


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_unknown_operation_names_the_model_and_what_it_knows(name: str) -> None:
    model = make(name)
    with pytest.raises(ModelError, match=rf"the {name} model has no operation 'frobnicate'"):
        model.compile("frobnicate", ["k", 1], None, OK)


def test_the_cli_offers_the_registry() -> None:
    from checker.cli import HISTORY_MODELS, check

    (option,) = [p for p in check.params if p.name == "model_name"]
    # The sequential models, then the models that are checkers of their own (elle-cli's).
    assert tuple(option.type.choices) == (  # type: ignore[attr-defined]
        *MODEL_NAMES, *HISTORY_MODELS)


def test_unknown_model_name_lists_the_registry() -> None:
    with pytest.raises(ModelError, match=", ".join(MODEL_NAMES)):
        make("linearizable-thing")


def test_only_kv_is_split_per_key() -> None:
    assert [n for n in MODEL_NAMES if make(n).is_partitioned] == ["kv"]
    kv = make("kv")
    assert kv.partition_key(["k", 1]) == "k"
    assert kv.partition_key([["a", 1], 2]) == ("a", 1)  # keys are frozen, so hashable
    with pytest.raises(ModelError, match=r"\[key, value\]"):
        kv.partition_key(3)


def test_observers_and_growth() -> None:
    reg, kv, queue, grow = make("cas-register"), make("kv"), make("fifo-queue"), make("set")
    assert reg.is_observer(("r", 1)) and reg.is_observer(("!cas", 1))
    assert not reg.is_observer(("w", 1)) and not reg.grows(("w", 1))
    assert queue.is_observer(("deq", None)) and not queue.is_observer(("deq", 1))
    assert kv.grows(("a", "x")) and grow.grows(("add", 1))
    assert kv.may_grow_into("x", ("r", "xy")) and not kv.may_grow_into("y", ("r", "xy"))
    assert kv.may_grow_into((1,), ("r", (1, 2))) and not kv.may_grow_into((2,), ("r", (1, 2)))
    assert grow.may_grow_into(frozenset({1}), ("read", frozenset({1, 2})))
    assert not grow.may_grow_into(frozenset({3}), ("read", frozenset({1, 2})))


def test_words_for_explanations() -> None:
    assert make("register").needs(("r", 4)) == "the value to be 4"
    assert make("cas-register").needs(("!cas", "a")) == "the value not to be 'a'"
    assert make("mutex").needs(("acquire",)) == "the lock to be free"
    assert make("mutex").describe_state(True) == "held"
    assert make("fifo-queue").needs(("deq", None)) == "the queue to be empty"
    assert make("set").needs(("read", frozenset({2, 1}))) == "the set to be #{1 2}"
    assert make("register").needs(("w", 1)) == "nothing (it is always possible)"


def test_porcupine_semantics_make_failed_cas_and_nil_reads_observations() -> None:
    model = make("cas-register")
    assert model.compile("cas", [1, 2], None, "fail", "porcupine") == ("!cas", 1)
    assert model.compile("read", None, None, OK, "porcupine") == ("r", None)
    assert model.compile("read", None, None, OK, "knossos") is None
    assert json.dumps(list(MODEL_NAMES))  # names are plain strings
