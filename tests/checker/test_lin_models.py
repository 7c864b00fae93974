"""Hand-written histories per model, valid and invalid, including `info` operations."""

from __future__ import annotations

from typing import Any

import pytest
from lin_helpers import fail, history, info, inv, ok

from checker.history import HistoryError
from checker.linearizability import check
from checker.models import ModelError, make


def verdict(ops: list, model: str, init: Any = None, semantics: str = "knossos") -> Any:
    return check(ops, make(model, init), semantics=semantics, time_limit_s=10)["valid"]


def test_register_sequential_read_of_last_write_is_valid() -> None:
    h = history(inv(0, "write", 1), ok(0, "write", 1), inv(1, "read"), ok(1, "read", 1))
    assert verdict(h, "register") is True


def test_register_stale_read_after_completed_write_is_invalid() -> None:
    h = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(0, "write", 2), ok(0, "write", 2),
        inv(1, "read"), ok(1, "read", 1),
    )  # fmt: skip
    assert verdict(h, "register") is False


def test_register_concurrent_read_may_see_either_value() -> None:
    for seen in (1, 2):
        h = history(
            inv(0, "write", 1), ok(0, "write", 1),
            inv(0, "write", 2), inv(1, "read"), ok(1, "read", seen), ok(0, "write", 2),
        )  # fmt: skip
        assert verdict(h, "register") is True


def test_register_init_parameter() -> None:
    h = history(inv(1, "read"), ok(1, "read", 5))
    assert verdict(h, "register", init=5) is True
    assert verdict(h, "register", init=4) is False


def test_knossos_read_of_nil_constrains_nothing_and_fail_did_not_happen() -> None:
    h = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(0, "write", 3), fail(0, "write", 3),
        inv(1, "read"), ok(1, "read", None),
        inv(1, "read"), ok(1, "read", 1),
    )  # fmt: skip
    assert verdict(h, "register") is True
    # ...whereas a read of the failed write's value is impossible.
    h[-1].value = 3
    assert verdict(h, "register") is False


def test_info_write_may_take_effect_after_its_completion() -> None:
    # p0's write of 2 timed out; a read long after it, and after a later write of 1
    # completed, sees 2: the info write took effect late.
    h = history(
        inv(0, "write", 2), info(0, "write", 2),
        inv(1, "write", 1), ok(1, "write", 1),
        inv(2, "read"), ok(2, "read", 2),
    )  # fmt: skip
    assert verdict(h, "register") is True


def test_info_write_may_never_take_effect() -> None:
    h = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(1, "write", 2), info(1, "write", 2),
        inv(2, "read"), ok(2, "read", 1),
        inv(2, "read"), ok(2, "read", 1),
    )  # fmt: skip
    assert verdict(h, "register") is True


def test_info_write_takes_effect_at_most_once() -> None:
    # 1 then 2 then 1 again needs the info write of 1 to happen twice.
    h = history(
        inv(0, "write", 1), info(0, "write", 1),
        inv(2, "read"), ok(2, "read", 1),
        inv(1, "write", 2), ok(1, "write", 2),
        inv(2, "read"), ok(2, "read", 1),
    )  # fmt: skip
    assert verdict(h, "register") is False


def test_invocation_without_completion_is_open_forever() -> None:
    h = history(inv(0, "write", 7), inv(1, "read"), ok(1, "read", None), inv(1, "read"))
    h.append(history(ok(1, "read", 7))[0])
    h[-1].index = h[-1].time = 4
    assert verdict(h, "register") is True


def test_info_cannot_explain_a_value_before_its_invocation() -> None:
    h = history(inv(2, "read"), ok(2, "read", 9), inv(0, "write", 9), info(0, "write", 9))
    assert verdict(h, "register") is False


def test_cas_register() -> None:
    good = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(1, "cas", [1, 2]), ok(1, "cas", [1, 2]),
        inv(0, "read"), ok(0, "read", 2),
    )  # fmt: skip
    assert verdict(good, "cas-register") is True
    bad = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(1, "cas", [3, 2]), ok(1, "cas", [3, 2]),
    )  # fmt: skip
    assert verdict(bad, "cas-register") is False


def test_failed_cas_is_an_observation_only_under_porcupine_semantics() -> None:
    h = history(
        inv(0, "write", 1), ok(0, "write", 1),
        inv(1, "cas", [1, 2]), fail(1, "cas", [1, 2]),
    )  # fmt: skip
    assert verdict(h, "cas-register") is True  # knossos: the fail did not happen
    assert verdict(h, "cas-register", semantics="porcupine") is False  # but the value was 1


def test_register_model_rejects_cas_with_a_hint() -> None:
    h = history(inv(1, "cas", [1, 2]), ok(1, "cas", [1, 2]))
    with pytest.raises(HistoryError, match="cas-register"):
        check(h, make("register"))


