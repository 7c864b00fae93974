"""Jepsen's and Maelstrom's kafka histories, judged by `checker.kafka`.

    from checker.kafka_jepsen import kafka_jepsen, translate
    kafka_jepsen(history)   # -> checker.kafka.kafka(translate(history))

Maelstrom's `kafka` workload (jepsen-io/maelstrom, src/maelstrom/workload/kafka.clj) runs
`jepsen.tests.kafka` (jepsen-io/jepsen, jepsen/src/jepsen/tests/kafka.clj) with `:txn? false`,
`:sub-via #{:assign}` and `:crash-clients? true`, and records its operations as micro-operation
vectors, keys as strings (integers are read as their decimal strings too):

    send    invoke [[:send "6" 1]]            ok [[:send "6" [12 1]]]  (offset 12, message 1)
                                              fail/info: the invocation's value
    poll    invoke [[:poll]]                  ok [[:poll {"6" [[12 1] [13 5]], "7" [...]}]]
    assign  invoke ["6" "7"]                  ok/info: the same (maybe `:seek-to-beginning?
                                              true`)
    crash   invoke nil                        info: the client is torn down (and the process
                                              continues as a new one, as after any info)

`translate` rewrites them into the form `checker.kafka` documents and judges as
`jepsen.tests.kafka/analysis` does: a send `[k, msg]`, ok `[k, [offset, msg]]`; a poll's
invocation value nil (it does not say where it began: the client tracks its own offsets), ok
`{k: [[offset, msg], ...]}`; an assign its list of keys. Everything else (crash, Jepsen's
`debug-topic-partitions`, the nemesis) passes through untouched, and `checker.kafka` leaves it
alone. Indexes, times and processes are kept, so the anomalies quote the history's own
operations.

## What assign means
A poll that does not say where it began is judged against the offset after the same
process's previous read of the key (`checker.kafka`, "poll-skip"), as Jepsen's per-process
check does; an assign ends that tracking as Jepsen's does, for the keys the assign does not
name (a Maelstrom client keeps its offset of a key it assigns again, `(or (offsets k)
(committed k) 0)`, but starts a newly assigned key at the committed offset, which may lie
anywhere), and for every key on `:seek-to-beginning? true` (the client rewinds every key to 0).
`checker.kafka` does this itself when it meets an `assign`.

## Final polls
Jepsen's final generator (`final-polls`, run by `gen/each-thread`) crashes each thread's
client, assigns every key with `:seek-to-beginning? true` on the fresh process, and polls until
the polls reach the highest offsets the run saw. Those polls carry no flag, so a poll is final
here when its invocation says `:final? true` (or `"final": true`), or when the last `ok` or
`info` assign of its process sought to the beginning, which only the final generator does.
Final polls are counted (`final_poll_count`) and kept out of the consumer lag, and that is all:
Jepsen's checker has no final-poll rule of its own, so neither do these histories (they never
say where a poll began, which `checker.kafka`'s final-poll coverage needs). An acknowledged
message that no poll ever returned is `unseen` (Jepsen's error too); one that a poll read past
is a `lost-write`.

## Refused (HistoryError, one line naming the operation and what to do)
Transactional histories (`:f :txn`, or several micro-operations in one operation: `:txn?
true`), which `checker.kafka` does not model; `:subscribe` (consumer groups), under which
Jepsen allows poll skips and nonmonotonic polls; a send, poll or assign whose value has another
shape than the table's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from checker.history import HistoryError, Op
from checker.kafka import ASSIGN, POLL, SEEK, SEND, kafka

TXN = "txn"
SUBSCRIBE = "subscribe"
NOT_JEPSEN = (
    "is this Jepsen's or Maelstrom's kafka history? (a chaos-cluster run's own kafka history "
    "is judged by `chaos check RUN_DIR`, without --model)"
)


def kafka_jepsen(history: Sequence[Op]) -> dict[str, Any]:
    """Judge a Jepsen/Maelstrom kafka history with `checker.kafka` (module docstring)."""
    return kafka(translate(history))


def translate(history: Sequence[Op]) -> list[Op]:
    """The history in `checker.kafka`'s form (module docstring); new `Op`s, the given ones are
    left as they are. Raises `HistoryError` for what the docstring says is refused."""
    _refuse_transactions(history)
    out: list[Op] = []
    invoked: dict[Any, Op] = {}  # process -> its open invocation, translated
    seeking: set[Any] = set()  # processes whose last ok or info assign sought the beginning
    for op in history:
        if op.process == "nemesis" or op.f not in (SEND, POLL, ASSIGN):
            if op.f == SUBSCRIBE:
                raise HistoryError(
                    f"operation {op.index}: a :subscribe operation; consumer-group histories "
                    "(:sub-via #{:subscribe}) are not supported, only Maelstrom's, which "
                    "assign their keys")
            out.append(op)
            continue
        if op.type == "invoke":
            new = replace(op, value=_invocation_value(op), extra=dict(op.extra))
            if op.f == POLL and op.process in seeking:
                new.extra["final"] = True
            invoked[op.process] = new
            out.append(new)
            continue
        inv = invoked.pop(op.process, None)
        if inv is None:  # checker.kafka's pair() says what is wrong with that
            out.append(op)
            continue
        if op.f == ASSIGN and op.type != "fail":
            if inv.extra.get(SEEK):
                seeking.add(op.process)
            else:
                seeking.discard(op.process)
        out.append(replace(op, value=_completion_value(op, inv)))
    return out


def _refuse_transactions(history: Sequence[Op]) -> None:
    """Refuse a transactional history before anything else is said about it."""
    for op in history:
        v = op.value
        many = (op.f in (SEND, POLL) and isinstance(v, list) and len(v) > 1
                and all(isinstance(mop, list) for mop in v))
        if op.f == TXN or many:
            what = "a :txn operation" if op.f == TXN else (
                f"a :{op.f} of {len(op.value)} micro-operations")
            raise HistoryError(
                f"operation {op.index}: {what}: transactional kafka histories "
                "(jepsen.tests.kafka with :txn? true) are not supported; only Maelstrom's "
                "non-transactional form is (:f :send and :f :poll, one micro-operation each)")


def _mop(op: Op, f: str) -> list[Any]:
    """The one micro-operation `[f ...]` of a send or poll."""
    v = op.value
    if (isinstance(v, list) and len(v) == 1 and isinstance(v[0], list) and v[0]
            and v[0][0] == f):
        mop: list[Any] = v[0]
        return mop
    shape = "[[:send key msg]]" if f == SEND else "[[:poll]]"
    if op.type == "ok":
        shape = "[[:send key [offset msg]]]" if f == SEND else "[[:poll {key [[offset msg] ...]}]]"
    raise HistoryError(
        f"operation {op.index}: {'an ok' if op.type == 'ok' else 'a'} {f}'s value must be "
        f"{shape}, not {v!r}; {NOT_JEPSEN}")


def _invocation_value(op: Op) -> Any:
    if op.f == SEND:
        mop = _mop(op, SEND)
        if len(mop) != 3:
            raise HistoryError(
                f"operation {op.index}: a send's micro-operation must be [:send key msg], not "
                f"{mop!r}; {NOT_JEPSEN}")
        return [mop[1], mop[2]]
    if op.f == POLL:
        _mop(op, POLL)
        return None  # it does not say where it began: the process's previous read does
    if not isinstance(op.value, list):
        raise HistoryError(
            f"operation {op.index}: an assign's value must be the list of keys it assigns, "
            f"not {op.value!r}; {NOT_JEPSEN}")
    return op.value


def _completion_value(op: Op, inv: Op) -> Any:
    if op.type != "ok" or op.f == ASSIGN:  # a fail or info keeps what was attempted
        return inv.value
    mop = _mop(op, op.f)
    if op.f == POLL:
        if len(mop) > 2:
            raise HistoryError(
                f"operation {op.index}: an ok poll's micro-operation must be [:poll {{key "
                f"[[offset msg] ...]}}], not {mop!r}")
        return {} if len(mop) == 1 or mop[1] is None else mop[1]  # nil: nothing returned
    if not (len(mop) == 3 and isinstance(mop[2], list) and len(mop[2]) == 2):
        raise HistoryError(
            f"operation {op.index}: an ok send's micro-operation must be "
            f"[:send key [offset msg]], not {mop!r}")
    return [mop[1], list(mop[2])]
