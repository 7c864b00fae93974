"""The fault guard: a fault that changed nothing makes the run unknown, never valid."""

from __future__ import annotations

import pytest

from checker.fault_guard import faults_effective
from checker.history import Op
from checker.result import brief


def _nemesis(f: str, value: object = None, *, ok: bool = True) -> list[Op]:
    return [
        Op(type="invoke", process="nemesis", f=f, value=value),
        Op(type="ok" if ok else "info", process="nemesis", f=f, value=value),
    ]


PARTITION = {"shape": "halves", "grudge": {"n1": ["n2"], "n2": ["n1"]}}
LOSSY = {"faults": [{"src": "*", "dest": "*", "drop_probability": 0.3}]}


@pytest.mark.parametrize(
    ("ops", "stats", "valid"),
    [
        (_nemesis("partition", PARTITION) + _nemesis("heal"), {"partitioned": 12}, True),
        (_nemesis("partition", PARTITION) + _nemesis("heal"), {"partitioned": 0}, "unknown"),
        (_nemesis("partition", PARTITION, ok=False), {"partitioned": 5}, "unknown"),
        (_nemesis("link", LOSSY) + _nemesis("heal"), {"dropped": 3}, True),
        (_nemesis("link", LOSSY) + _nemesis("heal"), {"dropped": 0}, "unknown"),
        (_nemesis("kill", {"nodes": ["n1"]}) + _nemesis("restart", {"nodes": ["n1"]}), {}, True),
    ],
    ids=["partition-cost-messages", "partition-cost-nothing", "fault-not-applied",
         "lossy-link-dropped", "lossy-link-dropped-nothing", "process-faults"],
)
def test_faults_effective(ops: list[Op], stats: dict[str, int], valid: object) -> None:
    res = faults_effective(ops, stats)
    assert res["valid"] == valid
    if valid == "unknown":
        assert res["reason"]


def test_fault_guard_headline_is_the_reason() -> None:
    res = faults_effective(_nemesis("partition", PARTITION), {"partitioned": 0})
    assert brief(res).startswith("reason=partitions were applied but no message was lost")
    assert brief(faults_effective(_nemesis("partition", PARTITION), {"partitioned": 3})) == ""


# -- each fault window judged on its own ---------------------------------------------------------
# Literal histories as the nemesis records them: the operation that ends a network fault (its
# heal, a fault replacing it, the final heal) lists the windows it closed, with the messages
# each cost. The whole-run counters below would pass every one of them.

WHOLE_RUN = {"partitioned": 500, "dropped": 500}


def _op(index: int, type_: str, f: str, value: object, time_s: float, **extra: object) -> Op:
    return Op(type=type_, process="nemesis", f=f, value=value, index=index,
              time=round(time_s * 1e9), extra=dict(extra))


def _window(fault_index: int, f: str, start_s: float, end_s: float, *, partitioned: int = 0,
            dropped: int = 0, received: int = 50, label: str = "") -> dict[str, object]:
    return {"fault_index": fault_index, "f": f, "label": label, "start_ns": round(start_s * 1e9),
            "end_ns": round(end_s * 1e9), "received": received, "partitioned": partitioned,
            "dropped": dropped}


def _two_partitions(second_cost: int) -> list[Op]:
    """Issue 7: a stall, then a bridge partition that lasted 2 ms."""
    bridge = {"shape": "bridge", "grudge": {"n1": ["n2"], "n2": ["n1"]}}
    return [
        _op(0, "invoke", "partition", PARTITION, 2.0),
        _op(1, "ok", "partition", PARTITION, 2.001),
        _op(2, "invoke", "heal", None, 5.0),
        _op(3, "ok", "heal", None, 5.001,
            windows=[_window(1, "partition", 2.001, 5.0, partitioned=40)]),
        _op(4, "invoke", "partition", bridge, 12.0),
        _op(5, "ok", "partition", bridge, 12.0005),
        _op(6, "invoke", "heal", None, 12.0025),
        _op(7, "ok", "heal", None, 12.003,
            windows=[_window(5, "partition", 12.0005, 12.0025, partitioned=second_cost,
                             received=1)]),
        _op(8, "invoke", "heal", {"final": True}, 20.0),
        _op(9, "ok", "heal", {"final": True}, 20.001),
    ]


