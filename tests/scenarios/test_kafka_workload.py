"""The kafka workload: wire bodies, history values, error mapping, the consumers' cycle
(assign, poll, commit), the continued final polls, and its check on literal histories."""

from __future__ import annotations

import random
from typing import Any

import pytest

from checker.history import Op
from scenarios.workload import MALFORMED
from scenarios.workloads import get_spec, get_workload
from scenarios.workloads.kafka import FINAL_POLLS_PER_NODE, Kafka

NODES = ["n1", "n2"]

# (f, invocation value, request body, a good reply, the ok value)
ROUND_TRIPS: list[tuple[str, Any, dict[str, Any], dict[str, Any], Any]] = [
    ("send", ["1", 7], {"type": "send", "key": "1", "msg": 7},
     {"type": "send_ok", "offset": 3}, ["1", [3, 7]]),
    ("poll", {"0": 2, "1": 0}, {"type": "poll", "offsets": {"0": 2, "1": 0}},
     {"type": "poll_ok", "msgs": {"0": [[2, 9], [4, 10]], "1": []}}, {"0": [[2, 9], [4, 10]]}),
    ("commit_offsets", {"0": 4}, {"type": "commit_offsets", "offsets": {"0": 4}},
     {"type": "commit_offsets_ok"}, {"0": 4}),
    ("list_committed_offsets", ["0", "1"], {"type": "list_committed_offsets", "keys": ["0", "1"]},
     {"type": "list_committed_offsets_ok", "offsets": {"0": 4}}, {"0": 4}),
]  # fmt: skip


@pytest.mark.parametrize(("f", "value", "body", "reply", "result"), ROUND_TRIPS)
def test_request_and_complete_round_trip(
    f: str, value: Any, body: dict[str, Any], reply: dict[str, Any], result: Any
) -> None:
    w = get_workload("kafka")
    assert w.request(f, value) == body
    assert w.complete(f, value, {**reply, "in_reply_to": 3}) == ("ok", result, None)


# (f, error code, completion type): PROTOCOL.md's mapping; poll and list are reads.
ERRORS = [
    ("send", 11, "fail"), ("send", 20, "fail"), ("send", 0, "info"), ("send", 13, "info"),
    ("send", 1000, "info"), ("poll", 20, "fail"), ("poll", 0, "fail"), ("poll", 13, "fail"),
    ("commit_offsets", 12, "fail"), ("commit_offsets", 0, "info"),
    ("list_committed_offsets", 20, "fail"), ("list_committed_offsets", 1000, "fail"),
]  # fmt: skip


@pytest.mark.parametrize(("f", "code", "type_"), ERRORS)
def test_errors_map_to_fail_or_info(f: str, code: int, type_: str) -> None:
    w = get_workload("kafka")
    value = {"send": ["0", 1], "poll": {"0": 0}, "commit_offsets": {"0": 0},
             "list_committed_offsets": ["0"]}[f]
    got_type, got_value, error = w.complete(f, value, {"type": "error", "code": code, "text": "x"})
    assert (got_type, got_value, error["code"]) == (type_, value, code)
    assert w.is_idempotent(f) is (f in ("poll", "list_committed_offsets"))


@pytest.mark.parametrize(
    ("f", "reply"),
    [
        ("send", {"type": "send_ok"}),
        ("send", {"type": "send_ok", "offset": "3"}),
        ("send", {"type": "send_ok", "offset": True}),
        ("poll", {"type": "poll_ok", "msgs": [[0, 1]]}),
        ("poll", {"type": "poll_ok", "msgs": {"0": [0, 1]}}),
        ("poll", {"type": "poll_ok", "msgs": {"0": [[None, 1]]}}),
        ("list_committed_offsets", {"type": "list_committed_offsets_ok", "offsets": {"0": "x"}}),
        ("commit_offsets", {"type": "poll_ok"}),
    ],
)
def test_malformed_replies_are_flagged(f: str, reply: dict[str, Any]) -> None:
    w = get_workload("kafka")
    value = {"send": ["0", 1], "poll": {"0": 0}, "commit_offsets": {"0": 0},
             "list_committed_offsets": ["0"]}[f]
    type_, _, error = w.complete(f, value, reply)
    assert type_ == ("fail" if w.is_idempotent(f) else "info")
    assert error.startswith(MALFORMED)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="keys must be an integer from 1 to 1000"):
        Kafka(keys=0)
    with pytest.raises(ValueError, match="send_probability must be a number from 0 to 1"):
        Kafka(send_probability=1.5)
    assert get_spec("kafka").service == "log"


def test_a_consumer_assigns_polls_from_its_committed_offsets_and_commits_what_it_consumed(
) -> None:
    w = Kafka(keys=2, send_probability=0.0)
    rng = random.Random(1)
    f, keys = w.invoke(rng, 0)
    assert (f, keys) == ("list_committed_offsets", ["0", "1"])
    w.complete(f, keys, {"type": "list_committed_offsets_ok", "offsets": {"0": 4}})
    f, offsets = w.invoke(rng, 0)
    assert (f, offsets) == ("poll", {"0": 5, "1": 0})  # just after the committed offset
    w.complete(f, offsets, {"type": "poll_ok", "msgs": {"0": [[5, 10], [7, 11]]}})
    f, committing = w.invoke(rng, 0)
    assert (f, committing) == ("commit_offsets", {"0": 7})
    w.complete(f, committing, {"type": "commit_offsets_ok"})
    f, offsets = w.invoke(rng, 0)
    assert (f, offsets) == ("poll", {"0": 8, "1": 0})
    w.complete(f, offsets, {"type": "poll_ok", "msgs": {}})
    assert w.invoke(rng, 0)[0] == "poll"  # nothing consumed: nothing to commit


