"""The log checker (checker.kafka): golden histories, good and bad, and a simulated log.

Rows are `tests/checker/rows.py`'s, values the kafka workload's (checker.kafka's docstring).
`BAD` is the manifest: one small history per anomaly, each rejected with that anomaly named
and the operations (history indexes) that show it. The property drives the real workload
(scenarios/workloads/kafka.py) against a plain linearizable log, one list per key, with
consumers, timeouts and final polls: every such history is valid, and the same run with an
acknowledged message dropped, duplicated, or swapped with another after the fact is rejected.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import h, op

from checker.history import HistoryError, Op
from checker.kafka import ANOMALIES, kafka
from checker.result import LIST_LIMIT
from checker.results_schema import counterexamples
from scenarios.workloads.kafka import Kafka


def send(p: Any, k: str, m: Any, offset: int | None = None, outcome: str = "ok",
         **kw: Any) -> list:
    result = [k, [offset, m]] if outcome == "ok" else [k, m]
    return op(p, "send", [k, m], result, outcome, **kw)


def poll(p: Any, requested: dict[str, int], msgs: dict[str, list], *, final: bool = False,
         node: str | None = None) -> list:
    kw: dict[str, Any] = {"final": True} if final else {}
    if node is not None:
        kw["node"] = node
    return op(p, "poll", requested, msgs, **kw)


def commit(p: Any, offsets: dict[str, int], outcome: str = "ok") -> list:
    return op(p, "commit_offsets", offsets, offsets, outcome)


def listed(p: Any, keys: list[str], offsets: dict[str, int]) -> list:
    return op(p, "list_committed_offsets", keys, offsets)


def inv(p: Any, f: str, value: Any) -> tuple:
    return ("invoke", p, f, value)


def ok(p: Any, f: str, value: Any) -> tuple:
    return ("ok", p, f, value)


# A producer, a consumer that assigns, polls, commits, and a second that starts after the
# commit; an indefinite send that a poll saw (recovered) and one nobody saw; final polls.
GOOD = [
    *send(0, "a", 1, 0), *send(0, "a", 2, 1), *send(0, "b", 3, 0),
    *listed(1, ["a", "b"], {}),
    *poll(1, {"a": 0, "b": 0}, {"a": [[0, 1], [1, 2]], "b": [[0, 3]]}),
    *commit(1, {"a": 1, "b": 0}),
    *listed(2, ["a", "b"], {"a": 1, "b": 0}),
    *send(3, "a", 4, outcome="info"),
    *poll(2, {"a": 2, "b": 1}, {"a": [[3, 4]]}),  # offset 2 is a hole nobody saw: allowed
    *send(4, "b", 5, outcome="info"),
    *poll(100, {"a": 0, "b": 0}, {"a": [[0, 1], [1, 2], [3, 4]], "b": [[0, 3]]}, final=True),
    *poll(101, {"a": 4, "b": 1}, {}, final=True),
]  # fmt: skip


def test_a_correct_log_is_valid_and_counted() -> None:
    res = kafka(h(*GOOD))
    assert res["valid"] is True, res["error_types"]
    assert res["error_types"] == []
    assert res["acknowledged_count"] == 3
    assert res["info_send_count"] == 2
    assert res["recovered_count"] == 1
    assert res["poll_count"] == 4
    assert res["final_poll_count"] == 2
    assert res["commit_count"] == 1
    assert res["list_count"] == 2
    assert res["key_count"] == 2
    assert res["consumed_count"] == 3
    assert res["final_only_count"] == 0
    assert all(res[f"{prefix}_count"] == 0 for prefix in ANOMALIES.values())


# (name, rows, the anomaly, the history indexes its first case quotes, in order)
BAD: list[tuple[str, list, str, list[int]]] = [
    # A consumer that started at offset 1 read 2 there: 1, at offset 0, was read past, unread.
    ("lost-read-past", [*send(0, "a", 1, 0), *send(0, "a", 2, 1),
                        *poll(1, {"a": 1}, {"a": [[1, 2]]})],
     "lost-write", [0, 1, 4, 5]),
    # 1 was consumed, then the final poll from 0 found the log empty.
    ("lost-final", [*send(0, "a", 1, 0), *poll(1, {"a": 0}, {"a": [[0, 1]]}),
                    *poll(100, {"a": 0}, {}, final=True)],
     "lost-write", [0, 1, 4, 5]),
    # An indefinite send a consumer saw is committed: the final polls must have it too.
    ("lost-recovered-final", [*send(0, "a", 1, outcome="info"),
                              *poll(1, {"a": 0}, {"a": [[0, 1]]}),
                              *poll(100, {"a": 0}, {}, final=True)],
     "lost-write", [0, 1, 4, 5]),
    ("unseen", [*send(0, "a", 1, 0), *poll(1, {"a": 0}, {})], "unseen", [0, 1]),
    ("duplicate", [*send(0, "a", 1, 0), *poll(1, {"a": 0}, {"a": [[0, 1], [1, 1]]})],
     "duplicate", [0, 1, 2, 3]),
    # Two concurrent sends both given offset 0.
    ("inconsistent-offsets", [inv(0, "send", ["a", 1]), inv(1, "send", ["a", 2]),
                              ok(0, "send", ["a", [0, 1]]), ok(1, "send", ["a", [0, 2]]),
                              *poll(2, {"a": 0}, {"a": [[0, 1], [1, 2]]})],
     "inconsistent-offsets", [0, 2, 1, 3]),
    # Asked for offset 0, answered from 1; another consumer shows offset 0 exists.
    ("poll-skip", [*send(0, "a", 1, 0), *send(0, "a", 2, 1),
                   *poll(1, {"a": 0}, {"a": [[0, 1], [1, 2]]}),
                   *poll(2, {"a": 0}, {"a": [[1, 2]]})],
     "poll-skip", [6, 7]),
    ("int-poll-skip", [*send(0, "a", 1, 0), *send(0, "a", 2, 1), *send(0, "a", 3, 2),
                       *poll(1, {"a": 1}, {"a": [[1, 2]]}),
                       *poll(2, {"a": 0}, {"a": [[0, 1], [2, 3]]})],
     "int-poll-skip", [8, 9]),
    ("nonmonotonic-poll", [*send(0, "a", 1, 0), *send(0, "a", 2, 1),
                           *poll(1, {"a": 1}, {"a": [[0, 1], [1, 2]]})],
     "nonmonotonic-poll", [4, 5]),
    ("int-nonmonotonic-poll", [*send(0, "a", 1, 0), *send(0, "a", 2, 1),
                               *poll(1, {"a": 0}, {"a": [[0, 1], [1, 2], [0, 1]]})],
     "int-nonmonotonic-poll", [4, 5]),
    # One producer's second send lands before its first.
    ("nonmonotonic-send-process", [*send(0, "a", 1, 1), *send(0, "a", 2, 0),
                                   *poll(1, {"a": 0}, {"a": [[0, 2], [1, 1]]})],
     "nonmonotonic-send", [0, 1, 2, 3]),
    # Another producer's send, invoked after the first was acknowledged, lands before it.
    ("nonmonotonic-send-realtime", [*send(0, "a", 1, 1), *send(1, "a", 2, 0),
                                    *poll(2, {"a": 0}, {"a": [[0, 2], [1, 1]]})],
     "nonmonotonic-send", [0, 1, 2, 3]),
    ("nonmonotonic-commit", [*commit(0, {"a": 3}), *commit(0, {"a": 5}),
                             *listed(1, ["a"], {"a": 3})],
     "nonmonotonic-commit", [2, 3, 4, 5]),
    ("vanished-commit", [*commit(0, {"a": 3}), *listed(1, ["a"], {})],
     "nonmonotonic-commit", [0, 1, 2, 3]),
    ("unexpected-commit", [*commit(0, {"a": 3}), *listed(1, ["a"], {"a": 7})],
     "unexpected-commit", [2, 3]),
    ("aborted-read", [*send(0, "a", 1, outcome="fail", error={"code": 11}),
                      *poll(1, {"a": 0}, {"a": [[0, 1]]})],
     "G1a", [0, 1, 2, 3]),
    ("unexpected", [*send(0, "a", 1, 0), *poll(1, {"a": 0}, {"a": [[0, 1], [1, 9]]})],
     "unexpected", [2, 3]),
    # The poll completed before the send of what it returned was invoked.
    ("future-read", [*poll(1, {"a": 0}, {"a": [[0, 1]]}), *send(0, "a", 1, 0)],
     "future-read", [0, 1]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "rows", "anomaly", "indexes"), BAD, ids=[b[0] for b in BAD])
def test_each_anomaly_is_rejected_with_the_operations_that_show_it(
    name: str, rows: list, anomaly: str, indexes: list[int]
) -> None:
    res = kafka(h(*rows))
    assert res["valid"] is False
    assert anomaly in res["error_types"]
    prefix = ANOMALIES[anomaly]
    assert res[f"{prefix}_count"] == 1
    (case,) = res[prefix]
    assert _quoted(case) == indexes, case
    # results.json points at them too (checker.results_schema.counterexamples)
    assert set(indexes) <= set(counterexamples({"kafka": res})[0]["operations"])


def _quoted(case: dict[str, Any]) -> list[int]:
    """The history indexes a case quotes, in order (as results.json's counterexamples)."""
    return counterexamples({"kafka": {"valid": False, "case": case}})[0]["operations"]


def test_the_single_anomaly_cases_name_only_their_own() -> None:
    alone = {"lost-read-past", "lost-final", "unseen", "duplicate", "poll-skip",
             "int-poll-skip", "nonmonotonic-poll", "int-nonmonotonic-poll",
             "nonmonotonic-send-process", "nonmonotonic-send-realtime", "nonmonotonic-commit",
             "vanished-commit", "unexpected-commit", "aborted-read", "unexpected",
             "future-read"}
    for name, rows, anomaly, _ in BAD:
        if name in alone:
            assert kafka(h(*rows))["error_types"] == [anomaly], name


def test_the_details_of_the_cases_say_what_happened() -> None:
    cases = {name: kafka(h(*rows)) for name, rows, _, _ in BAD}
    lost = cases["lost-read-past"]["lost"][0]
    assert (lost["key"], lost["offset"], lost["message"]) == ("a", 0, 1)
    assert lost["read_past"]["index"] == 4 and lost["final_poll"] is None
    final = cases["lost-final"]["lost"][0]
    assert final["read_past"] is None and final["final_poll"]["index"] == 4
    assert cases["unseen"]["unseen_by_key"] == {"a": 1}
    assert cases["duplicate"]["duplicate"][0]["offsets"] == [0, 1]
    assert cases["inconsistent-offsets"]["inconsistent_offsets"][0]["messages"] == [1, 2]
    skip = cases["poll-skip"]["poll_skip"][0]
    assert (skip["expected"], skip["first"], skip["skipped"]) == (0, 1, [0])
    assert cases["int-poll-skip"]["int_poll_skip"][0]["skipped"] == [1]
    assert cases["nonmonotonic-send-process"]["nonmonotonic_send"][0]["scope"] == "process"
    assert cases["nonmonotonic-send-realtime"]["nonmonotonic_send"][0]["scope"] == "realtime"
    assert cases["nonmonotonic-commit"]["nonmonotonic_commit"][0]["listed"] == 3
    assert cases["vanished-commit"]["nonmonotonic_commit"][0]["listed"] is None


def test_a_skip_over_a_hole_nobody_saw_is_allowed() -> None:
    # Offsets may be sparse: offset 1 never held anything anyone saw.
    rows = [*send(0, "a", 1, 0), *send(0, "a", 2, 2),
            *poll(1, {"a": 1}, {"a": [[2, 2]]}), *poll(2, {"a": 0}, {"a": [[0, 1], [2, 2]]})]
    assert kafka(h(*rows))["valid"] is True


def test_a_poll_that_does_not_say_where_it_began_is_judged_by_its_process() -> None:
    # Jepsen's form: the offset after the same process's previous read stands for it.
    rows = [*send(0, "a", 1, 0), *send(0, "a", 2, 1), *send(0, "a", 3, 2),
            *op(1, "poll", None, {"a": [[0, 1]]}), *op(1, "poll", None, {"a": [[2, 3]]}),
            *op(2, "poll", None, {"a": [[0, 1], [1, 2], [2, 3]]})]
    res = kafka(h(*rows))
    assert res["error_types"] == ["poll-skip"]
    assert _quoted(res["poll_skip"][0]) == [6, 7, 8, 9]


def test_a_lagging_final_poll_is_no_loss_when_another_has_everything() -> None:
    rows = [*send(0, "a", 1, 0), *send(0, "a", 2, 1),
            *poll(100, {"a": 0}, {"a": [[0, 1], [1, 2]]}, final=True, node="n1"),
            *poll(101, {"a": 0}, {"a": [[0, 1]]}, final=True, node="n2"),
            *poll(102, {"a": 2}, {}, final=True, node="n1")]
    res = kafka(h(*rows))
    assert res["valid"] is True
    assert res["final_only_count"] == 2  # no consumer polled them before the end


def test_nothing_to_judge_is_unknown() -> None:
    assert kafka([])["valid"] == "unknown"
    rows = [*send(0, "a", 1, outcome="fail"), *send(1, "a", 2, outcome="info"),
            *poll(2, {"a": 0}, {}), *listed(3, ["a"], {})]
    res = kafka(h(*rows))
    assert res["valid"] == "unknown"
    assert "no send was acknowledged" in res["reason"]


def test_counts_are_exact_and_lists_bounded() -> None:
    rows = [row for m in range(LIST_LIMIT + 7) for row in send(0, "a", m, m)]
    res = kafka(h(*rows, *poll(1, {"a": 0}, {})))
    assert res["unseen_count"] == LIST_LIMIT + 7
    assert len(res["unseen"]) == LIST_LIMIT
    assert res["unseen_by_key"] == {"a": LIST_LIMIT + 7}


def test_the_lag_from_send_to_first_consuming_poll() -> None:
    ms = 1_000_000

    def at(type_: str, p: int, f: str, value: Any, t_ms: int, **extra: Any) -> Op:
        return Op(type_, p, f, value, time=t_ms * ms, extra=extra)

    ops = [
        at("invoke", 0, "send", ["a", 1], 0), at("ok", 0, "send", ["a", [0, 1]], 5),
        at("invoke", 0, "send", ["a", 2], 10), at("ok", 0, "send", ["a", [1, 2]], 12),
        at("invoke", 1, "poll", {"a": 0}, 20), at("ok", 1, "poll", {"a": [[0, 1]]}, 30),
        at("invoke", 1, "poll", {"a": 1}, 40), at("ok", 1, "poll", {"a": [[1, 2]]}, 50),
        at("invoke", 2, "poll", {"a": 0}, 60), at("ok", 2, "poll", {"a": [[0, 1]]}, 70),
        at("invoke", 0, "send", ["a", 3], 80), at("ok", 0, "send", ["a", [2, 3]], 81),
        at("invoke", 9, "poll", {"a": 0}, 90, final=True),
        at("ok", 9, "poll", {"a": [[0, 1], [1, 2], [2, 3]]}, 99, final=True),
    ]
    for i, o in enumerate(ops):
        o.index = i
    res = kafka(ops)
    assert res["valid"] is True
    # 1: sent at 0, first consumed at 30; 2: sent at 10, consumed at 50; 3: only the final.
    assert (res["lag_count"], res["lag_ms_p50"], res["lag_ms_max"]) == (2, 30.0, 40.0)
    assert res["lag_ms_p99"] == 40.0
    assert res["final_only_count"] == 1


@pytest.mark.parametrize(
    "rows",
    [
        [*op(0, "send", ["a", 1], ["a", 1])],  # an ok send without its offset
        [*op(0, "send", ["a", 1], ["a", ["zero", 1]])],
        [*op(0, "send", "a", None, "info")],
        [*op(0, "poll", {"a": 0}, {"a": [1, 2]})],
        [*op(0, "poll", {"a": 0}, [[0, 1]])],
        [*op(0, "commit_offsets", {"a": "x"}, {"a": "x"})],
    ],
)
def test_malformed_values_are_history_errors_naming_the_operation(rows: list) -> None:
    with pytest.raises(HistoryError, match=r"operation [01]:"):
        kafka(h(*rows))


# -- a simulated log ---------------------------------------------------------------------------


class Log:
    """A linearizable log per key: offsets increase (with a gap now and then when `sparse`),
    polls return at most `limit` messages a key from the requested offset, commits keep the
    highest offset."""

    def __init__(self, rng: random.Random, *, sparse: bool, limit: int) -> None:
        self.rng, self.sparse, self.limit = rng, sparse, limit
        self.logs: dict[str, list[list[Any]]] = {}
        self.committed: dict[str, int] = {}

    def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["type"]
        if kind == "send":
            log = self.logs.setdefault(body["key"], [])
            gap = 1 + (self.rng.random() < 0.2 if self.sparse else 0)
            offset = log[-1][0] + gap if log else 0
            log.append([offset, body["msg"]])
            return {"type": "send_ok", "offset": offset}
        if kind == "poll":
            msgs = {}
            for k, start in body["offsets"].items():
                log = self.logs.get(k, [])
                i = bisect_left([o for o, _ in log], start)
                if log[i:i + self.limit]:
                    msgs[k] = [list(p) for p in log[i:i + self.limit]]
            return {"type": "poll_ok", "msgs": msgs}
        if kind == "commit_offsets":
            for k, o in body["offsets"].items():
                self.committed[k] = max(self.committed.get(k, -1), o)
            return {"type": "commit_offsets_ok"}
        return {"type": "list_committed_offsets_ok",
                "offsets": {k: self.committed[k] for k in body["keys"] if k in self.committed}}

    def mutate(self, kind: str, acked: list[tuple[str, int, Any]]) -> bool:
        """Break the log: an acknowledged message dropped, written again at a new offset, or
        swapped with another acknowledged message of its key. False if it cannot (a swap
        needs two acknowledged messages in one key)."""
        if kind == "reorder":
            keys = [k for k, _, _ in acked]
            acked = [a for a in acked if keys.count(a[0]) >= 2]
            if not acked:
                return False
        k, offset, m = self.rng.choice(acked)
        log = self.logs[k]
        i = next(i for i, (o, _) in enumerate(log) if o == offset)
        if kind == "drop":
            del log[i]
        elif kind == "duplicate":
            log.append([log[-1][0] + 1, m])
        else:
            j = self.rng.choice([j for j, (o, n) in enumerate(log)
                                 if (k, o, n) in acked and j != i])
            log[i][1], log[j][1] = log[j][1], log[i][1]
        return True


def run_log(seed: int, *, steps: int, concurrency: int, keys: int, sparse: bool, limit: int,
            mutation: str | None = None) -> tuple[list[Op], bool]:
    """The kafka workload's clients against `Log`, as the run records them: operations overlap,
    each taking effect at its invocation or at its completion; 3% time out (a send or commit
    then took effect or not; the process is retired); final polls on two nodes at the end.
    `mutation` breaks the log once, at a random moment after two messages were acknowledged
    (at the end if it has not by then); the second value says whether it did."""
    rng = random.Random(seed)
    workload = Kafka(keys=keys)
    log = Log(rng, sparse=sparse, limit=limit)
    history: list[Op] = []

    def record(type_: str, p: Any, f: str, value: Any, node: str = "n1", **extra: Any) -> None:
        history.append(Op(type_, p, f, value, time=len(history), index=len(history),
                          node=node, extra=extra))

    open_: dict[int, tuple[int, str, Any, dict[str, Any] | None]] = {}
    process_of = list(range(concurrency))
    acked: list[tuple[str, int, Any]] = []
    pending, mutated = mutation, False
    for _ in range(steps):
        worker = rng.randrange(concurrency)
        if worker not in open_:
            p = process_of[worker]
            f, value = workload.invoke(rng, p)
            record("invoke", p, f, value)
            early = log.handle(workload.request(f, value)) if rng.random() < 0.5 else None
            open_[worker] = (p, f, value, early)
        else:
            p, f, value, reply = open_.pop(worker)
            if rng.random() < 0.03:
                if reply is None and rng.random() < 0.5:
                    log.handle(workload.request(f, value))
                type_ = "fail" if workload.is_idempotent(f) else "info"
                record(type_, p, f, value)
                if type_ == "info":
                    process_of[worker] = p + concurrency
            else:
                reply = reply or log.handle(workload.request(f, value))
                type_, result, _ = workload.complete(f, value, reply)
                record(type_, p, f, result)
                if f == "send":
                    acked.append((result[0], result[1][0], result[1][1]))
        if pending and not mutated and len(acked) >= 2 and rng.random() < 0.02:
            mutated = log.mutate(pending, acked)
    for p, f, value, _ in open_.values():
        record("fail" if workload.is_idempotent(f) else "info", p, f, value)
    if pending and not mutated and len(acked) >= 2:
        mutated = log.mutate(pending, acked)
    for n, (node, f, value) in enumerate(workload.final_ops(["n1", "n2"])):
        record("invoke", 1_000_000 + n, f, value, node, final=True)
        type_, result, _ = workload.complete(f, value, log.handle(workload.request(f, value)))
        record(type_, 1_000_000 + n, f, result, node, final=True)
    return history, mutated


RUNS = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32), "steps": st.integers(20, 600),
    "concurrency": st.integers(1, 6), "keys": st.integers(1, 4), "sparse": st.booleans(),
    "limit": st.sampled_from([1, 2, 5, 1000]),
})  # fmt: skip


@settings(max_examples=60)
@given(RUNS)
def test_a_correct_log_is_always_valid(run: dict[str, Any]) -> None:
    history, _ = run_log(**run)
    res = kafka(history)
    assert res["valid"] in (True, "unknown"), res["error_types"]
    if res["acknowledged_count"]:
        assert res["valid"] is True
        assert res["unseen_count"] == 0  # the final polls see every acknowledged message


@settings(max_examples=60)
@given(RUNS, st.sampled_from(["drop", "duplicate", "reorder"]))
def test_a_dropped_duplicated_or_reordered_message_is_caught(
    run: dict[str, Any], mutation: str
) -> None:
    history, mutated = run_log(**run, mutation=mutation)
    if not mutated:
        return  # too few acknowledged messages to break the log
    res = kafka(history)
    assert res["valid"] is False
    expected = {"drop": "lost-write", "duplicate": "duplicate",
                "reorder": "inconsistent-offsets"}[mutation]
    assert expected in res["error_types"], res["error_types"]
