"""txn-list-append: Maelstrom's transactional list-append workload, judged by Elle's method.

Messages (PROTOCOL.md, Maelstrom's maelstrom.workload.txn-list-append):
    txn{txn: [["r", k, null], ["append", k, v], ...]}
        ->  txn_ok{txn: [["r", k, [v1, v2, ...]], ["append", k, v], ...]}
        ->  error 30 (txn-conflict: aborted, definite: `fail`), other errors as PROTOCOL.md's
A read of a key never appended to is null (recorded as such; the checker reads it as `[]`).

The generator is Elle's (elle.list-append/gen, which Maelstrom uses): a pool of `keys`
active keys (3); each transaction holds `min_txn_length` to `max_txn_length` micro-operations
(1 to 4, Maelstrom's defaults), each a read or an append, even odds, on a random active key.
Appended values count up from 1 per key, so they are unique per key. A key that has received
`max_writes_per_key` appends (16) is retired and replaced by a fresh one (the next integer),
so every key's version order stays short and cheap to infer, while concurrent transactions
still collide on the few active keys. The generator's state is the workload's, shared by every
client process of a run; every choice comes from the rng the run passes.

History values: the transaction, invoked with null reads, completed (ok) with the reply's
transaction. A reply that does not answer the transaction asked (another length, another
function or key at some position, an append's value changed, a read that is not a list or
null) is malformed. A timeout or indefinite error is `info`: the transaction may have
committed. After the healed recovery phase each node is asked one final transaction reading
every key used (`"final": true`), so that the last appends are seen.

Checked by `checker.elle.list_append` (`list-append`) under `consistency_models` (default
`["strict-serializable"]`; any of Elle's names, `checker.elle.models`), with `availability` and
`replies`. Served by the built-in `txn` service (node/services/txn); `--node-cmd` runs any
Maelstrom txn program.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from checker.elle import list_append
from checker.elle.models import canonical
from checker.history import Op
from checker.result import compose
from scenarios.workload import BaseWorkload, WorkloadSpec, reply_field


def _count(label: str, n: Any, low: int, high: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
        raise ValueError(f"{label} must be an integer from {low} to {high}, not {n!r}")
    return n


class TxnWorkload(BaseWorkload):
    """What Maelstrom's two txn workloads share: Elle's key pool, the wire form, the checks.
    A subclass names its write function (`write_f`) and its checker (`check_txns`)."""

    reads: frozenset[str] = frozenset()  # a txn may write: a timeout is info, never fail
    write_f = ""

    def __init__(self, *, keys: int = 3, min_txn_length: int = 1, max_txn_length: int = 4,
                 max_writes_per_key: int = 16,
                 consistency_models: Sequence[str] = ("strict-serializable",)) -> None:
        super().__init__()
        self.keys = _count("keys", keys, 1, 1000)
        self.min_txn_length = _count("min_txn_length", min_txn_length, 1, 100)
        self.max_txn_length = _count("max_txn_length", max_txn_length, self.min_txn_length, 100)
        self.max_writes_per_key = _count("max_writes_per_key", max_writes_per_key, 1, 100_000)
        if isinstance(consistency_models, str) or not consistency_models:
            raise ValueError("consistency_models must be a non-empty list of model names, e.g. "
                             "[\"serializable\"]")
        for model in consistency_models:
            canonical(model)  # an unknown name is an error now, not after the run
        self.consistency_models = list(consistency_models)
        self.active = list(range(self.keys))  # the pool of keys being written
        self.next_key = self.keys
        self.writes: dict[int, int] = {}  # key -> values written so far (the last value)
        self.used: list[int] = []  # every key handed out, in order: the final reads

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        length = rng.randint(self.min_txn_length, self.max_txn_length)
        mops: list[list[Any]] = []
        for _ in range(length):
            slot = rng.randrange(len(self.active))
            key = self.active[slot]
            if key not in self.writes:
                self.writes[key] = 0
                self.used.append(key)
            if rng.random() < 0.5:
                mops.append(["r", key, None])
                continue
            self.writes[key] += 1
            mops.append([self.write_f, key, self.writes[key]])
            if self.writes[key] >= self.max_writes_per_key:  # retire it: a fresh key instead
                self.active[slot] = self.next_key
                self.next_key += 1
        return "txn", mops

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f != "txn":
            raise ValueError(f"{self.name} has no operation {f!r}; it has txn")
        return {"type": "txn", "txn": [list(m) for m in value]}

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        got = reply_field(reply, "txn")
        if not isinstance(got, list) or len(got) != len(value):
            raise ValueError(f"txn must be a list of {len(value)} micro-operations, not {got!r}")
        for i, (asked, answered) in enumerate(zip(value, got, strict=True)):
            if not (isinstance(answered, list) and len(answered) == 3
                    and answered[:2] == list(asked[:2])):
                raise ValueError(f"txn[{i}] answers {answered!r} to {list(asked)!r}")
            if asked[0] != "r" and answered[2] != asked[2]:
                raise ValueError(f"txn[{i}] changed the written value: {answered!r}")
            if asked[0] == "r":
                self.check_read(i, answered[2])
        return got

    def check_read(self, i: int, read: Any) -> None:
        """Raise ValueError if `read` cannot be what micro-operation `i` read."""

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        reads = [["r", key, None] for key in self.used] or [["r", 0, None]]
        return [(node, "txn", reads) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose({**self.check_txns(history), **self.common_checks(history)})

    def check_txns(self, history: list[Op]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError


class TxnListAppend(TxnWorkload):
    """Maelstrom's txn-list-append (module docstring). Params: `keys` (active keys, 3),
    `min_txn_length` (1), `max_txn_length` (4), `max_writes_per_key` (16),
    `consistency_models` (`["strict-serializable"]`)."""

    name = "txn-list-append"
    write_f = "append"

    def check_read(self, i: int, read: Any) -> None:
        if read is not None and not isinstance(read, list):
            raise ValueError(f"txn[{i}] read {read!r}, not a list or null")

    def check_txns(self, history: list[Op]) -> dict[str, dict[str, Any]]:
        return {list_append.CHECKER: list_append.check(
            history, consistency_models=self.consistency_models)}


WORKLOAD = WorkloadSpec(
    name="txn-list-append",
    make=TxnListAppend,
    summary="transactions of appends and whole-list reads over a few keys",
    operations="`txn` of `r` and `append` micro-operations (Elle's key pool)",
    checked_by="Elle's list-append: no dependency cycle or anomaly the consistency model "
    "forbids (default strict-serializable)",
    service="txn",
)