def test_kv_is_checked_per_key_and_names_the_failing_key() -> None:
    h = history(
        inv(0, "write", ["a", 1]), ok(0, "write", ["a", 1]),
        inv(1, "write", ["b", 2]), ok(1, "write", ["b", 2]),
        inv(0, "read", ["a", None]), ok(0, "read", ["a", 1]),
        inv(1, "read", ["b", None]), ok(1, "read", ["b", 1]),
    )  # fmt: skip
    res = check(h, make("kv"))
    assert res["valid"] is False
    assert res["key_count"] == 2
    assert res["failed_keys"] == ["b"]
    h[-1].value = ["b", 2]
    assert verdict(h, "kv") is True


def test_kv_cas_and_append() -> None:
    h = history(
        inv(0, "cas", ["k", [None, 1]]), ok(0, "cas", ["k", [None, 1]]),
        inv(0, "read", ["k", None]), ok(0, "read", ["k", 1]),
    )  # fmt: skip
    assert verdict(h, "kv") is True
    appends = history(
        inv(0, "append", ["k", "x"]), inv(1, "append", ["k", "y"]),
        ok(0, "append", ["k", "x"]), ok(1, "append", ["k", "y"]),
        inv(2, "get", ["k", None]), ok(2, "get", ["k", "yx"]),
    )  # fmt: skip
    assert verdict(appends, "kv", init="") is True
    appends[-1].value = ["k", "xxy"]
    assert verdict(appends, "kv", init="") is False


def test_kv_value_must_be_a_key_value_pair() -> None:
    with pytest.raises(HistoryError, match=r"\[key, value\]"):
        check(history(inv(0, "write", 3), ok(0, "write", 3)), make("kv"))


def test_mutex() -> None:
    good = history(
        inv(0, "acquire"), ok(0, "acquire"), inv(0, "release"), ok(0, "release"),
        inv(1, "acquire"), ok(1, "acquire"),
    )  # fmt: skip
    assert verdict(good, "mutex") is True
    bad = history(inv(0, "acquire"), ok(0, "acquire"), inv(1, "acquire"), ok(1, "acquire"))
    assert verdict(bad, "mutex") is False
    # An info release may have freed the lock.
    late = history(
        inv(0, "acquire"), ok(0, "acquire"), inv(0, "release"), info(0, "release"),
        inv(1, "acquire"), ok(1, "acquire"),
    )  # fmt: skip
    assert verdict(late, "mutex") is True


def test_fifo_queue() -> None:
    good = history(
        inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(0, "enqueue", 2), ok(0, "enqueue", 2),
        inv(1, "dequeue"), ok(1, "dequeue", 1),
    )  # fmt: skip
    assert verdict(good, "fifo-queue") is True
    good[-1].value = 2
    assert verdict(good, "fifo-queue") is False
    # An info dequeue may have removed the head; a later dequeue may then see the second.
    late = history(
        inv(0, "enqueue", 1), ok(0, "enqueue", 1), inv(0, "enqueue", 2), ok(0, "enqueue", 2),
        inv(2, "dequeue"), info(2, "dequeue"), inv(1, "dequeue"), ok(1, "dequeue", 2),
    )  # fmt: skip
    assert verdict(late, "fifo-queue") is True


def test_set() -> None:
    good = history(
        inv(0, "add", 1), ok(0, "add", 1), inv(1, "add", 2),
        inv(0, "read"), ok(0, "read", [1]), ok(1, "add", 2),
        inv(0, "read"), ok(0, "read", [2, 1]),
    )  # fmt: skip
    assert verdict(good, "set") is True
    good[-1].value = [2]
    assert verdict(good, "set") is False


def test_nothing_to_judge_is_unknown() -> None:
    assert verdict([], "register") == "unknown"
    only_failures = history(inv(0, "write", 1), fail(0, "write", 1))
    assert verdict(only_failures, "register") == "unknown"


def test_unknown_model_name_says_which_exist() -> None:
    with pytest.raises(ModelError, match="cas-register"):
        make("linearizable-thing")


def test_malformed_history_names_the_operation() -> None:
    h = history(inv(0, "write", 1), inv(0, "write", 2))
    with pytest.raises(HistoryError, match="invoked again"):
        check(h, make("register"))


def test_completion_must_repeat_the_invocations_f() -> None:
    h = history(inv(0, "write", 1), ok(0, "read", 1))
    with pytest.raises(HistoryError, match=r"invoked 'write' .* but completed 'read'"):
        check(h, make("register"))


def test_model_may_be_given_by_name() -> None:
    h = history(
        inv(0, "write", ["k", 1]), ok(0, "write", ["k", 1]),
        inv(1, "read", ["k", None]), ok(1, "read", ["k", 1]),
    )  # fmt: skip
    res = check(h, "kv")
    assert (res["valid"], res["model"]) == (True, "kv")
    h[-1].value = ["k", 2]
    assert check(h, "kv")["valid"] is False