def test_a_partition_window_that_cost_nothing_is_unknown_and_named() -> None:
    res = faults_effective(_two_partitions(0), WHOLE_RUN)
    assert res["valid"] == "unknown"
    assert res["reason"] == (
        "fault window 2 (partition bridge, op 5, 12.001-12.002 s, 0.002 s long) lost no message "
        "to the partition (1 message reached the network meanwhile); the run tested nothing "
        "about it (raise the rate or the fault's length)")
    assert res["windows_judged"] == 2
    assert [w["fault_index"] for w in res["vacuous_windows"]] == [5]


def test_every_window_that_cost_messages_is_valid() -> None:
    res = faults_effective(_two_partitions(1), {"partitioned": 0, "dropped": 0})
    assert res["valid"] is True  # the windows speak, not the run's totals
    assert res["windows_judged"] == 2


def test_a_lossy_link_window_that_dropped_nothing_is_unknown() -> None:
    ops = [
        _op(0, "invoke", "link", LOSSY, 1.0),
        _op(1, "ok", "link", LOSSY, 1.0),
        _op(2, "invoke", "partition", PARTITION, 3.0),
        _op(3, "ok", "partition", PARTITION, 3.0),
        _op(4, "invoke", "heal", {"final": True}, 6.0),
        _op(5, "ok", "heal", {"final": True}, 6.0, windows=[
            _window(3, "partition", 3.0, 6.0, partitioned=9),
            _window(1, "link", 1.0, 6.0, partitioned=9, label="drop 0.3")]),
    ]
    res = faults_effective(ops, WHOLE_RUN)
    assert res["valid"] == "unknown"
    assert res["reason"].startswith("fault window 1 (lossy link drop 0.3, op 1, 1.000-6.000 s, "
                                    "5 s long) dropped nothing")


def test_several_vacuous_windows_are_counted() -> None:
    ops = _two_partitions(0)
    ops[3].extra["windows"][0]["partitioned"] = 0
    res = faults_effective(ops, WHOLE_RUN)
    assert res["vacuous_window_count"] == 2
    assert res["reason"].startswith("fault window 1 (partition halves, op 1, 2.001-5.000 s, ")
    assert "(and 1 more such windows)" in res["reason"]


def test_a_window_not_recorded_falls_back_to_the_whole_run() -> None:
    """An old run, or an imported history: no windows, so the run's totals judge it."""
    ops = _two_partitions(5)
    del ops[7].extra["windows"]
    assert faults_effective(ops, {"partitioned": 3})["valid"] is True
    res = faults_effective(ops, {"partitioned": 0})
    assert res["valid"] == "unknown"
    assert res["reason"].startswith("partitions were applied but no message was lost")
    assert res["windows_judged"] == 1


def test_stall_records_are_not_faults() -> None:
    stall = {"slip_s": 3.0, "slept_s": 3.1, "threshold_s": 1.0}
    ops = [_op(0, "invoke", "stall", stall, 4.0), _op(1, "ok", "stall", stall, 4.0)]
    res = faults_effective(ops, {})
    assert res["valid"] is True
    assert (res["applied"], res["kinds"]) == (0, [])


def _failed(f: str, value: object) -> list[Op]:
    return [Op(type="invoke", process="nemesis", f=f, value=value),
            Op(type="fail", process="nemesis", f=f, value=value, error="no leader found")]


def test_a_kind_of_fault_that_failed_every_time_is_vacuous() -> None:
    leader = {"target": "leader"}
    every_kill_failed = _failed("kill", leader) + _failed("kill", leader)
    r = faults_effective(every_kill_failed, {})
    assert r["valid"] == "unknown" and "every kill of the run failed" in r["reason"]
    one_of_two_failed = _failed("kill", leader) + _nemesis("kill", {"nodes": ["n2"]}) + \
        _nemesis("restart", {"nodes": ["n2"]})
    assert faults_effective(one_of_two_failed, {})["valid"] is True
