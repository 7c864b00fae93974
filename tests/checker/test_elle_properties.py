"""Properties: a strictly serializable execution is always valid; a damaged one never is.

`execution` runs transactions one at a time against a real store (a dict of lists for
list-append, of values for rw-register), each at a commit point between its invocation and
its completion, with the invocations, commits and completions of several processes
interleaved at random. Some transactions fail (no effect), some end `info` (with or without
effect, and their process is replaced, as Jepsen's clients do), some never complete. Such a
history is strictly serializable by construction: the commit order is a serial order that
respects real time. So the checkers, being sound, must never find a forbidden anomaly in it.

Then one damage is done that a strict-serializable checker must catch:
- a stale read: a read loses its last element (or, for a register, reads the initial nil)
  although the transaction that wrote it completed before the reader began (a G-single
  with real-time edges, at least);
- an aborted read: a transaction whose append or write was read is made to fail (G1a);
- a duplicate: a read shows an element twice (list-append's duplicate-elements).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checker.elle import list_append, rw_register
from checker.elle.models import UNKNOWN_TYPES
from checker.history import Op


@dataclass
class Execution:
    ops: list[Op] = field(default_factory=list)
    # completion index -> invocation index, for the ok transactions
    invoked_at: dict[int, int] = field(default_factory=dict)


def execution(choose: Any, *, registers: bool, txn_count: int, process_count: int,
              key_count: int) -> Execution:
    """One execution (module docstring); `choose(options)` picks one of a list."""
    store: dict[int, Any] = {}
    next_value: dict[int, int] = {}
    ex = Execution()
    procs = list(range(process_count))
    next_proc = process_count
    pending: dict[int, dict[str, Any]] = {}  # process -> its open transaction
    started = 0

    def emit(kind: str, process: int, value: Any) -> int:
        ex.ops.append(Op(kind, process, "txn", value, len(ex.ops), len(ex.ops)))
        return len(ex.ops) - 1

    while started < txn_count or pending:
        actions: list[tuple[str, int]] = []
        if started < txn_count:
            actions += [("invoke", p) for p in procs if p not in pending]
        actions += [("commit", p) for p, t in pending.items() if not t["committed"]]
        actions += [("complete", p) for p, t in pending.items() if t["committed"]]
        action, p = choose(actions)
        if action == "invoke":
            mops = []
            for _ in range(choose([1, 2, 3, 4])):
                k = choose(list(range(key_count)))
                if choose(["read", "write"]) == "read":
                    mops.append(["r", k, None])
                else:
                    v = next_value[k] = next_value.get(k, 0) + 1
                    mops.append(["w" if registers else "append", k, v])
            at = emit("invoke", p, mops)
            pending[p] = {"mops": mops, "committed": False, "at": at}
            started += 1
        elif action == "commit":
            t = pending[p]
            t["committed"] = True
            t["outcome"] = choose(["ok"] * 8 + ["fail", "info", "info-lost", "never"])
            if t["outcome"] in ("fail", "info-lost"):
                continue  # no effect
            done = []
            for f, k, v in t["mops"]:
                if f == "r":
                    held = store.get(k)
                    done.append([f, k, held if registers or held is None else list(held)])
                elif registers:
                    store[k] = v
                    done.append([f, k, v])
                else:
                    store[k] = [*store.get(k, []), v]
                    done.append([f, k, v])
            t["done"] = done
        else:
            t = pending.pop(p)
            outcome = t["outcome"]
            if outcome == "never":
                procs.remove(p)  # its invocation stays open to the end
            elif outcome in ("info", "info-lost"):
                emit("info", p, t["mops"])
                procs[procs.index(p)] = next_proc  # a new process after an info
                next_proc += 1
            elif outcome == "fail":
                emit("fail", p, t["mops"])
            else:
                ex.invoked_at[emit("ok", p, t["done"])] = t["at"]
            if not procs and started < txn_count:
                procs.append(next_proc)
                next_proc += 1
    return ex


@st.composite
def executions(draw: st.DrawFn, registers: bool) -> Execution:
    return execution(
        lambda options: draw(st.sampled_from(options)),
        registers=registers,
        txn_count=draw(st.integers(1, 30)),
        process_count=draw(st.integers(1, 5)),
        key_count=draw(st.integers(1, 4)),
    )


def judged(ex: Execution, registers: bool) -> dict[str, Any]:
    checker = rw_register.check if registers else list_append.check
    return checker(ex.ops, consistency_models=["strict-serializable"])


@settings(max_examples=150, deadline=None)
@given(ex=executions(registers=False))
def test_strictly_serializable_list_append_is_valid(ex: Execution) -> None:
    res = judged(ex, registers=False)
    assert res["valid"] is not False, res["violations"]
    assert set(res["anomaly-types"]) <= UNKNOWN_TYPES
    assert res["allowed_anomaly_types"] == []


@settings(max_examples=150, deadline=None)
@given(ex=executions(registers=True))
def test_strictly_serializable_rw_register_is_valid(ex: Execution) -> None:
    res = judged(ex, registers=True)
    assert res["valid"] is not False, res["violations"]
    assert set(res["anomaly-types"]) <= UNKNOWN_TYPES
    assert res["allowed_anomaly_types"] == []


def test_a_long_execution_is_valid_not_vacuously() -> None:
    """One seeded execution of 3,000 transactions: valid, with thousands of edges."""
    for registers in (False, True):
        rng = random.Random(7)
        ex = execution(rng.choice, registers=registers, txn_count=3000, process_count=6,
                       key_count=8)
        res = judged(ex, registers)
        assert res["valid"] is True, res["violations"]
        assert res["ok_count"] > 2000
        assert sum(res["edge_counts"].values()) > 3000


def _writer(ex: Execution, k: Any, v: Any) -> int | None:
    """The completion index of the ok transaction that wrote or appended v to k."""
    for i in ex.invoked_at:
        if any(f != "r" and key == k and value == v for f, key, value in ex.ops[i].value):
            return i
    return None


def _stale_read(ex: Execution, registers: bool, pick: Any) -> bool:
    """Damage one external read whose last value's writer completed before the reader was
    invoked; False if there is none."""
    candidates = []
    for i, invoked in ex.invoked_at.items():
        written: set[Any] = set()
        for j, (f, k, v) in enumerate(ex.ops[i].value):
            if f != "r":
                written.add(k)
                continue
            if k in written or not v:
                continue
            last = v if registers else v[-1]
            w = _writer(ex, k, last)
            if w is not None and w != i and w < invoked:
                candidates.append((i, j))
    if not candidates:
        return False
    i, j = pick(candidates)
    f, k, v = ex.ops[i].value[j]
    ex.ops[i].value[j] = [f, k, None if registers else v[:-1]]
    return True


def _aborted_read(ex: Execution, registers: bool, pick: Any) -> bool:
    """Make fail one ok transaction whose write another ok transaction read."""
    seen: set[int] = set()
    for i in ex.invoked_at:
        for f, k, v in ex.ops[i].value:
            if f == "r" and v:
                for e in [v] if registers else v:
                    w = _writer(ex, k, e)
                    if w is not None and w != i:
                        seen.add(w)
    if not seen:
        return False
    ex.ops[pick(sorted(seen))].type = "fail"
    return True


def _duplicate(ex: Execution, pick: Any) -> bool:
    reads = [(i, j) for i in ex.invoked_at for j, (f, _, v) in enumerate(ex.ops[i].value)
             if f == "r" and v]
    if not reads:
        return False
    i, j = pick(reads)
    f, k, v = ex.ops[i].value[j]
    ex.ops[i].value[j] = [f, k, [*v, v[0]]]
    return True


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    registers=st.booleans(),
    damage=st.sampled_from(["stale-read", "aborted-read", "duplicate"]),
)
def test_damaged_execution_is_caught(data: st.DataObject, registers: bool, damage: str) -> None:
    assume(not (registers and damage == "duplicate"))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    ex = execution(rng.choice, registers=registers, txn_count=data.draw(st.integers(8, 40)),
                   process_count=data.draw(st.integers(1, 4)), key_count=2)
    pick = lambda options: data.draw(st.sampled_from(options))  # noqa: E731
    if damage == "stale-read":
        done = _stale_read(ex, registers, pick)
    elif damage == "aborted-read":
        done = _aborted_read(ex, registers, pick)
    else:
        done = _duplicate(ex, pick)
    assume(done)
    res = judged(ex, registers)
    assert res["valid"] is False, (damage, res["anomaly-types"])
    expected = {"aborted-read": {"G1a"}, "duplicate": {"duplicate-elements"}}.get(damage)
    if expected is not None:
        assert expected <= set(res["anomaly-types"])
