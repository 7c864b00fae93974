"""The LWW-register checker: convergence, the greatest stamp wins, and what clock skew cost.

    lww(history)    # write (value: v; ok value: [v, ts]), read (ok value: [v, ts] or [null, null])

A last-writer-wins register keeps the write with the greatest `(ts, node)`: the timestamp its
node gave it, then the writing node's id (plain string order) as the tie-break. Values written
are unique (the workload writes each integer once), so a value read names its write; `node` is
the node that served the write (the op's `node`). A `ts` is a JSON number or an array of
numbers, compared lexicographically (our service's hybrid logical clock stamps `[wall_ms,
counter]`); its first number is the writer's wall clock in milliseconds, from which skew is
reported.

Judged, in history order (real time):
- **Unexpected**: a read of a value that no `ok`, `info` or pending write of it had been
  invoked before the read completed. (A read of the empty register, `[null, null]`, is judged
  in final reads only, below: before them a node may not have heard of any write yet.)
- **Stamp mismatch**: a read that reports a stamp for an acknowledged write's value other than
  the stamp its `write_ok` reported, or two reads reporting different stamps for one value.
- **Stamps go backwards** (`monotonic=True`, our service's contract): a node acknowledged a
  write stamped at or below a stamp it had already reported (in a `write_ok` or `read_ok`
  completed before the write was invoked). A node that stamps below what it has shown loses a
  write that causally follows the one it saw; a hybrid logical clock never does.
- **Convergence**: every ok final read (`"final": true`, after the heal) returns the same
  value and stamp. This assumes no write was invoked after the first final read was invoked,
  as in our runs; otherwise it is not judged and `convergence` says why.
- **Final value**: the final reads' value is the `ok` write with the greatest `(ts, node)`
  (the *winner*), or an indefinite write (`info`, never completed) whose `(ts, node)`, as the
  read reports its stamp, is greater still; nothing (`null`) only when no write was
  acknowledged.

Reported, not judged: **writes lost to clock skew**. LWW legitimately discards a write whose
stamp is smaller, even one made later: that is its weakness, and exactly what skewed clocks
cause. A write is lost to skew when it was acknowledged, invoked after the final value's write
had been acknowledged (later in real time, not merely concurrent), and still stamped below it;
its `skew_ms` is the final write's first stamp number less its own. When the final write is
indefinite its real time is unknown and nothing is reported.

Valid is false on an unexpected value, a stamp mismatch, a backward stamp, divergent final
reads or a wrong final value; unknown when no read succeeded or no final read did (the final
value and convergence could not be judged); true otherwise. Lists are bounded by `LIST_LIMIT`;
counts are exact. A write is named by the index of its invocation, a read by its completion's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from checker.history import HistoryError, Op
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("problem_count", "first_problem", "skew_lost_count", "skew_ms_max")
_NEVER = 1 << 62  # the completion position of an operation that never completed

Stamp = tuple[float, ...]


class _Write:
    __slots__ = ("complete_pos", "index", "invoke_pos", "node", "shown_before", "ts", "type",
                 "value")

    def __init__(self, invoke_pos: int, inv: Op, shown_before: Stamp | None) -> None:
        self.invoke_pos = invoke_pos
        self.complete_pos = _NEVER
        self.index = inv.index
        self.node = inv.node
        self.value = inv.value
        self.type = "info"  # until it completes: never completing is indefinite
        self.ts: Stamp | None = None  # from its write_ok, or else from a read of its value
        self.shown_before = shown_before  # the greatest stamp its node had reported

    def key(self) -> tuple[Stamp, str]:
        assert self.ts is not None
        return self.ts, self.node or ""


class _Read:
    __slots__ = ("complete_pos", "final", "index", "invoke_pos", "node", "ts", "value")

    def __init__(self, invoke_pos: int, complete_pos: int, inv: Op, op: Op) -> None:
        self.invoke_pos = invoke_pos
        self.complete_pos = complete_pos
        self.index = op.index
        self.node = inv.node if inv.node is not None else op.node
        self.final = _final(inv) or _final(op)
        self.value, self.ts = _pair(op, "read")


def _final(op: Op) -> bool:
    return bool(op.extra.get("final") or op.extra.get("final?"))


def _stamp(ts: Any, op: Op) -> Stamp | None:
    if ts is None:
        return None
    if isinstance(ts, bool):
        raise HistoryError(f"operation {op.index}: ts must be a number or an array of numbers")
    if isinstance(ts, int | float):
        return (ts,)
    if (isinstance(ts, list | tuple) and ts
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in ts)):
        return tuple(ts)
    raise HistoryError(f"operation {op.index}: ts must be a number or an array of numbers, "
                       f"not {ts!r}")


def _pair(op: Op, what: str) -> tuple[Any, Stamp | None]:
    """An ok completion's `[value, ts]`."""
    if not isinstance(op.value, list | tuple) or len(op.value) != 2:
        raise HistoryError(f"operation {op.index}: an ok {what} is recorded as [value, ts], "
                           f"not {op.value!r}")
    return op.value[0], _stamp(op.value[1], op)


