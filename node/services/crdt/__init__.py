"""The CRDT replication service: one state-based replica, generic over the CRDT type.

As Maelstrom's demo `CRDTServer` serves every CRDT through one read/merge interface, one
machine (`core.Replica`) serves the five CRDT workloads through `node.crdt`'s `Crdt` protocol;
the type is the only difference between them. It is declared once per workload, under the
workload's name, because the type has to reach the node and a node program learns nothing of
the workload but its `--service` (init carries only ids; a setup message would break Maelstrom
programs run on the same workload with `--node-cmd`). Each sub-package is one declaration:

| service (= workload) | state (`node.crdt`) | bugs |
|---|---|---|
| `g-set` | `GSet` | none |
| `g-counter` | `GCounter` | `merge-by-sum` |
| `pn-counter` | `PNCounter` | `merge-by-sum` |
| `or-set` | `ORSet` | `remove-unobserved` |
| `lww-register` | `LWWRegister` | `local-clock-lww` |

Client messages (PROTOCOL.md; docs/mechanisms.md, "CRDT workloads"):
    g-set         add{element} -> add_ok                  read{} -> read_ok{value: [...]}
    g-counter     add{delta >= 0} -> add_ok               read{} -> read_ok{value}
    pn-counter    add{delta} -> add_ok                    read{} -> read_ok{value}
    or-set        add{element} -> add_ok · remove{element} -> remove_ok · read{} -> read_ok{value}
    lww-register  write{value} -> write_ok{ts}            read{} -> read_ok{value, ts}
A request the type cannot apply (a negative g-counter delta, a float element, no `value`) is
answered with error 12; an update the type does not take (`remove` on a g-set) with error 10.

Between nodes:
    crdt_delta{delta}       a state to merge: a batch of deltas, or what a peer lacks. No reply.
    crdt_sync{digest}       anti-entropy: the sender's digest. Answered only on a mismatch:
    crdt_sync_ok{state}     the answerer's whole state; the sender merges it and sends back, as
                            a crdt_delta, the part of its own state the answerer lacks.

How it works. Delta-state gossip (Almeida, Shoker and Baquero, 2018) with digest anti-entropy:
- **Deltas.** A client's update changes the state by a small delta (`lattice.missing(after,
  before)`: an element, one node's count, one tag, the register), and a state received from a
  peer teaches the node only what it lacked (`missing(received, held)`). Either is joined into
  the `outbox` of every neighbour but the one it came from.
- **Batched pushes.** Every `push_interval_s` (0.1 s) the node sends each neighbour with a
  non-empty outbox one `crdt_delta`, the join of everything since the last push, and forgets
  it. Pushes are not acknowledged, so each costs one message, and each link carries at most
  one per interval however many updates there were: messages per operation fall as the rate
  rises. The neighbours are an overlay on the init's node ids (`core.overlay`): everyone in a
  cluster of up to 5, else a circulant graph (1 and about sqrt(n) places apart: 4 neighbours
  and a diameter of 4 on 25 nodes), so a delta reaches every node by several paths.
- **Anti-entropy.** Pushes can be lost (partitions, drops, a node down), so every
  `anti_entropy_interval_s` (0.5 s) the node sends one random other node (any node, not only a
  neighbour) the digest of its state (`lattice.digest`). A peer with the same digest stays
  silent: one message per round between replicas that agree. A peer that differs answers with
  its whole state; the sender merges it (passing on what it learnt) and sends back the part of
  its own state the peer lacks. So a whole state crosses the network only on a mismatch, and
  after any heal every pair that exchanges ends equal: every acknowledged update reaches every
  node, whatever pushes were lost. Merges are idempotent, commutative and associative, so
  duplicated, reordered and late messages change nothing more.

Storage (`journal.Journal`). Each write is a delta in a slot key of its own (`crdt/0` ...
`crdt/31`), compacted with a sync into one snapshot (`crdt`) when the slots are used up; a
booting node joins them all. A client's update is written and fsynced before its `_ok`, and
so is any state a reply reports (a read, or an update that changed nothing) that gossip taught
and was not yet synced: a node killed and restarted loses nothing it acknowledged, never reads
less than it showed, and never stamps an LWW write below a stamp it reported. What gossip
teaches costs no fsync until then (it is written unsynced at each anti-entropy round, for a
graceful stop). An OR-set node reloads its own tags before it serves an add, so its next tag is
fresh; an LWW register reloads its stamp, so its hybrid logical clock never goes back.

Tunables (`Boot.params`, for tests): `push_interval_s`, `anti_entropy_interval_s`, `log_slots`.

Bugs (each declared by the services whose type it breaks, with the run that catches it):
    merge-by-sum       g-counter, pn-counter: a received state is merged by adding each node's
                       count to the one held instead of taking the maximum, so whatever arrives
                       twice or overlaps what is held (a duplicated push, an anti-entropy
                       exchange, a delta that came by two paths) counts twice. Caught by
                       flaky-network, whose duplication makes it certain: final reads exceed
                       every sum the adds allow, and differ.
    remove-unobserved  or-set: a remove tombstones the element itself (the tag `[e, "*", 1]`,
                       applied to every tag of `e` after each merge) instead of the adds it
                       observed, so it also deletes concurrent adds it never saw and every later
                       add of the element. Caught by partition-heal: its clients remove and
                       re-add a few elements, and an add acknowledged after a remove completed
                       is missing from the final reads although no remove could have observed it.
    local-clock-lww    lww-register: a write is stamped `[own clock ms, 0]` and replaces what is
                       held whatever its stamp, and a merge keeps the greater stamp with no
                       tie-break by node. Caught by clock-skew: a node whose clock lags a stamp
                       it has shown (after a bump ahead elsewhere, a drift, a strobe) stamps its
                       next write backwards.

Limits: OR-set tombstones are never collected (that needs causal stability), so its state grows
with its adds, and anti-entropy's mismatch answer is a whole state; a version vector per node
would let it send only what the peer misses. Elements are JSON integers or strings
(`node.crdt`).
"""

from __future__ import annotations

from node.services.crdt import g_counter, g_set, lww_register, or_set, pn_counter

SERVICES = (g_set.SERVICE, g_counter.SERVICE, pn_counter.SERVICE, or_set.SERVICE,
            lww_register.SERVICE)
