"""The OR-set checker: convergence, and no acknowledged add lost unless a remove observed it.

    or_set(history)    # add (value: element), remove (value: element), read (ok value: list)

An observed-remove set (add-wins) keeps an element while some add of it has not been removed,
and a remove removes only the adds its node has *observed*: those merged into its state when
it ran. The history cannot show what a node had observed, so the checker judges only what no
execution of a correct OR-set could produce, and says precisely what it assumes.

**Could have observed.** A remove R of element e could have observed an add A of e if A
could have taken effect before R did:
- R is `ok` and A was invoked before R completed (R took effect before its completion, and A
  not before its invocation); or
- R is `info` or never completed: it may take effect at any later time, so it could have
  observed any add of e.
A `fail` remove observed nothing. This errs towards excusing: it never calls an add lost that
some interleaving of gossip could have removed, so an invalid verdict is certain.

**Lost.** An `ok` add A of e is lost when some final read F lacks e, A completed before F was
invoked, and no remove of e that could have taken effect before F completed (`ok` or
indefinite, invoked before F completed) could have observed A. Final reads (`"final": true`,
Jepsen's `:final? true` too) run after every fault has healed and the system settled, so every
node must by then hold every add that no remove observed. Reads before the final ones are not
judged for loss: a node may not have heard of an add yet.

**Unexpected.** An ok read (any read) that holds an element no `ok`, `info` or pending add
of it had been invoked before the read completed: nothing could have put it there.

**Convergence.** Every ok final read returns the same set. This assumes no add or remove was
invoked after the first final read was invoked, as in our runs (the final reads follow the
clients' stop and a quiet settle); otherwise convergence is not judged and `convergence` says
why.

Not judged: an element present though every add of it was removed, since the history does
not show that a remove observed an add (a remove may legally miss a concurrent add, and then
the element stays). Duplicates within one read are counted (`duplicated_count`), not judged.

Valid is false on any lost add, unexpected element or divergent final reads; unknown when no
read succeeded, or when there was no ok final read (neither loss nor convergence could be
judged); true otherwise. Lists are bounded by `LIST_LIMIT`; counts are exact. An update is
named by the index of its invocation (`add_index`, `latest_remove_index`), a read by its
completion's. One pass pairs
the operations; losses cost, per final read, the adds of the elements it lacks.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

from checker.history import HistoryError, Op
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("lost_count", "unexpected_count", "divergent_final_reads", "first_lost")
_NEVER = 1 << 62  # the completion position of an operation that never completed


class _Update:
    __slots__ = ("complete_pos", "element", "index", "invoke_pos", "node", "type")

    def __init__(self, invoke_pos: int, inv: Op) -> None:
        self.invoke_pos = invoke_pos
        self.complete_pos = _NEVER
        self.element = _key(inv.value)
        self.index = inv.index
        self.node = inv.node
        self.type = "info"  # until it completes: never completing is indefinite


class _Read:
    __slots__ = ("complete_pos", "elements", "final", "index", "invoke_pos", "node")

    def __init__(self, invoke_pos: int, complete_pos: int, op: Op, node: Any, final: bool,
                 elements: set[Hashable]) -> None:
        self.invoke_pos = invoke_pos
        self.complete_pos = complete_pos
        self.index = op.index
        self.node = node
        self.final = final
        self.elements = elements


def _final(op: Op) -> bool:
    return bool(op.extra.get("final") or op.extra.get("final?"))


def _key(value: Any) -> Hashable:
    """Elements as dict keys: JSON values that are not hashable become canonical JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    hashable: Hashable = value
    return hashable


def or_set(
    history: Sequence[Op],
    *,
    add_f: str = "add",
    remove_f: str = "remove",
    read_f: str = "read",
) -> dict[str, Any]:
    """Judge an OR-set history; see the module docstring for every rule."""
    adds: dict[Hashable, list[_Update]] = {}
    removes: dict[Hashable, list[_Update]] = {}
    reads: list[_Read] = []
    duplicated = 0
    open_: dict[Any, tuple[int, Op, _Update | None]] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            if op.process in open_:
                raise HistoryError(f"operation {op.index}: process {op.process!r} invoked again "
                                   f"while operation {open_[op.process][1].index} is still open")
            update = _Update(pos, op) if op.f in (add_f, remove_f) else None
            if update is not None:
                into = adds if op.f == add_f else removes
                into.setdefault(update.element, []).append(update)
            open_[op.process] = (pos, op, update)
            continue
        if op.process not in open_:
            raise HistoryError(f"operation {op.index}: process {op.process!r} completed "
                               f"({op.type}) with no open invocation")
        invoke_pos, inv, update = open_.pop(op.process)
        if update is not None:
            update.type = op.type
            update.complete_pos = pos
        elif inv.f == read_f and op.type == "ok" and isinstance(op.value, list):
            elements = {_key(v) for v in op.value}
            duplicated += len(op.value) - len(elements)
            node = inv.node if inv.node is not None else op.node
            reads.append(_Read(invoke_pos, pos, op, node, _final(inv) or _final(op), elements))

    unexpected = _unexpected(adds, reads)
    finals = [r for r in reads if r.final]
    lost = _lost(adds, removes, finals)
    convergence, divergent, final_sets = _convergence(adds, removes, finals)

    valid: Validity
    reason = None
    if lost or unexpected or divergent:
        valid = False
    elif not reads:
        valid, reason = UNKNOWN, "nothing to judge: no read succeeded"
    elif not finals:
        valid, reason = UNKNOWN, "no final read succeeded: losses and convergence not judged"
    else:
        valid = True
    lost_list = sorted(lost.values(), key=lambda d: d["add_index"])
    extra = {} if reason is None else {"reason": reason}
    return result(
        "or-set",
        valid,
        headline=HEADLINE,
        add_count=sum(len(a) for a in adds.values()),
        remove_count=sum(len(r) for r in removes.values()),
        read_count=len(reads),
        final_read_count=len(finals),
        lost_count=len(lost_list),
        lost=lost_list[:LIST_LIMIT],
        first_lost=lost_list[0]["text"] if lost_list else None,
        unexpected_count=len(unexpected),
        unexpected=unexpected[:LIST_LIMIT],
        convergence=convergence,
        divergent_final_reads=divergent,
        final_reads=final_sets[:LIST_LIMIT],
        duplicated_count=duplicated,
        **extra,
    )


