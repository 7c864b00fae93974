"""The lin-kv workload: its wire bodies, the history encoding, error mapping, and its check.

The check is exercised with literal histories in the encoding `checker.linearizability`
documents, good and bad, including the one decision the workload adds: a read answered with
error 20 (key-does-not-exist) is an observation that the key was absent.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from checker.history import Op
from scenarios.workloads import WORKLOADS, get_workload
from scenarios.workloads.lin_kv import ABSENT, lin_kv_linearizability

NODES = ["n1", "n2", "n3"]

# (f, invocation value, request body, a good reply, the ok value)
ROUND_TRIPS: list[tuple[str, Any, dict[str, Any], dict[str, Any], Any]] = [
    ("read", [0, None], {"type": "read", "key": 0}, {"type": "read_ok", "value": 3}, [0, 3]),
    ("write", [2, 4], {"type": "write", "key": 2, "value": 4}, {"type": "write_ok"}, [2, 4]),
    ("cas", [1, [0, 3]], {"type": "cas", "key": 1, "from": 0, "to": 3}, {"type": "cas_ok"},
     [1, [0, 3]]),
]  # fmt: skip


@pytest.mark.parametrize(("f", "value", "body", "reply", "result"), ROUND_TRIPS)
def test_request_and_complete_round_trip(
    f: str, value: Any, body: dict[str, Any], reply: dict[str, Any], result: Any
) -> None:
    w = get_workload("lin-kv")
    assert w.request(f, value) == body
    assert w.complete(f, value, {**reply, "in_reply_to": 7}) == ("ok", result, None)


# (f, error code, completion type): PROTOCOL.md's mapping, as Maelstrom's lin-kv client does it.
ERRORS = [
    ("read", 20, "fail"), ("read", 11, "fail"), ("read", 0, "fail"), ("read", 13, "fail"),
    ("read", 1000, "fail"),
    ("cas", 22, "fail"), ("cas", 20, "fail"), ("cas", 11, "fail"), ("cas", 0, "info"),
    ("cas", 13, "info"), ("cas", 1001, "info"),
    ("write", 11, "fail"), ("write", 0, "info"), ("write", 13, "info"), ("write", 1000, "info"),
]  # fmt: skip


@pytest.mark.parametrize(("f", "code", "type_"), ERRORS)
def test_errors_map_to_fail_or_info(f: str, code: int, type_: str) -> None:
    w = get_workload("lin-kv")
    value = {"read": [0, None], "write": [0, 1], "cas": [0, [1, 2]]}[f]
    got_type, got_value, error = w.complete(f, value, {"type": "error", "code": code, "text": "x"})
    assert got_type == type_
    assert got_value == value  # a failed or indefinite op keeps its invocation's value
    assert error["code"] == code


def test_only_reads_are_idempotent_so_a_timeout_is_fail_for_reads_and_info_otherwise() -> None:
    w = get_workload("lin-kv")
    assert w.is_idempotent("read")
    assert not w.is_idempotent("write")
    assert not w.is_idempotent("cas")


@pytest.mark.parametrize(
    ("f", "reply"),
    [("read", {"type": "read_ok"}), ("write", {"type": "read_ok"}), ("cas", {"type": "nope"})],
)
def test_malformed_replies_are_flagged(f: str, reply: dict[str, Any]) -> None:
    w = get_workload("lin-kv")
    value = {"read": [0, None], "write": [0, 1], "cas": [0, [1, 2]]}[f]
    type_, _, error = w.complete(f, value, reply)
    assert type_ == ("fail" if f == "read" else "info")
    assert error.startswith("malformed reply")


def test_invocations_are_seeded_and_cover_every_key_and_operation() -> None:
    w = get_workload("lin-kv", keys=4, values=3)
    ops = [w.invoke(random.Random(5), p) for p in range(3)]
    assert ops == [get_workload("lin-kv", keys=4, values=3).invoke(random.Random(5), p)
                   for p in range(3)]  # fmt: skip
    rng = random.Random(1)
    many = [w.invoke(rng, 0) for _ in range(600)]
    assert {f for f, _ in many} == {"read", "write", "cas"}
    assert {v[0] for _, v in many} == {0, 1, 2, 3}
    for f, (_key, arg) in many:
        if f == "read":
            assert arg is None
        elif f == "write":
            assert arg in range(3)
        else:
            assert len(arg) == 2
            assert set(arg) <= set(range(3))
    assert w.setup(NODES) == []
    assert w.final_ops(NODES) == []


def test_parameters_are_validated() -> None:
    assert "lin-kv" in WORKLOADS
    with pytest.raises(ValueError, match="keys must be an integer"):
        get_workload("lin-kv", keys=0)
    with pytest.raises(ValueError, match="values must be an integer"):
        get_workload("lin-kv", values="5")
    with pytest.raises(ValueError, match="check_time_limit_s"):
        get_workload("lin-kv", check_time_limit_s=0)
    with pytest.raises(ValueError, match="it takes keys, values, check_time_limit_s"):
        get_workload("lin-kv", topology="grid")


def history(*ops: tuple[str, int, str, Any, Any]) -> list[Op]:
    """Literal ops `(type, process, f, value, error)`, timed and indexed in order."""
    out = [Op(t, p, f, v, time=i, index=i, error=e) for i, (t, p, f, v, e) in enumerate(ops)]
    return out


ABSENT_ERROR = {"code": 20, "name": "key-does-not-exist", "text": "no such key"}

# A write of 1 acknowledged, then (strictly later) a read answered "key does not exist".
FORGOTTEN = history(
    ("invoke", 0, "write", [0, 1], None),
    ("ok", 0, "write", [0, 1], None),
    ("invoke", 1, "read", [0, None], None),
    ("fail", 1, "read", [0, None], ABSENT_ERROR),
)


def test_a_read_of_an_absent_key_after_an_acknowledged_write_is_invalid() -> None:
    res = lin_kv_linearizability(FORGOTTEN)
    assert res["valid"] is False
    assert res["failure"]["op"]["index"] == 2
    assert "absent" in res["failure"]["text"]
    w = get_workload("lin-kv")
    checked = w.check(FORGOTTEN, node_ids=NODES)
    assert checked["valid"] is False
    assert checked["results"]["linearizability"]["valid"] is False


def test_a_read_of_an_absent_key_before_any_write_is_valid() -> None:
    ok = history(
        ("invoke", 1, "read", [0, None], None),
        ("fail", 1, "read", [0, None], ABSENT_ERROR),
        ("invoke", 0, "write", [0, 1], None),
        ("ok", 0, "write", [0, 1], None),
        ("invoke", 1, "read", [0, None], None),
        ("ok", 1, "read", [0, 1], None),
    )
    res = lin_kv_linearizability(ok)
    assert res["valid"] is True
    assert res["op_count"] == 3  # the absent read counts: it was judged


def test_a_read_of_an_absent_key_concurrent_with_the_first_write_is_valid() -> None:
    ok = history(
        ("invoke", 0, "write", [0, 1], None),
        ("invoke", 1, "read", [0, None], None),
        ("ok", 0, "write", [0, 1], None),
        ("fail", 1, "read", [0, None], ABSENT_ERROR),
    )
    assert lin_kv_linearizability(ok)["valid"] is True


def test_an_info_write_may_never_happen_so_a_later_absent_read_is_valid() -> None:
    ok = history(
        ("invoke", 0, "write", [0, 1], None),
        ("info", 0, "write", [0, 1], "timeout"),
        ("invoke", 1, "read", [0, None], None),
        ("fail", 1, "read", [0, None], ABSENT_ERROR),
    )
    assert lin_kv_linearizability(ok)["valid"] is True


def test_other_failed_reads_and_failed_cas_constrain_nothing() -> None:
    ok = history(
        ("invoke", 0, "write", [0, 1], None),
        ("ok", 0, "write", [0, 1], None),
        ("invoke", 1, "read", [0, None], None),
        ("fail", 1, "read", [0, None], "timeout"),
        ("invoke", 2, "read", [0, None], None),
        ("fail", 2, "read", [0, None], {"code": 11, "text": "not leader"}),
        ("invoke", 1, "cas", [0, [1, 2]], None),
        ("fail", 1, "cas", [0, [1, 2]], {"code": 11, "text": "not leader"}),
        ("invoke", 1, "read", [0, None], None),
        ("ok", 1, "read", [0, 1], None),
    )
    assert lin_kv_linearizability(ok)["valid"] is True


def test_a_stale_read_from_another_node_is_invalid_and_a_cas_takes_effect() -> None:
    stale = history(
        ("invoke", 0, "write", [2, 3], None),
        ("ok", 0, "write", [2, 3], None),
        ("invoke", 1, "cas", [2, [3, 4]], None),
        ("ok", 1, "cas", [2, [3, 4]], None),
        ("invoke", 2, "read", [2, None], None),
        ("ok", 2, "read", [2, 3], None),
    )
    res = lin_kv_linearizability(stale)
    assert res["valid"] is False
    assert res["failed_keys"] == [2]
    fresh = [*stale[:4], stale[4], Op("ok", 2, "read", [2, 4], time=5, index=5)]
    assert lin_kv_linearizability(fresh)["valid"] is True


def test_keys_are_judged_apart() -> None:
    ok = history(
        ("invoke", 0, "write", [0, 1], None),
        ("ok", 0, "write", [0, 1], None),
        ("invoke", 1, "read", [1, None], None),
        ("fail", 1, "read", [1, None], ABSENT_ERROR),
    )
    res = lin_kv_linearizability(ok)
    assert res["valid"] is True
    assert res["key_count"] == 2


def test_a_node_replying_the_string_absent_is_not_taken_for_absence() -> None:
    bad = history(
        ("invoke", 0, "write", [0, 1], None),
        ("ok", 0, "write", [0, 1], None),
        ("invoke", 1, "read", [0, None], None),
        ("ok", 1, "read", [0, "absent"], None),
    )
    assert lin_kv_linearizability(bad)["valid"] is False
    assert str(ABSENT) == "absent"
    assert ABSENT != "absent"


def test_a_search_over_budget_is_unknown() -> None:
    w = get_workload("lin-kv", check_time_limit_s=1e-9)
    n = 14
    # Writes of 0..13 that all may or may not have happened, then reads in a scrambled order:
    # many orders of the writes to try, far more than a nanosecond's worth.
    ops = [Op("invoke", p, "write", [0, p]) for p in range(n)]
    ops += [Op("info", p, "write", [0, p], error="timeout") for p in range(n)]
    for p in range(n):
        ops += [Op("invoke", 100 + p, "read", [0, None]), Op("ok", 100 + p, "read", [0, p * 7 % n])]
    for i, op in enumerate(ops):
        op.index = op.time = i
    checked = w.check(ops, node_ids=NODES)
    res = checked["results"]["linearizability"]
    assert res["valid"] == "unknown"  # never True on a guess
    assert "time budget" in res["unknown"]["reason"]
    assert checked["valid"] == "unknown"


def test_nothing_to_judge_is_unknown() -> None:
    assert get_workload("lin-kv").check([], node_ids=NODES)["valid"] == "unknown"


def test_chaos_check_judges_a_lin_kv_run_directory_as_chaos_run_does(tmp_path: Path) -> None:
    from checker.cli import check_file
    from scenarios.judge import judge_run

    (tmp_path / "run.json").write_text(json.dumps({"workload": "lin-kv"}))
    (tmp_path / "history.jsonl").write_text(
        "".join(json.dumps(op.to_json()) + "\n" for op in FORGOTTEN)
    )
    options: dict[str, Any] = {"fmt": None, "init_text": None, "time_limit_s": 5.0}
    as_run = check_file(str(tmp_path), model_name=None, judge_run=judge_run, **options)
    assert as_run["valid"] is False
    assert as_run["valid"] == lin_kv_linearizability(FORGOTTEN)["valid"]
    # An explicit --model is plain Knossos kv: a failed read constrains nothing.
    assert check_file(str(tmp_path), model_name="kv", **options)["valid"] is True
