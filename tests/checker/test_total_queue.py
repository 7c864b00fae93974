"""Queue histories as Jepsen writes them: `--model total-queue` (checker.total_queue) and
`--model fifo-queue` (linearizability against checker/models/fifo_queue.py).

Each case is a small literal history, EDN op maps or elle-cli's JSON array, good and bad, with
the exit code the command must give (0 valid, 1 invalid, 3 unknown, 2 usage error) and what
the checker reports. The definitions (lost, unexpected, duplicated, recovered) are Jepsen's
`jepsen.checker/total-queue`; the unit tests below pin each of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rows import h, op

from checker.cli import check
from checker.history import HistoryError
from checker.total_queue import total_queue

# Two producers and a consumer; the queue empty at the end (a failed dequeue: Jepsen's clients
# record an empty queue so); a nemesis operation in between.
QUEUE_OK_EDN = """[
{:type :invoke, :f :enqueue, :value 1, :process 0, :time 1, :index 0}
{:type :ok, :f :enqueue, :value 1, :process 0, :time 2, :index 1}
{:type :invoke, :f :enqueue, :value 2, :process 1, :time 3, :index 2}
{:type :invoke, :f :dequeue, :value nil, :process 2, :time 4, :index 3}
{:type :ok, :f :enqueue, :value 2, :process 1, :time 5, :index 4}
{:type :ok, :f :dequeue, :value 1, :process 2, :time 6, :index 5}
{:type :invoke, :f :start, :value nil, :process :nemesis, :time 7, :index 6}
{:type :info, :f :start, :value :partitioned, :process :nemesis, :time 8, :index 7}
{:type :invoke, :f :dequeue, :value nil, :process 2, :time 9, :index 8}
{:type :ok, :f :dequeue, :value 2, :process 2, :time 10, :index 9}
{:type :invoke, :f :dequeue, :value nil, :process 2, :time 11, :index 10}
{:type :fail, :f :dequeue, :value nil, :process 2, :time 12, :index 11, :error :empty}
]"""

# 1 then 2 went in, one after the other; 2 came out first.
QUEUE_OUT_OF_ORDER_EDN = """[
{:type :invoke, :f :enqueue, :value 1, :process 0, :index 0}
{:type :ok, :f :enqueue, :value 1, :process 0, :index 1}
{:type :invoke, :f :enqueue, :value 2, :process 0, :index 2}
{:type :ok, :f :enqueue, :value 2, :process 0, :index 3}
{:type :invoke, :f :dequeue, :value nil, :process 1, :index 4}
{:type :ok, :f :dequeue, :value 2, :process 1, :index 5}
]"""

# 3 and 4 enqueued; 4's enqueue indefinite; a consumer took 1 (enqueued before), and the final
# drain took the rest, 4 included (recovered).
DRAINED_EDN = """[
{:type :invoke, :f :enqueue, :value 1, :process 0, :index 0}
{:type :ok, :f :enqueue, :value 1, :process 0, :index 1}
{:type :invoke, :f :enqueue, :value 3, :process 0, :index 2}
{:type :ok, :f :enqueue, :value 3, :process 0, :index 3}
{:type :invoke, :f :enqueue, :value 4, :process 1, :index 4}
{:type :info, :f :enqueue, :value 4, :process 1, :index 5}
{:type :invoke, :f :dequeue, :value nil, :process 2, :index 6}
{:type :ok, :f :dequeue, :value 1, :process 2, :index 7}
{:type :invoke, :f :drain, :value nil, :process 2, :index 8}
{:type :ok, :f :drain, :value [3 4], :process 2, :index 9}
]"""

# 2 was acknowledged; the drain did not find it.
DRAIN_LOST_EDN = """[
{:type :invoke, :f :enqueue, :value 1, :process 0, :index 0}
{:type :ok, :f :enqueue, :value 1, :process 0, :index 1}
{:type :invoke, :f :enqueue, :value 2, :process 0, :index 2}
{:type :ok, :f :enqueue, :value 2, :process 0, :index 3}
{:type :invoke, :f :drain, :value nil, :process 1, :index 4}
{:type :ok, :f :drain, :value [1], :process 1, :index 5}
]"""


def jepsen_json(rows: list[tuple[str, int, str, object]]) -> str:
    """elle-cli's JSON: one array of op objects, keys without colons."""
    return json.dumps([{"type": t, "process": p, "f": f, "value": v, "time": i, "index": i}
                       for i, (t, p, f, v) in enumerate(rows)])


# An indefinite dequeue may have taken 7; the next found the queue empty (an ok of nil).
INFO_DEQUEUE_JSON = jepsen_json([("invoke", 0, "enqueue", 7), ("ok", 0, "enqueue", 7),
                                 ("invoke", 1, "dequeue", None), ("info", 1, "dequeue", None),
                                 ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", None)])
UNEXPECTED_JSON = jepsen_json([("invoke", 0, "enqueue", 7), ("ok", 0, "enqueue", 7),
                               ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 7),
                               ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 9)])