def test_a_failed_commit_is_retried_after_the_next_poll_and_a_new_process_assigns_again(
) -> None:
    w = Kafka(keys=1, send_probability=0.0)
    rng = random.Random(2)
    f, keys = w.invoke(rng, 3)
    w.complete(f, keys, {"type": "list_committed_offsets_ok", "offsets": {}})
    f, offsets = w.invoke(rng, 3)
    w.complete(f, offsets, {"type": "poll_ok", "msgs": {"0": [[0, 1]]}})
    f, committing = w.invoke(rng, 3)
    assert w.complete(f, committing, {"type": "error", "code": 11})[0] == "fail"
    f, offsets = w.invoke(rng, 3)
    assert (f, offsets) == ("poll", {"0": 1})
    w.complete(f, offsets, {"type": "poll_ok", "msgs": {"0": [[1, 2]]}})
    assert w.invoke(rng, 3) == ("commit_offsets", {"0": 1})
    # The commit timed out (no complete): its process is retired; the next one assigns.
    assert w.invoke(rng, 3 + 10)[0] == "list_committed_offsets"


def test_producers_send_unique_integers_to_the_keys() -> None:
    w = Kafka(keys=3, send_probability=1.0)
    rng = random.Random(3)
    f, keys = w.invoke(rng, 0)
    w.complete(f, keys, {"type": "list_committed_offsets_ok", "offsets": {}})
    sends = [w.invoke(rng, 0) for _ in range(50)]
    assert {f for f, _ in sends} == {"send"}
    assert {k for _, (k, _) in sends} == {"0", "1", "2"}
    assert sorted(m for _, (_, m) in sends) == list(range(50))


def test_final_polls_start_at_zero_on_every_node_and_continue_while_they_return_messages(
) -> None:
    w = Kafka(keys=2)
    finals = w.final_ops(NODES)
    assert finals == [*((n, "list_committed_offsets", ["0", "1"]) for n in NODES),
                      *((n, "poll", {"0": 0, "1": 0}) for n in NODES)]
    seen = []
    replies = iter([
        {"type": "list_committed_offsets_ok", "offsets": {}},
        {"type": "list_committed_offsets_ok", "offsets": {}},
        {"type": "error", "code": 11},  # n1 fails: the run retries the same operation
        {"type": "poll_ok", "msgs": {"0": [[0, 1], [2, 2]]}},  # n1: more of key 0, perhaps
        {"type": "poll_ok", "msgs": {}},  # n2: nothing at all
        {"type": "poll_ok", "msgs": {}},  # n1 from offset 3 of key 0: the end
    ])
    for node, f, value in finals:  # as the run iterates them, completing each
        while True:
            seen.append((node, value if isinstance(value, list) else dict(value)))
            if w.complete(f, value, next(replies))[0] == "ok":
                break
    polls = [(node, value) for node, value in seen if isinstance(value, dict)]
    assert polls == [("n1", {"0": 0, "1": 0}), ("n1", {"0": 0, "1": 0}),
                     ("n2", {"0": 0, "1": 0}), ("n1", {"0": 3})]


def test_final_polls_of_a_node_are_bounded() -> None:
    w = Kafka(keys=1)
    count = 0
    for _node, f, value in w.final_ops(["n1"]):
        if f == "poll":
            count += 1
            w.complete(f, value, {"type": "poll_ok", "msgs": {"0": [[value["0"], 0]]}})
    assert count == FINAL_POLLS_PER_NODE


def record(w: Kafka, rows: list[tuple[Any, str, Any, dict[str, Any]]]) -> list[Op]:
    """A history as the run records it: each (process, f, value, reply) invoked and completed
    in turn; final polls are those whose process is 100 or more."""
    history: list[Op] = []
    for process, f, value, reply in rows:
        extra = {"final": True} if process >= 100 else {}
        history.append(Op("invoke", process, f, value, time=len(history),
                          index=len(history), node="n1", extra=extra))
        type_, result, error = w.complete(f, value, reply)
        history.append(Op(type_, process, f, result, time=len(history), index=len(history),
                          node="n1", error=error, extra=extra))
    return history


def test_the_check_judges_a_run_and_catches_a_lost_message() -> None:
    w = Kafka(keys=1)
    good = [
        (0, "send", ["0", 1], {"type": "send_ok", "offset": 0}),
        (0, "send", ["0", 2], {"type": "send_ok", "offset": 1}),
        (1, "list_committed_offsets", ["0"], {"type": "list_committed_offsets_ok",
                                             "offsets": {}}),
        (1, "poll", {"0": 0}, {"type": "poll_ok", "msgs": {"0": [[0, 1], [1, 2]]}}),
        (1, "commit_offsets", {"0": 1}, {"type": "commit_offsets_ok"}),
        (100, "poll", {"0": 0}, {"type": "poll_ok", "msgs": {"0": [[0, 1], [1, 2]]}}),
    ]
    checked = w.check(record(w, good), node_ids=["n1"])
    assert checked["valid"] is True, checked
    assert set(checked["results"]) == {"kafka", "final-reads", "availability", "replies"}
    lost = [*good[:-1], (100, "poll", {"0": 0}, {"type": "poll_ok", "msgs": {"0": [[0, 1]]}}),
            (101, "poll", {"0": 1}, {"type": "poll_ok", "msgs": {}})]
    checked = w.check(record(w, lost), node_ids=["n1"])
    assert checked["valid"] is False
    assert checked["results"]["kafka"]["error_types"] == ["lost-write"]
