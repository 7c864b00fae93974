"""The stall guard: a history in which the harness stalled is unknown, naming the stall."""

from __future__ import annotations

import pytest

from checker.history import Op
from checker.result import brief
from checker.stalls import stalls


def _op(index: int, type_: str, f: str, value: object, time_s: float, **extra: object) -> Op:
    return Op(type=type_, process="nemesis", f=f, value=value, index=index,
              time=round(time_s * 1e9), extra=dict(extra))


def _client(index: int, type_: str, time_s: float) -> Op:
    return Op(type=type_, process=0, f="read", index=index, time=round(time_s * 1e9))


STALL = {"slip_s": 2.9, "slept_s": 3.0, "threshold_s": 1.0}
PARTITION = {"shape": "halves", "grudge": {"n1": ["n2"], "n2": ["n1"]}}


def _steps(*, late_s: float, previous_end_s: float = 1.001) -> list[Op]:
    """A heal planned at 4 s after a partition at 1 s, begun `late_s` late."""
    return [
        _op(0, "invoke", "partition", PARTITION, 1.0, planned_at_s=1.0, late_s=0.0),
        _op(1, "ok", "partition", PARTITION, previous_end_s),
        _op(2, "invoke", "heal", None, 4.0 + late_s, planned_at_s=4.0, late_s=late_s),
        _op(3, "ok", "heal", None, 4.0 + late_s + 0.001),
    ]


@pytest.mark.parametrize(
    ("ops", "valid", "reason"),
    [
        ([_client(0, "invoke", 1.0), _client(1, "ok", 1.1)], True, None),
        (_steps(late_s=0.002), True, None),
        ([_op(0, "invoke", "stall", STALL, 5.0), _op(1, "ok", "stall", STALL, 5.0)], "unknown",
         "the harness stalled for 3.00 s until 5.000 s (op 0): faults and timeouts around it "
         "did not run as planned, so the run proves nothing (rerun on a less loaded machine)"),
        (_steps(late_s=2.5), "unknown",
         "nemesis step heal (op 2) began 2.50 s after it was due, at 6.500 s"),
        (_steps(late_s=2.5, previous_end_s=6.4), True, None),  # waited for a slow partition
    ],
    ids=["no-nemesis", "steps-on-time", "stall-recorded", "step-late", "step-after-overrun"],
)
def test_stalls(ops: list[Op], valid: object, reason: str | None) -> None:
    res = stalls(ops)
    assert res["valid"] == valid
    if reason is None:
        assert "reason" not in res
    else:
        assert res["reason"].startswith(reason)


def test_a_step_late_because_the_previous_one_overran_is_reported_not_judged() -> None:
    res = stalls(_steps(late_s=2.5, previous_end_s=5.9))
    assert res["valid"] is True
    assert [(s["f"], s["late_s"], s["slip_s"]) for s in res["overrun_steps"]] == [
        ("heal", 2.5, 0.6)]
    assert stalls(_steps(late_s=2.5, previous_end_s=5.4))["valid"] == "unknown"  # 1.1 s slip


def test_the_threshold_is_the_callers() -> None:
    assert stalls(_steps(late_s=0.6))["valid"] is True
    assert stalls(_steps(late_s=0.6), threshold_s=0.5)["valid"] == "unknown"


def test_the_headline_counts_stalls_and_late_steps() -> None:
    ops = [_op(0, "invoke", "stall", STALL, 5.0), _op(1, "ok", "stall", STALL, 5.0),
           *[_op(i + 2, op.type, op.f, op.value, op.time / 1e9, **op.extra)
             for i, op in enumerate(_steps(late_s=3.0))]]
    res = stalls(ops)
    assert brief(res).startswith("stall_count=1 late_step_count=1 reason=the harness stalled")
    assert res["reason"].startswith("the harness stalled for 3.00 s until 5.000 s (op 0): ")