def _vkey(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def lww(
    history: Sequence[Op],
    *,
    write_f: str = "write",
    read_f: str = "read",
    monotonic: bool = True,
) -> dict[str, Any]:
    """Judge an LWW-register history; see the module docstring for every rule."""
    writes: list[_Write] = []
    by_value: dict[str, list[_Write]] = {}
    reads: list[_Read] = []
    shown: dict[Any, Stamp] = {}  # node -> the greatest stamp it has reported so far
    problems: list[dict[str, Any]] = []
    open_: dict[Any, tuple[int, Op, _Write | None]] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            if op.process in open_:
                raise HistoryError(f"operation {op.index}: process {op.process!r} invoked again "
                                   f"while operation {open_[op.process][1].index} is still open")
            write = None
            if op.f == write_f:
                write = _Write(pos, op, shown.get(op.node))
                writes.append(write)
                by_value.setdefault(_vkey(op.value), []).append(write)
            open_[op.process] = (pos, op, write)
            continue
        if op.process not in open_:
            raise HistoryError(f"operation {op.index}: process {op.process!r} completed "
                               f"({op.type}) with no open invocation")
        invoke_pos, inv, write = open_.pop(op.process)
        reported: Stamp | None = None
        if write is not None:
            write.type = op.type
            write.complete_pos = pos
            if op.type == "ok":
                _, write.ts = _pair(op, "write")
                reported = write.ts
                if monotonic:
                    problems.extend(_backwards(write))
        elif inv.f == read_f and op.type == "ok":
            r = _Read(invoke_pos, pos, inv, op)
            reads.append(r)
            reported = r.ts
        node = inv.node if inv.node is not None else op.node
        if reported is not None and node is not None and reported > shown.get(node, ()):
            shown[node] = reported

    for r in reads:
        problems.extend(_read_problems(r, by_value))
    finals = [r for r in reads if r.final]
    convergence, divergent = _convergence(writes, finals)
    winner = max((w for w in writes if w.type == "ok" and w.ts is not None),
                 key=_Write.key, default=None)
    final_write = None
    if finals and not divergent:
        final_write, wrong = _final_value(finals[0], winner, by_value)
        problems.extend(wrong)
    skew_lost = _skew_lost(writes, final_write)

    valid: Validity
    reason = None
    if problems or divergent:
        valid = False
    elif not reads:
        valid, reason = UNKNOWN, "nothing to judge: no read succeeded"
    elif not finals:
        valid, reason = UNKNOWN, "no final read succeeded: convergence and the final value " \
                                 "not judged"
    else:
        valid = True
    problems.sort(key=lambda p: p["index"])
    extra = {} if reason is None else {"reason": reason}
    return result(
        "lww-register",
        valid,
        headline=HEADLINE,
        write_count=len(writes),
        write_ok_count=sum(1 for w in writes if w.type == "ok"),
        read_count=len(reads),
        final_read_count=len(finals),
        problem_count=len(problems),
        problems=problems[:LIST_LIMIT],
        first_problem=problems[0]["text"] if problems else None,
        convergence=convergence,
        divergent_final_reads=divergent,
        final_reads=[{"node": r.node, "index": r.index, "value": r.value,
                      "ts": None if r.ts is None else list(r.ts)} for r in finals[:LIST_LIMIT]],
        winner=None if winner is None else _describe(winner),
        final_write=None if final_write is None else _describe(final_write),
        skew_lost_count=len(skew_lost),
        skew_lost=skew_lost[:LIST_LIMIT],
        skew_ms_max=max((s["skew_ms"] for s in skew_lost), default=None),
        **extra,
    )


def _describe(w: _Write) -> dict[str, Any]:
    return {"index": w.index, "node": w.node, "value": w.value, "type": w.type,
            "ts": None if w.ts is None else list(w.ts)}


def _problem(index: int, node: Any, kind: str, text: str) -> dict[str, Any]:
    where = f" at {node}" if node is not None else ""
    return {"index": index, "node": node, "kind": kind, "text": f"operation {index}{where}: {text}"}


def _backwards(w: _Write) -> list[dict[str, Any]]:
    if w.ts is None or w.shown_before is None or w.ts > w.shown_before:
        return []
    return [_problem(w.index, w.node, "stamp went backwards",
                     f"write of {w.value!r} stamped {list(w.ts)}, not above {list(w.shown_before)}"
                     " which its node had already reported")]


def _read_problems(r: _Read, by_value: dict[str, list[_Write]]) -> list[dict[str, Any]]:
    if r.value is None and r.ts is None:
        return []  # the empty register: judged in final reads only
    candidates = [w for w in by_value.get(_vkey(r.value), ())
                  if w.type != "fail" and w.invoke_pos < r.complete_pos]
    if not candidates:
        return [_problem(r.index, r.node, "unexpected",
                         f"read {r.value!r}, which no write that could have happened wrote")]
    stamps = {w.ts for w in candidates if w.ts is not None}
    if stamps and r.ts not in stamps:
        shown = ", ".join(str(list(s)) for s in sorted(stamps))
        return [_problem(r.index, r.node, "stamp mismatch",
                         f"read {r.value!r} stamped {None if r.ts is None else list(r.ts)}, but "
                         f"its write was acknowledged with {shown}")]
    for w in candidates:
        if w.ts is None:
            w.ts = r.ts  # an indefinite write's stamp, as the first read of it reports it
    return []


def _convergence(writes: list[_Write], finals: list[_Read]) -> tuple[str, int]:
    if len(finals) < 2:
        return "not judged: fewer than two final reads", 0
    first_invoke = min(r.invoke_pos for r in finals)
    during = sum(1 for w in writes if w.invoke_pos > first_invoke)
    if during:
        return f"not judged: {during} write(s) ran during the final reads", 0
    counts: dict[str, int] = {}
    for r in finals:
        key = _vkey([r.value, None if r.ts is None else list(r.ts)])
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return "agree", 0
    return "disagree", len(finals) - max(counts.values())


def _final_value(
    final: _Read, winner: _Write | None, by_value: dict[str, list[_Write]]
) -> tuple[_Write | None, list[dict[str, Any]]]:
    """The write the (agreeing) final reads hold, and what is wrong with it (module doc)."""
    if final.value is None and final.ts is None:
        if winner is None:
            return None, []
        return None, [_problem(final.index, final.node, "wrong final value",
                               f"the register is empty, but {_named(winner)} was acknowledged")]
    writes = [w for w in by_value.get(_vkey(final.value), ()) if w.type != "fail"]
    if not writes:
        return None, []  # unexpected: reported with the read's problems
    held = writes[0]
    if winner is None or held is winner or (held.type != "ok" and held.ts is not None
                                            and held.key() > winner.key()):
        return held, []
    return held, [_problem(final.index, final.node, "wrong final value",
                           f"the final value is {_named(held)}, but {_named(winner)} has the "
                           "greater (ts, node)")]


def _named(w: _Write) -> str:
    ts = "unknown" if w.ts is None else list(w.ts)
    return f"the write of {w.value!r} (operation {w.index}, ts {ts}, node {w.node})"


def _skew_lost(writes: list[_Write], final: _Write | None) -> list[dict[str, Any]]:
    """Acknowledged writes invoked after the final write was acknowledged, yet stamped below
    it (module docstring)."""
    if final is None or final.type != "ok" or final.ts is None:
        return []
    lost = []
    for w in writes:
        if (w.type == "ok" and w.ts is not None and w.invoke_pos > final.complete_pos
                and w.key() < final.key()):
            lost.append({"index": w.index, "node": w.node, "value": w.value, "ts": list(w.ts),
                         "skew_ms": final.ts[0] - w.ts[0]})
    return lost
