"""One node's shard of the keys, as a two-phase-commit participant: data, locks, prepared txns.

Pure bookkeeping, no messages: `core.Txn` calls it for the prepares, commits and aborts that
reach this node (its own transactions' parts directly, other coordinators' by message) and
persists what it returns.

    shard = Shard.load(durable)                     # what storage held at boot
    vote = shard.prepare("n1/1/7", "n1", mops)       # locks taken, reads done, or a conflict
    writes = shard.commit("n1/1/7")                  # {storage key: value} to persist, synced

Locks are strict two-phase: taken at prepare (shared for keys the transaction only reads,
exclusive for keys it writes), held until the outcome is known, never waited for: a prepare
that meets an incompatible lock votes no at once (no deadlock, no wait queue; the client gets
error 30 and may retry). A prepared transaction's reads are done at prepare, under its locks,
from the committed data and its own earlier writes; its writes (the micro-operations
themselves, `append` or `w`) are applied to the committed data at commit. Since the locks
hold until then, the state at commit is the state the reads saw.

What storage holds (`Boot.durable`), one key per thing so that a step writes only what changed:
    data/<key as JSON>   the committed value: a list (list-append) or any JSON (rw-register)
    prep/<txid>          a prepared transaction: {"coord", "mops", "reads", "locks"}; null once
                         it committed or aborted (kept, so that a duplicate prepare arriving
                         after a restart is refused instead of locking the keys again)
The locks are not stored: they are rebuilt at boot from the prepared transactions.

Bugs planted here (the names are `core`'s):
- `early-unlock`: a prepare takes its locks and releases them as it ends, so a prepared
  transaction holds nothing: another one reads and writes its keys before it commits.
- `read-uncommitted`: a read ignores exclusive locks and sees the value the prepared
  transaction holding the lock will write, committed or not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EARLY_UNLOCK = "early-unlock"
READ_UNCOMMITTED = "read-uncommitted"
SHARED, EXCLUSIVE = "s", "x"
WRITES = ("append", "w")


def key_id(key: Any) -> str:
    """A key's identity as a string: its JSON, so that 1 and "1" stay different keys."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def apply_write(value: Any, f: str, arg: Any) -> Any:
    """The value after one write micro-operation. An append to a key that holds something
    other than a list (a register's value) starts a list."""
    if f == "append":
        return [*(value if isinstance(value, list) else []), arg]
    assert f == "w", f
    return arg


@dataclass
class Prepared:
    coord: str
    mops: list[list[Any]]
    reads: list[Any]  # aligned with mops: the value read, or None for a write
    locks: dict[str, str]  # key id -> SHARED or EXCLUSIVE
    age_ticks: int = 0  # sweeps since it was prepared (or since boot): when to ask the coord

    def to_json(self) -> dict[str, Any]:
        return {"coord": self.coord, "mops": self.mops, "reads": self.reads, "locks": self.locks}


@dataclass(frozen=True)
class Vote:
    is_yes: bool
    reads: list[Any]  # aligned with the mops asked; empty for a no
    why: str = ""


