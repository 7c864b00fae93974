"""The txn machine: a node that coordinates the transactions it receives and serves its shard.

    m = Txn(Boot("n1", random.Random(1), durable={}))
    m.step(Init(("n1", "n2", "n3")), now_s=0.0)              # persists the boot number, synced
    m.step(Receive({"src": "c1", "dest": "n1", "body": {"type": "txn", "msg_id": 1,
                    "txn": [["r", 1, None], ["append", 2, 5]]}}), now_s=0.1)
    # -> txn_prepare to the owners of keys 1 and 2 (or a local prepare, synced, for our own)

A transaction's life at its coordinator (the node the client asked), in steps:
1. `txn`: validated (error 12 if malformed), named `<node>/<boot>/<n>` (the boot number,
   synced at the node's first init, keeps names unique across restarts), split by owner
   (`owner(key)`: the crc32 of the key's JSON modulo the cluster size, over `node_ids` in
   init's order), and prepared: our own part at once through `shard.Shard`, each other part by
   `txn_prepare`.
2. votes (`txn_prepare_ok{vote}`), or a sweep finding the deadline (`vote_timeout_s`) passed:
   any no, or a missing vote at the deadline, is abort: the client gets error 30 (definite:
   the transaction will never commit, since a commit needs a decision only we can take), the
   participants that voted yes `txn_decide{abort}`. All yes is commit: the decision
   `decision/<txid>` is persisted and synced, then, in that step, our own part is applied, the
   others get `txn_decide{commit}` and the client `txn_ok` with the reads filled in.
3. that is all: a participant that misses the decision asks (below). Decisions are kept.

A participant that voted yes holds its locks until it learns the outcome. A prepared
transaction older than `resolve_after_s` (and every prepared one after a restart) is asked
about every `resolve_interval_s`: `txn_status{txid}` to its coordinator, which answers
`txn_status_ok{txid, outcome}`: `commit` (a decision it holds, in memory or durable), `pending`
(it is still collecting votes: ask again later), or `abort`, for everything else. Presumed
abort: a coordinator commits only what it decided and stored in this process life or an
earlier one, so a transaction it does not know (its process died before deciding) can never
commit, and aborting it is safe. Timers are counted in sweeps (`sweep_interval_s`), not
read from the clock.

Storage: `boot`, `decision/<txid>` ("commit"; aborts are presumed, not stored), and the
shard's keys (`shard` module). A prepared record is synced before its vote goes out, a
commit decision before anyone hears of it. A participant's applied commit (and any abort) is
written unsynced and rides with its next sync: until then the durable prepared record and the
coordinator's durable decision redo it after a crash (the participant is in doubt and asks).

Bug planted here:
- `volatile-decision`: decisions are group-committed: held in memory and written, synced,
  `decision_flush_s` (3 s) after the oldest unwritten one, but acted on at once (participants
  told, the client answered). A coordinator killed before the flush forgets decisions it acted
  on, and then answers `abort` to participants that had not yet made the commit durable, while
  others had: a split outcome (one key shows the transaction's write, another never does),
  and a commit the client saw that is partly lost.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from node.machine import Boot, Machine, Malformed, Message, field_of
from node.protocol import TXN_CONFLICT
from node.services.txn.shard import EARLY_UNLOCK, READ_UNCOMMITTED, Shard, Vote

VOLATILE_DECISION = "volatile-decision"
BUGS = {
    EARLY_UNLOCK: "locks are released when the prepare ends instead of at commit or abort: "
    "concurrent transactions interleave on the same keys (G-single, G2, lost updates)",
    READ_UNCOMMITTED: "reads ignore exclusive locks and return what a prepared, uncommitted "
    "transaction will write, even if it aborts (G1a aborted reads)",
    VOLATILE_DECISION: "the coordinator acts on its commit decision before the decision is "
    "durable (written in batches a second late): a kill loses it, and the participants still "
    "in doubt presume abort while the others committed (a split outcome)",
}
FS = ("r", "append", "w")
OPS_MAX = 1000  # micro-operations in one transaction
DEFAULTS = {
    "sweep_interval_s": 0.05,
    "vote_timeout_s": 0.5,
    "resolve_after_s": 1.0,
    "resolve_interval_s": 0.5,
    "decision_flush_s": 3.0,
}


def owner(key: Any, node_ids: list[str]) -> str:
    """The node whose shard holds `key`: the same on every node, in every process life."""
    blob = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return node_ids[zlib.crc32(blob) % len(node_ids)]


@dataclass
class Pending:
    """A transaction this node coordinates and has not decided yet."""

    client: Message
    mops: list[list[Any]]
    parts: dict[str, list[int]]  # participant -> positions of its micro-operations
    votes: dict[str, Vote] = field(default_factory=dict)
    sweeps_left: int = 0


class Txn(Machine):
    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in BUGS, boot.bug
        super().__init__(boot)
        params = {**DEFAULTS, **boot.params}
        self.sweep_s = float(params["sweep_interval_s"])
        self.vote_sweeps = max(1, round(params["vote_timeout_s"] / self.sweep_s))
        self.resolve_after_sweeps = max(1, round(params["resolve_after_s"] / self.sweep_s))
        self.resolve_every_sweeps = max(1, round(params["resolve_interval_s"] / self.sweep_s))
        self.flush_every_sweeps = max(1, round(params["decision_flush_s"] / self.sweep_s))
        self.last_boot = int(boot.durable.get("boot", 0))
        self.boot: int | None = None  # this life's, set at the first Init
        self.shard = Shard.load(boot.durable, bug=boot.bug)
        self.commits: set[str] = {  # decisions to commit, durable or (the bug) not yet
            name[len("decision/"):] for name, v in boot.durable.items()
            if name.startswith("decision/") and v == "commit"
        }
        self.unflushed: list[str] = []  # the bug's decisions not yet written
        self.unflushed_sweeps = 0  # sweeps since the oldest of them was taken
        self.pending: dict[str, Pending] = {}
        self.counter = 0
        self.sweeps = 0
        for p in self.shard.prepared.values():  # in doubt since before the restart: ask soon
            p.age_ticks = self.resolve_after_sweeps - 1

    def on_init(self) -> None:
        if self.boot is not None:
            return
        self.boot = self.last_boot + 1
        self.persist("boot", self.boot)
        self.set_timer("sweep", self.sweep_s)
        self.log("info", "boot", boot=self.boot, prepared=len(self.shard.prepared))

    def statistics(self) -> dict[str, int]:
        return {"pending": len(self.pending), "commits": len(self.commits),
                **self.shard.statistics()}

    # -- the coordinator -----------------------------------------------------------------------

    def on_txn(self, msg: Message) -> None:
        assert self.boot is not None, "the driver delivers requests only after Init"
        mops = _parse_txn(field_of(msg, "txn", list))
        self.counter += 1
        txid = f"{self.node_id}/{self.boot}/{self.counter}"
        parts: dict[str, list[int]] = {}
        for i, (_, key, _) in enumerate(mops):
            parts.setdefault(owner(key, self.node_ids), []).append(i)
        pending = Pending(msg, mops, parts, sweeps_left=self.vote_sweeps)
        self.pending[txid] = pending
        for node, positions in sorted(parts.items()):
            part = [mops[i] for i in positions]
            if node == self.node_id:
                vote, writes = self.shard.prepare(txid, self.node_id, part)
                for name, value in writes.items():
                    self.persist(name, value)
                pending.votes[node] = vote
            else:
                self.send(node, {"type": "txn_prepare", "txid": txid, "mops": part})
        self._maybe_decide(txid)

    def on_txn_prepare_ok(self, msg: Message) -> None:
        body = msg["body"]
        txid = body.get("txid")
        pending = self.pending.get(txid) if isinstance(txid, str) else None
        if pending is None or msg["src"] not in pending.parts:
            # A late or duplicate vote. A yes for a transaction we aborted without it would
            # hold the participant's locks until it asks us: tell it now.
            if isinstance(txid, str) and body.get("vote") is True and txid not in self.commits:
                self.send(msg["src"], {"type": "txn_decide", "txid": txid, "outcome": "abort"})
            return
        reads = body.get("reads")
        if body.get("vote") is True and isinstance(reads, list):
            pending.votes[msg["src"]] = Vote(True, reads)
        else:
            pending.votes[msg["src"]] = Vote(False, [], str(body.get("why", "voted no")))
        self._maybe_decide(txid)

    def _maybe_decide(self, txid: str) -> None:
        pending = self.pending[txid]
        no = next((v for v in pending.votes.values() if not v.is_yes), None)
        if no is not None:
            self._abort(txid, f"txn-conflict: {no.why}")
        elif len(pending.votes) == len(pending.parts):
            self._commit(txid)

    def _commit(self, txid: str) -> None:
        pending = self.pending.pop(txid)
        self.commits.add(txid)
        if self.bug == VOLATILE_DECISION:
            self.unflushed.append(txid)  # the bug: acted on below before it is written
        else:
            self.persist(f"decision/{txid}", "commit")
        result = [list(m) for m in pending.mops]
        for node, positions in sorted(pending.parts.items()):
            for i, value in zip(positions, pending.votes[node].reads, strict=False):
                if result[i][0] == "r":
                    result[i][2] = value
            if node == self.node_id:
                for name, value in self.shard.commit(txid).items():
                    self.persist(name, value, sync=False)  # redone from the decision if lost
            else:
                self.send(node, {"type": "txn_decide", "txid": txid, "outcome": "commit"})
        self.reply(pending.client, {"type": "txn_ok", "txn": result})

    def _abort(self, txid: str, why: str) -> None:
        pending = self.pending.pop(txid)
        for node, vote in sorted(pending.votes.items()):
            if not vote.is_yes:
                continue
            if node == self.node_id:
                for name, value in self.shard.abort(txid).items():
                    self.persist(name, value, sync=False)
            else:
                self.send(node, {"type": "txn_decide", "txid": txid, "outcome": "abort"})
        for node in pending.parts:  # a vote still on its way: abort it when it comes
            if node not in pending.votes and node != self.node_id:
                self.send(node, {"type": "txn_decide", "txid": txid, "outcome": "abort"})
        self.reply_error(pending.client, TXN_CONFLICT, why)

    def outcome(self, txid: str) -> str:
        """What this coordinator says of `txid`: commit, pending, or (presumed) abort."""
        if txid in self.commits:
            return "commit"
        return "pending" if txid in self.pending else "abort"

    def on_txn_status(self, msg: Message) -> None:
        txid = field_of(msg, "txid", str)
        self.reply(msg, {"type": "txn_status_ok", "txid": txid, "outcome": self.outcome(txid)})

    # -- the participant -----------------------------------------------------------------------

    def on_txn_prepare(self, msg: Message) -> None:
        txid = field_of(msg, "txid", str)
        mops = _parse_txn(field_of(msg, "mops", list))
        vote, writes = self.shard.prepare(txid, msg["src"], mops)
        for name, value in writes.items():
            self.persist(name, value)
        body: dict[str, Any] = {"type": "txn_prepare_ok", "txid": txid, "vote": vote.is_yes}
        body.update({"reads": vote.reads} if vote.is_yes else {"why": vote.why})
        self.reply(msg, body)

    def on_txn_decide(self, msg: Message) -> None:
        self._learn(field_of(msg, "txid", str), field_of(msg, "outcome", str))

    def on_txn_status_ok(self, msg: Message) -> None:
        self._learn(field_of(msg, "txid", str), field_of(msg, "outcome", str))

    def _learn(self, txid: str, outcome: str) -> None:
        if outcome == "commit":
            # No sync: until the next one, the prepared record is durable and the decision
            # too, so a crash meanwhile leaves the transaction in doubt and asking redoes it.
            for name, value in self.shard.commit(txid).items():
                self.persist(name, value, sync=False)
        elif outcome == "abort":
            for name, value in self.shard.abort(txid).items():
                self.persist(name, value, sync=False)

    # -- the sweep: vote deadlines, transactions in doubt, the bug's flush ---------------------

    def tick_sweep(self) -> None:
        self.sweeps += 1
        for txid in [t for t, p in self.pending.items() if p.sweeps_left <= 1]:
            self._abort(txid, "txn-conflict: a participant did not vote in time")
        for p in self.pending.values():
            p.sweeps_left -= 1
        for txid, prepared in sorted(self.shard.prepared.items()):
            prepared.age_ticks += 1
            late = prepared.age_ticks - self.resolve_after_sweeps
            if late < 0 or late % self.resolve_every_sweeps:
                continue
            if prepared.coord == self.node_id:
                self._learn(txid, self.outcome(txid))
            else:
                self.send(prepared.coord, {"type": "txn_status", "txid": txid})
        if self.unflushed:  # the bug's group commit: a batch is written when its oldest is due
            self.unflushed_sweeps += 1
            if self.unflushed_sweeps >= self.flush_every_sweeps:
                for txid in self.unflushed:
                    self.persist(f"decision/{txid}", "commit")
                self.unflushed, self.unflushed_sweeps = [], 0
        self.set_timer("sweep", self.sweep_s)


def _parse_txn(raw: list[Any]) -> list[list[Any]]:
    """The micro-operations of a `txn` (or a `txn_prepare`), checked; `Malformed` says why."""
    if not raw:
        raise Malformed("txn must hold at least one micro-operation")
    if len(raw) > OPS_MAX:
        raise Malformed(f"txn holds {len(raw)} micro-operations; at most {OPS_MAX}")
    mops = []
    for i, mop in enumerate(raw):
        if not (isinstance(mop, list) and len(mop) == 3 and mop[0] in FS):
            raise Malformed(f"txn[{i}] must be [f, key, value] with f one of r, append, w")
        if mop[0] == "r" and mop[2] is not None:
            raise Malformed(f"txn[{i}]: a read's value must be null")
        if isinstance(mop[1], dict | list):
            raise Malformed(f"txn[{i}]: keys must be JSON scalars")
        mops.append(list(mop))
    return mops
