"""Where a replica's state goes in storage, in writes proportional to what changed.

    journal = Journal(GCounter, "g-counter", slots=32)
    state = journal.load(boot.durable)           # the snapshot joined with every delta slot
    writes, must_sync = journal.record(delta, state)   # state already includes delta

Writing the whole state on every acknowledged update would cost O(state) per operation (and the
store logs every key a sync changed). A lattice makes a cheaper plan trivially correct: the
state is the join of any set of its parts, in any order, each part any number of times. So each
recorded delta goes to the next *slot* key (`crdt/0`, `crdt/1`, ... up to `slots`, each
`{"delta": <wire form>}`), and when the slots are used up the write is a compaction instead: the
whole state as the snapshot (`crdt`: `{"type": <workload>, "state": <wire form>}`) plus every
slot emptied (`null`). A compaction is always synced, so no slot is emptied or reused before
the snapshot holding it is durable, whatever a crash keeps of unsynced writes. Booting, a node
joins the snapshot and every slot it finds: exactly what it had made durable, plus perhaps some
unsynced writes that survived, which are parts of its state too.

The type name is stored with the snapshot so that a data directory written by another service
(`--service or-set` on a g-set node's data) is refused at boot, loudly, not misread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SNAPSHOT_KEY = "crdt"
SLOT_PREFIX = "crdt/"
LOG_SLOTS = 32


class Journal:
    """The plan of storage writes for one replica's state (module docstring)."""

    def __init__(self, kind: Any, workload: str, *, slots: int = LOG_SLOTS) -> None:
        assert slots > 0, slots
        self.kind = kind
        self.workload = workload
        self.slots = slots
        self.filled: set[int] = set()  # slots holding a delta in storage
        self.next_slot = 0

    def load(self, durable: Mapping[str, Any]) -> Any:
        """The state `durable` holds. The next write goes after the highest slot found (one
        in between, lost to a crash, is not trusted to be empty)."""
        state = self.kind.empty()
        snapshot = durable.get(SNAPSHOT_KEY)
        if snapshot is not None:
            assert isinstance(snapshot, dict) and set(snapshot) == {"type", "state"}, snapshot
            assert snapshot["type"] == self.workload, (
                f"the data directory holds a {snapshot['type']} replica, not {self.workload}")
            state = self.kind.from_json(snapshot["state"])
        for key in sorted(durable):
            if not key.startswith(SLOT_PREFIX):
                continue
            index = key[len(SLOT_PREFIX):]
            assert index.isdigit(), f"{key}: not a delta slot"
            slot = durable[key]
            if slot is None:
                continue
            assert isinstance(slot, dict) and set(slot) == {"delta"}, f"{key}: {slot!r}"
            state = state.merge(self.kind.from_json(slot["delta"]))
            self.filled.add(int(index))
        self.next_slot = max(self.filled, default=-1) + 1
        return state

    def record(self, delta: Any, state: Any) -> tuple[dict[str, Any], bool]:
        """The writes that make `delta` (already joined into `state`) durable, and whether
        they must be synced whatever the caller's own need (a compaction must)."""
        if self.next_slot < self.slots:
            self.filled.add(self.next_slot)
            self.next_slot += 1
            return {f"{SLOT_PREFIX}{self.next_slot - 1}": {"delta": delta.to_json()}}, False
        writes: dict[str, Any] = {
            SNAPSHOT_KEY: {"type": self.workload, "state": state.to_json()}}
        writes.update({f"{SLOT_PREFIX}{i}": None for i in sorted(self.filled)})
        self.filled.clear()
        self.next_slot = 0
        return writes, True