@dataclass
class Shard:
    bug: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # key id -> committed value
    prepared: dict[str, Prepared] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)  # txids committed or aborted here
    holders: dict[str, dict[str, str]] = field(default_factory=dict)  # key id -> txid -> mode

    @classmethod
    def load(cls, durable: Mapping[str, Any], *, bug: str | None = None) -> Shard:
        shard = cls(bug=bug)
        for name, value in durable.items():
            if name.startswith("data/"):
                shard.data[name[len("data/"):]] = value
            elif name.startswith("prep/"):
                txid = name[len("prep/"):]
                if value is None:
                    shard.finished.add(txid)
                    continue
                p = Prepared(value["coord"], value["mops"], value["reads"], dict(value["locks"]))
                shard.prepared[txid] = p
                if bug != EARLY_UNLOCK:
                    shard._lock(txid, p.locks)
        return shard

    # -- the participant's three steps ---------------------------------------------------------

    def prepare(self, txid: str, coord: str, mops: list[list[Any]]) -> tuple[Vote, dict[str, Any]]:
        """Vote on `mops` (this shard's part of `txid`, in the transaction's order) and what to
        persist, synced, before the vote goes out: the prepared record (nothing for a no)."""
        existing = self.prepared.get(txid)
        if existing is not None:  # a duplicate prepare: the same answer again
            return Vote(True, existing.reads), {}
        if txid in self.finished:
            return Vote(False, [], f"{txid} already finished here"), {}
        locks: dict[str, str] = {}
        for f, key, _ in mops:
            kid = key_id(key)
            if f in WRITES or locks.get(kid) == EXCLUSIVE:
                locks[kid] = EXCLUSIVE
            else:
                locks[kid] = SHARED
        peeked: dict[str, Any] = {}
        for kid, mode in locks.items():
            for other, held in self.holders.get(kid, {}).items():
                if other == txid or (mode == SHARED and held == SHARED):
                    continue
                if self.bug == READ_UNCOMMITTED and mode == SHARED:
                    # The bug: a read does not wait for the writer; it sees its prepared value.
                    peeked[kid] = self._after(other, kid)
                    continue
                return Vote(False, [], f"key {kid} is locked by {other}"), {}
        for kid in peeked:
            del locks[kid]  # the buggy reader takes no lock on what it peeked at
        view: dict[str, Any] = {}
        reads: list[Any] = []
        for f, key, arg in mops:
            kid = key_id(key)
            current = view[kid] if kid in view else peeked.get(kid, self.data.get(kid))
            if f == "r":
                reads.append(_copy(current))
            else:
                view[kid] = apply_write(current, f, arg)
                reads.append(None)
        p = Prepared(coord, [list(m) for m in mops], reads, locks)
        self.prepared[txid] = p
        if self.bug != EARLY_UNLOCK:  # the bug: the locks go as the prepare ends
            self._lock(txid, locks)
        return Vote(True, reads), {f"prep/{txid}": p.to_json()}

    def commit(self, txid: str) -> dict[str, Any]:
        """Apply `txid`'s writes and release its locks; what to persist (synced). Nothing if it
        is not prepared here (a duplicate decision, or one for a prepare that voted no)."""
        p = self.prepared.pop(txid, None)
        if p is None:
            return {}
        writes: dict[str, Any] = {f"prep/{txid}": None}
        for f, key, arg in p.mops:
            if f in WRITES:
                kid = key_id(key)
                self.data[kid] = apply_write(self.data.get(kid), f, arg)
                writes[f"data/{kid}"] = self.data[kid]
        self._finish(txid, p)
        return writes

    def abort(self, txid: str) -> dict[str, Any]:
        """Drop `txid`'s prepared writes and release its locks; what to persist (no sync
        needed: a lost abort leaves the prepared record, and asking again says abort)."""
        p = self.prepared.pop(txid, None)
        if p is None:
            return {}
        self._finish(txid, p)
        return {f"prep/{txid}": None}

    def statistics(self) -> dict[str, int]:
        return {"keys": len(self.data), "prepared": len(self.prepared),
                "locked_keys": len(self.holders)}

    # -- internals -----------------------------------------------------------------------------

    def _lock(self, txid: str, locks: Mapping[str, str]) -> None:
        for kid, mode in locks.items():
            self.holders.setdefault(kid, {})[txid] = mode

    def _finish(self, txid: str, p: Prepared) -> None:
        self.finished.add(txid)
        for kid in p.locks:
            held = self.holders.get(kid)
            if held is not None:
                held.pop(txid, None)
                if not held:
                    del self.holders[kid]

    def _after(self, txid: str, kid: str) -> Any:
        """The value `txid` will leave at `kid` if it commits (for the read-uncommitted bug)."""
        value = self.data.get(kid)
        for f, key, arg in self.prepared[txid].mops:
            if f in WRITES and key_id(key) == kid:
                value = apply_write(value, f, arg)
        return value


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value