def _unexpected(adds: dict[Hashable, list[_Update]], reads: list[_Read]) -> list[dict[str, Any]]:
    """Elements some read held before any add of them that did not fail was invoked: the
    first such read of each."""
    earliest = {e: min((a.invoke_pos for a in ups if a.type != "fail"), default=_NEVER)
                for e, ups in adds.items()}
    found: dict[Hashable, dict[str, Any]] = {}
    for r in reads:
        for e in r.elements:
            if e not in found and earliest.get(e, _NEVER) > r.complete_pos:
                found[e] = {"element": e, "read_index": r.index, "node": r.node}
    return sorted(found.values(), key=lambda d: d["read_index"])


def _lost(
    adds: dict[Hashable, list[_Update]],
    removes: dict[Hashable, list[_Update]],
    finals: list[_Read],
) -> dict[int, dict[str, Any]]:
    """Acknowledged adds that some final read lacks and no remove could have observed (module
    docstring), keyed by the add's index."""
    lost: dict[int, dict[str, Any]] = {}
    for f in finals:
        for e, ups in adds.items():
            if e in f.elements:
                continue
            # The removes of e that could have taken effect before f completed.
            effective = [r for r in removes.get(e, ()) if r.type != "fail"
                         and r.invoke_pos < f.complete_pos]
            if any(r.type != "ok" for r in effective):
                continue  # an indefinite remove could have observed any add
            observed_before = max((r.complete_pos for r in effective), default=-1)
            for a in ups:
                if (a.type != "ok" or a.complete_pos > f.invoke_pos
                        or a.invoke_pos < observed_before):
                    continue
                detail = lost.get(a.index)
                if detail is None:
                    latest = max(effective, key=lambda r: r.complete_pos, default=None)
                    detail = lost[a.index] = {
                        "element": e,
                        "add_index": a.index,
                        "add_node": a.node,
                        "latest_remove_index": None if latest is None else latest.index,
                        "missing_from_final": [],
                        "text": _lost_text(e, a, latest, f),
                    }
                missing = detail["missing_from_final"]
                if len(missing) < LIST_LIMIT:
                    missing.append({"node": f.node, "index": f.index})
    return lost


def _lost_text(e: Hashable, a: _Update, latest: _Update | None, f: _Read) -> str:
    where = f" at {a.node}" if a.node is not None else ""
    why = ("no remove of it took effect" if latest is None else
           f"the latest remove that could have (operation {latest.index}) completed before "
           "the add was invoked")
    reader = f" at {f.node}" if f.node is not None else ""
    return (f"add of {e!r}{where} (operation {a.index}) was acknowledged, the final read"
            f"{reader} (operation {f.index}) lacks it, and {why}")


def _convergence(
    adds: dict[Hashable, list[_Update]],
    removes: dict[Hashable, list[_Update]],
    finals: list[_Read],
) -> tuple[str, int, list[dict[str, Any]]]:
    """Whether the final reads agree (module docstring): a word, how many final reads differ
    from the most common set (0 when not judged), and each final read's node and set."""
    listed = [{"node": r.node, "index": r.index, "value": _listed(r.elements)} for r in finals]
    if len(finals) < 2:
        return "not judged: fewer than two final reads", 0, listed
    first_invoke = min(r.invoke_pos for r in finals)
    during = sum(1 for ups in (*adds.values(), *removes.values()) for u in ups
                 if u.invoke_pos > first_invoke)
    if during:
        return f"not judged: {during} update(s) ran during the final reads", 0, listed
    counts: dict[frozenset[Hashable], int] = {}
    for r in finals:
        key = frozenset(r.elements)
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return "agree", 0, listed
    return "disagree", len(finals) - max(counts.values()), listed


def _listed(elements: set[Hashable]) -> list[Any]:
    items: list[Any] = list(elements)
    try:
        items.sort()
    except TypeError:  # mixed types: any stable order will do for a report
        items.sort(key=repr)
    return items