DUPLICATED_JSON = jepsen_json([("invoke", 0, "enqueue", 7), ("ok", 0, "enqueue", 7),
                               ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 7),
                               ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", 7)])
NOTHING_JSON = jepsen_json([("invoke", 0, "enqueue", 7), ("fail", 0, "enqueue", 7),
                            ("invoke", 1, "dequeue", None), ("fail", 1, "dequeue", None)])

# (file name, text, model, exit code, what the checker reports)
CASES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("queue-ok.edn", QUEUE_OK_EDN, "fifo-queue", 0, {"op_count": 4}),  # the fail left out
    ("queue-ok.edn", QUEUE_OK_EDN, "total-queue", 0, {"lost_count": 0, "ok_count": 2}),
    ("out-of-order.edn", QUEUE_OUT_OF_ORDER_EDN, "fifo-queue", 1, {}),
    ("out-of-order.edn", QUEUE_OUT_OF_ORDER_EDN, "total-queue", 1, {"lost": [1]}),
    ("info-dequeue.json", INFO_DEQUEUE_JSON, "fifo-queue", 0, {}),
    ("info-dequeue.json", INFO_DEQUEUE_JSON, "total-queue", 1, {"lost": [7]}),
    ("unexpected.json", UNEXPECTED_JSON, "fifo-queue", 1, {}),
    ("unexpected.json", UNEXPECTED_JSON, "total-queue", 1,
     {"unexpected": [9], "unexpected_count": 1, "ok_count": 1}),
    ("duplicated.json", DUPLICATED_JSON, "fifo-queue", 1, {}),
    # Jepsen's total-queue reports duplicates but allows them (at-least-once delivery).
    ("duplicated.json", DUPLICATED_JSON, "total-queue", 0,
     {"duplicated": [7], "duplicated_count": 1}),
    ("drained.edn", DRAINED_EDN, "total-queue", 0,
     {"recovered": [4], "recovered_count": 1, "dequeued_count": 3}),
    ("drain-lost.edn", DRAIN_LOST_EDN, "total-queue", 1, {"lost": [2], "lost_count": 1}),
    ("nothing.json", NOTHING_JSON, "total-queue", 3, {}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "model", "code", "expect"), CASES,
                         ids=[f"{c[2]}-{c[0]}" for c in CASES])
def test_jepsen_queue_histories_are_judged(
    tmp_path: Path, name: str, text: str, model: str, code: int, expect: dict[str, Any]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    out = CliRunner().invoke(check, [str(path), "--model", model, "--json"])
    assert out.exit_code == code, out.output
    res = json.loads(out.output)["files"][str(path)]
    assert res["checker"] == ("linearizability" if model == "fifo-queue" else model)
    for key, value in expect.items():
        assert res[key] == value, (key, res)


def test_the_text_output_names_the_checker_and_what_was_lost(tmp_path: Path) -> None:
    path = tmp_path / "lost.edn"
    path.write_text(DRAIN_LOST_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "total-queue"])
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0] == f"INVALID {path} (total-queue: lost_count=1)"
    assert lines[1] == "  lost: [2]"


def test_a_drain_is_for_total_queue_and_an_indefinite_drain_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "drained.edn"
    path.write_text(DRAINED_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "fifo-queue"])
    assert out.exit_code == 2
    assert "judge a drained queue with --model total-queue" in out.output
    crashed = tmp_path / "crashed.edn"
    crashed.write_text(DRAINED_EDN.replace(":type :ok, :f :drain, :value [3 4]",
                                           ":type :info, :f :drain, :value nil"))
    out = CliRunner().invoke(check, [str(crashed), "--model", "total-queue"])
    assert out.exit_code == 2
    assert "operation 9: a drain that ended info cannot be judged" in out.output


# -- the definitions, one by one ----------------------------------------------------------------


def enq(p: int, v: Any, outcome: str = "ok") -> list:
    return op(p, "enqueue", v, v, outcome)


def deq(p: int, v: Any, outcome: str = "ok") -> list:
    return op(p, "dequeue", None, v, outcome)


def test_the_multisets_follow_jepsen() -> None:
    rows = [
        *enq(0, 1), *enq(0, 1),  # 1 twice, acknowledged twice, dequeued once: one copy lost
        *enq(0, 2, "info"),  # indefinite, dequeued: recovered
        *enq(0, 3, "fail"),  # attempted (even if failed), dequeued twice: one duplicated
        *enq(0, 4),  # acknowledged, dequeued: ok
        *deq(1, 1), *deq(1, 2), *deq(1, 3), *deq(1, 3), *deq(1, 4), *deq(1, 5),  # 5: unexpected
        *deq(1, None),  # an empty queue took nothing
        *deq(1, 4, "fail"),  # a failed dequeue took nothing
    ]
    res = total_queue(h(*rows))
    assert res["valid"] is False
    assert (res["attempt_count"], res["acknowledged_count"], res["dequeued_count"]) == (5, 3, 6)
    assert (res["ok_count"], res["lost"], res["lost_count"]) == (4, [1], 1)
    assert (res["unexpected"], res["duplicated"], res["recovered"]) == ([5], [3], [2, 3])
    assert res["recovered_count"] == 2  # 2 (info) and 3 (failed, yet dequeued): not acked
    # the operations that show them: the acknowledged enqueues of 1, the dequeue of 5
    assert [o["index"] for o in res["lost_ops"]] == [1, 3]
    assert [o["index"] for o in res["unexpected_ops"]] == [21]


def test_values_may_be_any_json_and_lists_are_bounded() -> None:
    rows = [*enq(0, [1, "a"]), *deq(1, [1, "a"]), *enq(0, {"x": 1}), *deq(1, {"x": 1})]
    assert total_queue(h(*rows))["valid"] is True
    many = [row for v in range(30) for row in enq(0, v)]
    res = total_queue(h(*many, *deq(1, 0)))
    assert res["lost_count"] == 29
    assert len(res["lost"]) == 20


def test_a_drain_value_must_be_a_list() -> None:
    with pytest.raises(HistoryError, match="operation 1: an ok drain's value must be the list"):
        total_queue(h(*op(0, "drain", None, 3)))


def test_nothing_to_judge_is_unknown() -> None:
    assert total_queue([])["valid"] == "unknown"
    assert total_queue(h(*enq(0, 1, "info")))["valid"] == "unknown"
