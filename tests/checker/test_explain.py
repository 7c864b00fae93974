"""Explanations of invalid histories: the op that could not be placed, the states it met,
the longest linearizable prefix, and a smallest failing set."""

from __future__ import annotations

from lin_helpers import history, info, inv, ok

from checker.explain import PREFIX_MAX, render
from checker.linearizability import check
from checker.models import make


def stale_read_history():  # type: ignore[no-untyped-def]
    return history(
        inv(0, "write", 1), ok(0, "write", 1),          # 0 1
        inv(2, "write", 7), info(2, "write", 7),        # 2 3  (irrelevant noise)
        inv(0, "write", 2), ok(0, "write", 2),          # 4 5
        inv(1, "read"), ok(1, "read", 2),               # 6 7
        inv(1, "read"), ok(1, "read", 1),               # 8 9  stale
        inv(0, "write", 3), ok(0, "write", 3),          # 10 11 after the failure
    )  # fmt: skip


def test_failure_names_the_op_and_the_states_it_met() -> None:
    res = check(stale_read_history(), make("register"))
    failure = res["failure"]
    assert res["valid"] is False
    assert failure["op"]["index"] == 8
    assert failure["op"]["result"] == 1
    assert failure["needed"] == "the value to be 1"
    assert set(failure["possible_states"]) == {"2", "7"}


def test_longest_prefix_is_a_legal_sequence_with_states() -> None:
    failure = check(stale_read_history(), make("register"))["failure"]
    prefix = failure["longest_prefix"]
    assert [(p["index"], p["state_after"]) for p in prefix[:3]] == [(0, "1"), (4, "2"), (6, "2")]


def test_minimal_set_is_small_and_itself_invalid() -> None:
    failure = check(stale_read_history(), make("register"))["failure"]
    assert failure["minimal"] is True
    indexes = sorted(op["index"] for op in failure["minimal_ops"])
    # write 1, then write 2, then read 1: the info write and the later write are not needed.
    assert indexes == [0, 4, 8]
    sub = history(
        inv(0, "write", 1), ok(0, "write", 1), inv(0, "write", 2), ok(0, "write", 2),
        inv(1, "read"), ok(1, "read", 1),
    )  # fmt: skip
    assert check(sub, make("register"))["valid"] is False


def test_text_rendering_says_what_and_why() -> None:
    text = render(check(stale_read_history(), make("register")))
    assert text.startswith("NOT linearizable (register")
    assert "#8 p1 read -> 1 could not be placed: it needs the value to be 1" in text
    assert "Smallest set that cannot be linearized: 3 operations" in text


def test_valid_and_unknown_render() -> None:
    assert render(
        check(history(inv(0, "write", 1), ok(0, "write", 1)), make("register"))
    ).startswith("linearizable")
    assert "nothing to judge" in render(check([], make("register")))


def test_failure_says_what_real_time_put_before_it_and_where_its_value_came_from() -> None:
    failure = check(stale_read_history(), make("register"))["failure"]
    assert [op["index"] for op in failure["preceding"]] == [4, 0]  # write 2, then write 1
    assert [op["index"] for op in failure["enablers"]] == [0]  # only write 1 gives a 1
    assert (failure["op"]["time_ns"], failure["op"]["completion_time_ns"]) == (8, 9)
    assert failure["longest_prefix_count"] == len(failure["longest_prefix"]) == 4
    assert failure["minimal_ops_count"] == 3


def test_a_long_prefix_is_cut_to_its_end() -> None:
    n = PREFIX_MAX + 50
    writes = [e for i in range(1, n + 1) for e in (inv(0, "write", i), ok(0, "write", i))]
    failure = check(history(*writes, inv(1, "read"), ok(1, "read", 1)), make("register"))[
        "failure"
    ]
    assert failure["longest_prefix_count"] == n
    assert len(failure["longest_prefix"]) == PREFIX_MAX
    assert failure["longest_prefix"][-1]["value"] == n  # the end: next to the failure
    assert f"Longest linearizable prefix: {n} operations" in failure["text"]
