"""Properties: histories made by a sequential run and stretched in time are linearizable, and
one impossible read makes them not; a budget that runs out answers unknown, never true."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lin_helpers import history, inv, ok

from checker.history import Op
from checker.linearizability import check
from checker.models import IMPOSSIBLE, make

IMPOSSIBLE_VALUE = 999  # never written by the generator


def stretched_history(seed: int, *, n_ops: int, workers: int, keys: int) -> list[Op]:
    """Run random kv operations (read, write, cas, append) one at a time, then give each a
    random real-time interval that contains its instant. `info` ops take effect at their
    instant (possibly after their recorded completion) or never; after an `info` the worker
    continues as a new process."""
    rng = random.Random(seed)
    model = make("kv")
    state: dict[Any, Any] = {}
    planned = []  # (instant, worker, invoke value, completion type, completion value, f)
    for i in range(n_ops):
        worker = rng.randrange(workers)
        key = rng.randrange(keys)
        f = rng.choice(["read", "write", "cas", "append"])
        v = str(rng.randrange(4))
        value: Any = [key, [v, str(rng.randrange(4))]] if f == "cas" else [key, v]
        if f == "read":
            value = [key, None]
        elif f == "append":
            value = [key, f"{i};"]  # appends make states that only grow: growth pruning
        call = model.compile(f, value, [key, state.get(key)], "ok")
        assert call is not None or f == "read"
        happens = rng.random() > 0.1
        after = state.get(key) if call is None else model.step(state.get(key), call)
        if f == "read":
            typ, result = "ok", [key, state.get(key)]
        elif after is IMPOSSIBLE:  # a cas whose compare failed: a definite failure
            typ, result = "fail", value
        elif not happens:
            typ, result = "info", None  # never takes effect
        else:
            state[key] = after
            typ, result = ("ok", value) if rng.random() > 0.1 else ("info", None)
        planned.append((10 * i + 5, worker, f, value, typ, result))
    return _stretch(planned, rng)


def _stretch(planned: list[tuple[Any, ...]], rng: random.Random) -> list[Op]:
    events = []
    busy_until = {}  # worker -> end time of its previous op
    generation = {}
    by_worker: dict[int, list[int]] = {}
    for n, p in enumerate(planned):
        by_worker.setdefault(p[1], []).append(n)
    next_instant = {}
    for ns in by_worker.values():
        for a, b in zip(ns, [*ns[1:], None], strict=True):
            next_instant[a] = planned[b][0] if b is not None else planned[a][0] + 1000
    for n, (instant, worker, f, value, typ, result) in enumerate(planned):
        start = rng.randint(busy_until.get(worker, -1) + 1, instant)
        if typ == "info":
            end = rng.randint(start, next_instant[n] - 1)  # may end before it takes effect
        else:
            end = rng.randint(instant, next_instant[n] - 1)
        busy_until[worker] = end
        process = worker + 100 * generation.get(worker, 0)
        if typ == "info":
            generation[worker] = generation.get(worker, 0) + 1
        events.append((2 * start, process, "invoke", f, value))
        events.append((2 * end + 1, process, typ, f, result))
    events.sort(key=lambda e: e[0])
    return [Op(typ, p, f, v, t, i) for i, (t, p, typ, f, v) in enumerate(events)]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n_ops=st.integers(1, 40), workers=st.integers(1, 5))
def test_sequential_runs_stretched_in_time_are_linearizable(
    seed: int, n_ops: int, workers: int
) -> None:
    ops = stretched_history(seed, n_ops=n_ops, workers=workers, keys=2)
    res = check(ops, make("kv"), time_limit_s=20)
    # Nothing to judge (only reads of nil, failures) is unknown, never true.
    assert res["valid"] is (True if res["op_count"] else "unknown")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n_ops=st.integers(1, 40),
    workers=st.integers(1, 5),
    pick=st.integers(0, 10**6),
)
def test_one_impossible_read_makes_them_invalid(
    seed: int, n_ops: int, workers: int, pick: int
) -> None:
    ops = stretched_history(seed, n_ops=n_ops, workers=workers, keys=2)
    reads = [op for op in ops if op.f == "read" and op.type == "ok"]
    if not reads:
        return
    victim = reads[pick % len(reads)]
    victim.value = [victim.value[0], IMPOSSIBLE_VALUE]
    res = check(ops, make("kv"), time_limit_s=20)
    assert res["valid"] is False
    assert res["failure"]["op"]["result"] == victim.value


def _hard_invalid_history(writers: int = 16) -> list[Op]:
    """Concurrent writes, then a read of a value none wrote: proving it invalid means trying
    every subset of the writes (2**16 of them by default, beyond the first time check)."""
    events = [inv(p, "write", p) for p in range(writers)]
    events += [ok(p, "write", p) for p in range(writers)]
    return history(*events, inv(99, "read"), ok(99, "read", 123))


def test_time_budget_answers_unknown_never_true() -> None:
    res = check(_hard_invalid_history(), make("register"), time_limit_s=0.0)
    assert res["valid"] == "unknown"
    assert "time" in res["unknown"]["reason"]
    assert res["unknown"]["keys_unfinished"]


def test_memory_budget_answers_unknown() -> None:
    res = check(_hard_invalid_history(), make("register"), memory_limit_mb=0.1)
    assert res["valid"] == "unknown"
    assert "memory" in res["unknown"]["reason"]


def test_generous_budget_decides_the_hard_history() -> None:
    res = check(_hard_invalid_history(12), make("register"), time_limit_s=60)
    assert res["valid"] is False
    assert res["configs_explored"] > 4096  # more than one turn of the search: budgets matter
