"""What gossip needs of a CRDT beyond `node.crdt`'s protocol: the part a state lacks, a digest.

    missing(a, b)        # the smallest part of `a` that `b` lacks (a delta: a state itself)
    is_empty(x)          # x is its type's empty state: nothing to send
    digest(x)            # a short hash of x's canonical wire form: equal states, equal digests

Delta-state replication (Almeida, Shoker and Baquero, "Delta state replicated data types",
2018) sends a replica not its whole state but a *delta*: a small state that, merged in, moves
the receiver up as far as the whole state would have. `missing(a, b)` computes one from two
states: `b.merge(missing(a, b)) == b.merge(a)` and `missing(a, b).leq(a)`, and it is the empty
state exactly when `a.leq(b)`. The replication service uses it three ways: the delta of a
client's update (`missing(after, before)`), what a gossiped state taught a node (what to pass
on: `missing(received, held)`), and, in anti-entropy, what a peer lacks once its whole state
has been seen.

It is the one place that knows each type's parts (elements, per-node counts, tags, the
register): a join decomposition by type. A type it does not know falls back to the whole of
`a` (or nothing when `a.leq(b)`), which is still correct, only not small. It takes O(size of
`a`) set or dict work, in C for the sets: gossip calls it with `a` a small delta, except for a
client's update (O(state), as `update` itself already is) and once per anti-entropy exchange.

The digest is a 64-bit BLAKE2b of the state's parts in a canonical order: the `repr` of each
part (an element, a `(node, count)` pair, a tag, the register's `(ts, node, value)`), which
is the same in every process for JSON integers, strings and lists, sorted as strings (cheaper
than `to_json`'s order, which must compare integers with strings). Anti-entropy compares
digests first and sends a whole state only when they differ. Two different states sharing a
digest would make a round believe the peers agree (a 2**-64 chance per pair of states); the
next change of either state changes its digest, so even that could only delay the repair.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from node.crdt import GCounter, GSet, LWWRegister, ORSet, PNCounter

DIGEST_BYTES = 8


def missing(a: Any, b: Any) -> Any:
    """The smallest part of `a` that `b` lacks (module docstring); `a` and `b` share a type."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, GSet):
        return GSet(a.elements - b.elements)
    if isinstance(a, GCounter):
        return GCounter({n: c for n, c in a.counts.items() if c > b.counts.get(n, 0)})
    if isinstance(a, PNCounter):
        return PNCounter(missing(a.increments, b.increments), missing(a.decrements, b.decrements))
    if isinstance(a, ORSet):
        return ORSet(a.added - b.added, a.removed - b.removed)
    if isinstance(a, LWWRegister):
        return LWWRegister() if a.leq(b) else a
    return type(a).empty() if a.leq(b) else a  # a type without a decomposition: all of it


def is_empty(x: Any) -> bool:
    """Whether `x` is its type's empty state (the bottom of the lattice)."""
    if isinstance(x, GSet):
        return not x.elements
    if isinstance(x, GCounter):
        return not x.counts
    if isinstance(x, PNCounter):
        return not (x.increments.counts or x.decrements.counts)
    if isinstance(x, ORSet):
        return not (x.added or x.removed)
    if isinstance(x, LWWRegister):
        return x.ts is None
    return bool(x == type(x).empty())


def parts(x: Any) -> list[str]:
    """`x` as the sorted `repr`s of its parts (module docstring): equal states, equal lists."""
    if isinstance(x, GSet):
        items: list[Any] = list(x.elements)
    elif isinstance(x, GCounter):
        items = list(x.counts.items())
    elif isinstance(x, PNCounter):
        items = [("p", *kv) for kv in x.increments.counts.items()]
        items += [("n", *kv) for kv in x.decrements.counts.items()]
    elif isinstance(x, ORSet):
        items = [("a", *tag) for tag in x.added] + [("r", *tag) for tag in x.removed]
    elif isinstance(x, LWWRegister):
        items = [(x.ts, x.node, json.dumps(x.value_, sort_keys=True))]
    else:  # any other type: its wire form, whole
        items = [json.dumps(x.to_json(), sort_keys=True)]
    return sorted(map(repr, items))


def digest(x: Any) -> str:
    """A short hex digest of `x`'s parts (module docstring)."""
    text = "\n".join(parts(x))
    return hashlib.blake2b(text.encode(), digest_size=DIGEST_BYTES).hexdigest()
