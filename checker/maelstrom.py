"""Maelstrom's broadcast and unique-ids histories, judged as Maelstrom judges them.

    from checker.maelstrom import broadcast, unique_ids
    broadcast(history)    # -> checker.setfull.set_full(...): "set-full"
    unique_ids(history)   # -> checker.unique_ids.unique_ids(...): "unique-ids"

Maelstrom records each workload's history in `store/<test>/<time>/history.edn` (`chaos check`
also reads the same as JSON), and judges it with a Jepsen checker that these functions name,
reusing ours. (Its kafka workload is `checker.kafka_jepsen`'s.)

## broadcast (jepsen-io/maelstrom, src/maelstrom/workload/broadcast.clj)
    broadcast  invoke {:f :broadcast, :value 5}          ok: the same
    read       invoke {:f :read, :value nil}             ok {:value [1 2 5]}: every message
                                                         the node holds
Maelstrom's checker is "exactly a set-full checker, but with :add mapped to :broadcast":
Jepsen's `checker/set-full` with its defaults (`:linearizable? false`), so here
`checker.setfull.set_full` with `add_f="broadcast"`: an acknowledged message is lost when the
latest read that began after it was known lacks it and no read begun later saw it; one that
reads only saw late is stale, which is allowed. Maelstrom's final reads (its final generator,
`gen/each-thread {:f :read, :final? true}`) are reads like any other to Jepsen's set-full,
which has no final-read rule, so `broadcast` has none either: the rule `checker.setfull` applies
to reads marked `"final": true` (ours: after healing every node holds every message) is
dropped, and a chaos-cluster broadcast run judged with `--model broadcast` is judged as
Maelstrom would judge it, where `chaos check RUN_DIR` judges it by our stricter rule. An `ok`
read whose value is not a list of messages is an error (set-full alone would pass over it).

## unique-ids (src/maelstrom/workload/unique_ids.clj)
    generate   invoke {:f :generate, :value nil}         ok {:value <id>}: any value
Maelstrom's checker is Jepsen's `checker/unique-ids`, which `checker.unique_ids` is: valid iff
no id was acknowledged twice, with the attempted and acknowledged counts, the duplicated ids
and, for numeric ids, their range. Our own workload records the same operations, so nothing is
translated. Ids are compared as JSON, so an EDN keyword id `:a` and the string "a" are one id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from checker.history import HistoryError, Op
from checker.intset import IntRanges, IntRangesDelta
from checker.setfull import set_full
from checker.unique_ids import unique_ids as unique_ids_checker

BROADCAST, READ, GENERATE = "broadcast", "read", "generate"


def broadcast(history: Sequence[Op]) -> dict[str, Any]:
    """Maelstrom's broadcast checker: set-full, broadcast as add, no final-read rule."""
    ops: list[Op] = []
    for op in history:
        if op.process != "nemesis" and op.f == READ and op.type == "ok" and not isinstance(
            op.value, list | IntRanges | IntRangesDelta  # ours may hold reads compactly
        ):
            raise HistoryError(
                f"operation {op.index}: an ok read's value must be the list of messages the "
                f"node holds, not {op.value!r}")
        if "final" in op.extra:
            op = replace(op, extra={k: v for k, v in op.extra.items() if k != "final"})
        ops.append(op)
    return set_full(ops, add_f=BROADCAST, read_f=READ)


def unique_ids(history: Sequence[Op]) -> dict[str, Any]:
    """Maelstrom's unique-ids checker: no id acknowledged by two `generate`s."""
    return unique_ids_checker(history, f=GENERATE)
