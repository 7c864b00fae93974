"""The linearizability search: Wing and Gong's depth-first search with Lowe's memoisation.

This is the performance-tuned core that `checker.linearizability.check` drives and
`checker.explain` reruns; it knows nothing of results or explanations. Use it through
`entries_from_history(ops, model)` (pair and compile a history), `partition(entries, model)`
(split per key), and `run_keys(groups, model, ...)`, or `run(dfs_steps(entries, model))` for one
key, which returns an `Outcome`.

The verdict comes from Wing and Gong's depth-first search with Lowe's memoisation of
(linearized operations, state), as Porcupine does it (`dfs_steps`):

- A configuration is one Python int: linearized-operation bits above a 24-bit state number.
  Transitions are memoised per operation in a dict from state number to state number, so the
  inner loop makes no model calls. The candidates at a configuration are the operations invoked
  before the earliest return still unplaced.
- P-compositionality: models that allow it (kv) are split per key; keys are searched in turns
  (`run_keys`) and the first invalid key ends the search, as Porcupine's parallel search does.
- Exact reductions: a pure observer (a read) that fits the current state is placed at once with
  no alternative tried; while only appends or adds can happen before a pending read takes
  effect, a state that cannot grow into the value read is dead (`Model.may_grow_into`).
- `info` operations, and invocations that never completed, stay pending to the end of the
  history: they may take effect at any later time or never, and the search succeeds once every
  definite operation is placed. An `info` operation is never placed where it would not change
  the state (the same as "never"), and identical ones are tried in invocation order only.

An invalid history is explained (by `checker.explain`) with Lowe's "just in time"
breadth-first search (`frontier_search`): walking the events in real-time order it keeps every
configuration reachable so far, so at the return that no configuration can place it knows the
operation, every state that operation met, and the longest linearization. The frontier also
drops a configuration when another has the same state and obligations but used a subset of the
`info` operations.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Any

from checker.history import HistoryError, Op, client_ops, pair
from checker.models import IMPOSSIBLE, Model, ModelError
from checker.result import UNKNOWN, Validity

SEMANTICS = ("knossos", "porcupine")
_STATE_BITS = 24
_STATE_MASK = (1 << _STATE_BITS) - 1
BYTES_PER_CONFIG = 100  # about what one configuration costs: the memory budget's unit


@dataclass(slots=True, eq=False)
class Entry:
    """One operation as the search sees it: its interval and its compiled call."""

    call_pos: int
    return_pos: int | None  # None: info, or never completed: open until the end
    call: tuple[Any, ...]
    invoke: Op
    completion: Op | None
    key: Any = None

    @property
    def is_info(self) -> bool:
        return self.return_pos is None


@dataclass(slots=True)
class Outcome:
    """What one search over one key found."""

    valid: Validity
    events_done: int = 0
    events_total: int = 0
    configs_explored: int = 0
    frontier_size: int = 0
    failed: Entry | None = None
    states_seen: list[Any] = field(default_factory=list)
    witness: list[tuple[Entry, Any]] = field(default_factory=list)
    stopped_by: str | None = None


class _OutOfBudget(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def entries_from_history(
    ops: Iterable[Op], model: Model, *, semantics: str = "knossos"
) -> list[Entry]:
    """Pair and compile a history's client operations into search entries.

    Raises `HistoryError` for a malformed history, naming the operation and what to fix.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be one of {SEMANTICS}, not {semantics!r}")
    ops = client_ops(ops)
    position = {id(op): pos for pos, op in enumerate(ops)}
    entries = []
    partition_key, compile_op = model.partition_key, model.compile
    for inv, comp in pair(ops):
        if comp is not None and comp.f != inv.f:
            raise HistoryError(
                f"operation {comp.index}: process {inv.process!r} invoked {inv.f!r} (operation "
                f"{inv.index}) but completed {comp.f!r}; a completion repeats its invocation's f"
            )
        status = "info" if comp is None else comp.type
        if status == "fail" and semantics == "knossos":
            continue
        try:
            key = None if partition_key is None else partition_key(inv.value)
            call = compile_op(
                inv.f, inv.value, None if comp is None else comp.value, status, semantics
            )
        except ModelError as e:
            raise HistoryError(f"operation {inv.index} (process {inv.process!r}): {e}") from None
        if call is None:
            continue
        done = comp is not None and status != "info"
        entries.append(
            Entry(position[id(inv)], position[id(comp)] if done else None, call, inv, comp, key)
        )
    return entries


def dfs_steps(
    entries: list[Entry],
    model: Model,
    *,
    deadline: float | None = None,
    max_configs: int | None = None,
    slice_configs: int = 4096,
) -> Generator[None, None, Outcome]:
    """Wing-Gong depth-first search with Lowe's cache, as a generator.

    It yields after every `slice_configs` new configurations so that a caller can interleave
    the keys of a partitioned history (and stop at the first invalid key, as Porcupine's
    parallel search does), and returns its `Outcome`. Use `run(dfs_steps(...))` for one key.

    Operations carry one bit each, in this order: definite identity-like operations (reads,
    failed compares), other definite operations, each by return time, then `info` operations.
    A configuration is `(linearized bits << 24) | state number`. At a configuration the
    candidates are the unlinearized operations invoked before the earliest pending return.
    Two exact reductions: an observer (an operation that never changes any state, such as a
    read) that fits the current state is taken at once with no alternative tried (moving it
    earlier, to a point where it already fits, cannot break a linearization; this holds only
    for operations that change no state at all, not for a write that happens to rewrite the
    same value), and an `info` operation is skipped where it would not change the
    state, and tried only after identical `info` operations invoked before it.
    """
    order = sorted(
        entries,
        key=lambda e: (
            (2, e.call_pos)
            if e.return_pos is None
            else (0 if model.is_observer(e.call) else 1, e.return_pos)
        ),
    )
    n = len(order)
    definite = sorted(
        (i for i, e in enumerate(order) if e.return_pos is not None),
        key=lambda i: order[i].return_pos or 0,
    )
    full = 0
    for i in definite:
        full |= 1 << i
    outcome = Outcome(True, events_total=len(definite))
    if not full:
        return outcome
    return_bits = [1 << i for i in definite]
    # callable_before[p]: every operation invoked before the p-th return.
    by_call = sorted(range(n), key=lambda i: order[i].call_pos)
    callable_before = []
    acc = j = 0
    for i in definite:
        ret = order[i].return_pos or 0
        while j < n and order[by_call[j]].call_pos < ret:
            acc |= 1 << by_call[j]
            j += 1
        callable_before.append(acc)
    # Growth pruning: a read that is invoked but not yet placed must take effect later. If
    # nothing invoked before that read returns can shrink or replace the state (no unplaced
    # write or cas, only appends or adds), the state can only grow until then, so it must
    # already be on the way to the value read; if not, the configuration is dead.
    # watched: definite reads of models that grow; breakers_of[i]: the operations invoked
    # before read i returns that neither observe nor only grow the state.
    watched = 0
    breakers_of: dict[int, int] = {}
    if any(model.grows(e.call) for e in order):
        breaking = 0
        for i, e in enumerate(order):
            if not model.is_observer(e.call) and not model.grows(e.call):
                breaking |= 1 << i
        for q, i in enumerate(definite):
            if model.is_observer(order[i].call):
                watched |= 1 << i
                breakers_of[i] = callable_before[q] & breaking
    viable: dict[tuple[int, int], bool] = {}
    states: list[Any] = [model.initial_state()]
    state_ids: dict[Any, int] = {states[0]: 0}
    step = model.step
    last_of_class: dict[tuple[Any, ...], int] = {}
    ops: list[tuple[dict[int, int], bool, int, tuple[Any, ...], bool]] = []
    for i, e in enumerate(order):
        prev = 0
        if e.return_pos is None:
            prev = last_of_class.get(e.call, 0)
            last_of_class[e.call] = 1 << i
        ops.append(({}, e.return_pos is None, prev, e.call, model.is_observer(e.call)))
    cache: set[int] = set()
    stack: list[tuple[int, int, int, int]] = []
    lin = sid = p = 0
    cand = callable_before[0]
    explored = 0
    deepest = 0
    limit = max_configs or 1 << 62
    shift = _STATE_BITS
    while True:
        if cand:
            b = cand & -cand
            cand ^= b
            trans, info, prev, call, observer = ops[b.bit_length() - 1]
            if prev and not lin & prev:
                continue
            nsid = trans.get(sid)
            if nsid is None:
                nstate = step(states[sid], call)
                if nstate is IMPOSSIBLE:
                    nsid = -1
                else:
                    nsid = state_ids.get(nstate, -1)
                    if nsid < 0:
                        nsid = len(states)
                        states.append(nstate)
                        state_ids[nstate] = nsid
                trans[sid] = nsid
            if nsid < 0:
                continue
            if nsid == sid:
                if info:
                    continue
                if observer:
                    cand = 0  # an observer that fits now: no alternative is needed
            nlin = lin | b
            key = (nlin << shift) | nsid
            if key in cache:
                continue
            cache.add(key)
            explored += 1
            if nlin & full == full:
                break
            if not explored % slice_configs:
                if deadline is not None and time.monotonic() > deadline:
                    outcome.valid, outcome.stopped_by = UNKNOWN, "time"
                    break
                if len(cache) > limit or nsid > _STATE_MASK:
                    outcome.valid, outcome.stopped_by = UNKNOWN, "memory"
                    break
                yield None
            q = p
            while nlin & return_bits[q]:
                q += 1
            if watched:
                reads = watched & callable_before[q] & ~nlin
                dead = False
                while reads:
                    rb = reads & -reads
                    reads ^= rb
                    r = rb.bit_length() - 1
                    if breakers_of[r] & ~nlin:
                        continue
                    alive = viable.get((nsid, r))
                    if alive is None:
                        alive = model.may_grow_into(states[nsid], ops[r][3])
                        viable[(nsid, r)] = alive
                    if not alive:
                        dead = True
                        break
                if dead:
                    continue
            stack.append((lin, sid, cand, p))
            lin, sid, p = nlin, nsid, q
            if p > deepest:
                deepest = p
            cand = callable_before[p] & ~nlin
        elif stack:
            lin, sid, cand, p = stack.pop()
        else:
            outcome.valid = False
            break
    outcome.configs_explored = explored
    outcome.events_done = len(definite) if outcome.valid is True else deepest
    outcome.frontier_size = len(stack)
    return outcome


def run(steps: Generator[None, None, Outcome]) -> Outcome:
    """Drive a `dfs_steps` generator to its outcome."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def frontier_search(
    entries: list[Entry],
    model: Model,
    *,
    deadline: float | None = None,
    max_configs: int | None = None,
    track: bool = False,
) -> Outcome:
    """Lowe's just-in-time search, breadth-first over the history: used to explain failures.

    It keeps every configuration reachable after each return, so when an operation cannot be
    placed it knows every state the register could have been in (`states_seen`) and, with
    `track`, the longest linearization it found (`witness`). It is slower than `dfs_steps` on
    valid histories with much concurrency, since it never stops at the first linearization.
    """
    states: list[Any] = [model.initial_state()]
    state_ids: dict[Any, int] = {states[0]: 0}
    step = model.step
    events: list[tuple[int, Entry]] = []
    for e in entries:
        events.append((e.call_pos, e))
        if e.return_pos is not None:
            events.append((e.return_pos, e))
    events.sort(key=lambda ev: ev[0])
    frontier: set[int] = {0}
    paths: dict[int, Any] = {0: None}
    pending: list[tuple[int, dict[int, int], bool, int, tuple[Any, ...], Entry]] = []
    record: dict[int, tuple[int, dict[int, int], bool, int, tuple[Any, ...], Entry]] = {}
    free_slots: list[int] = []
    next_slot = 0
    info_mask = 0
    last_of_class: dict[tuple[Any, ...], int] = {}
    explored = 0
    max_configs = max_configs or 1 << 62
    outcome = Outcome(True, events_total=len(events))
    try:
        for n, (pos, x) in enumerate(events):
            outcome.events_done = n
            if pos == x.call_pos:
                if free_slots:
                    slot = heappop(free_slots)
                else:
                    slot = next_slot
                    next_slot += 1
                bit = 1 << (slot + _STATE_BITS)
                prev = 0
                if x.return_pos is None:
                    prev = last_of_class.get(x.call, 0)
                    last_of_class[x.call] = bit
                    info_mask |= bit
                trans: dict[int, int] = {}
                rec = (bit, trans, x.return_pos is None, prev, x.call, x)
                pending.append(rec)
                record[id(x)] = rec
                continue
            if deadline is not None and time.monotonic() > deadline:
                raise _OutOfBudget("time")
            xbit = record[id(x)][0]
            out: set[int] = set()
            out_paths: dict[int, Any] = {}
            seen = set(frontier)
            stack = list(frontier)
            local_paths = paths if track else {}
            while stack:
                c = stack.pop()
                explored += 1
                if not explored & 0x1FFF:
                    if deadline is not None and time.monotonic() > deadline:
                        raise _OutOfBudget("time")
                    if len(seen) + len(out) > max_configs:
                        raise _OutOfBudget("memory")
                if c & xbit:
                    out.add(c ^ xbit)
                    if track:
                        out_paths[c ^ xbit] = local_paths[c]
                    continue
                sid = c & _STATE_MASK
                base = c ^ sid
                for bit, trans, info, prev, call, e in pending:
                    if c & bit or c & prev != prev:
                        continue
                    nsid = trans.get(sid)
                    if nsid is None:
                        nstate = step(states[sid], call)
                        if nstate is IMPOSSIBLE:
                            nsid = -1
                        else:
                            nsid = state_ids.get(nstate, -1)
                            if nsid < 0:
                                nsid = len(states)
                                if nsid > _STATE_MASK:
                                    raise _OutOfBudget("memory")
                                states.append(nstate)
                                state_ids[nstate] = nsid
                        trans[sid] = nsid
                    if nsid < 0 or (info and nsid == sid):
                        continue
                    if bit == xbit:
                        out.add(base | nsid)
                        if track:
                            out_paths[base | nsid] = (e, nsid, local_paths[c])
                        continue
                    nc = base | bit | nsid
                    if nc not in seen:
                        seen.add(nc)
                        stack.append(nc)
                        if track:
                            local_paths[nc] = (e, nsid, local_paths[c])
            if not out:
                outcome.valid = False
                outcome.failed = x
                outcome.states_seen = [states[s] for s in sorted({c & _STATE_MASK for c in seen})]
                if track:
                    longest = max(seen, key=lambda c: _path_len(local_paths[c]))
                    outcome.witness = _unwind(local_paths[longest], states)
                break
            if info_mask and len(out) > 1:
                out = _drop_dominated(out, info_mask)
            frontier = out
            if track:
                paths = {c: out_paths[c] for c in out}
            rec = record.pop(id(x))
            pending.remove(rec)
            heappush(free_slots, rec[0].bit_length() - 1 - _STATE_BITS)
        else:
            outcome.events_done = len(events)
            if track and frontier:
                outcome.witness = _unwind(
                    paths[max(frontier, key=lambda c: _path_len(paths[c]))], states
                )
    except _OutOfBudget as stop:
        outcome.valid = UNKNOWN
        outcome.stopped_by = stop.reason
    outcome.configs_explored = explored
    outcome.frontier_size = len(frontier)
    return outcome


def _drop_dominated(configs: set[int], info_mask: int) -> set[int]:
    """Drop configurations that used a superset of another's info operations, same otherwise."""
    groups: dict[int, list[int]] = {}
    keep_mask = ~info_mask
    for c in configs:
        groups.setdefault(c & keep_mask, []).append(c & info_mask)
    if len(groups) == len(configs):
        return configs
    kept_configs = set()
    for rest, used in groups.items():
        if len(used) == 1:
            kept_configs.add(rest | used[0])
            continue
        used.sort(key=int.bit_count)
        kept: list[int] = []
        for u in used:
            if not any(u & k == k for k in kept):
                kept.append(u)
                kept_configs.add(rest | u)
    return kept_configs


def _path_len(path: Any) -> int:
    n = 0
    while path is not None:
        n += 1
        path = path[2]
    return n


def _unwind(path: Any, states: list[Any]) -> list[tuple[Entry, Any]]:
    steps = []
    while path is not None:
        steps.append((path[0], states[path[1]]))
        path = path[2]
    steps.reverse()
    return steps


def partition(entries: list[Entry], model: Model) -> dict[Any, list[Entry]]:
    """Entries per key (one group, key None, when the model is not split per key)."""
    if not model.is_partitioned:
        return {None: entries}
    groups: dict[Any, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.key, []).append(e)
    return groups


def run_keys(
    groups: dict[Any, list[Entry]],
    model: Model,
    *,
    deadline: float | None,
    max_configs: int | None,
) -> dict[Any, Outcome]:
    """Search every key, interleaved, until all are decided or one is invalid.

    Keys take turns of a few thousand configurations each, so one hard key cannot hide an
    easy invalid one (Porcupine gets the same effect by searching keys in parallel). Keys still
    undecided when another turns out invalid are left out of the answer.
    """
    outcomes: dict[Any, Outcome] = {}
    active = [
        (key, dfs_steps(group, model, deadline=deadline, max_configs=max_configs))
        for key, group in groups.items()
    ]
    while active:
        still = []
        for key, steps in active:
            try:
                next(steps)
            except StopIteration as done:
                outcomes[key] = done.value
                if done.value.valid is False:
                    return outcomes
                continue
            still.append((key, steps))
        active = still
    return outcomes


def show_key(key: Any) -> Any:
    """A key as it appears in a JSON result (keys that are not str or int as their repr)."""
    return key if key is None or isinstance(key, str | int) else repr(key)


def op_json(e: Entry | None) -> dict[str, Any] | None:
    """An entry's operation as a JSON-able dict, for results and explanations."""
    if e is None:
        return None
    comp = e.completion
    return {
        "index": e.invoke.index,
        "process": e.invoke.process,
        "f": e.invoke.f,
        "value": e.invoke.value,
        "type": "info" if comp is None else comp.type,
        "result": None if comp is None else comp.value,
        "completion_index": None if comp is None else comp.index,
        # When it was invoked and completed (ns since the run started, as the history says):
        # what a report needs to draw the operation and say when it happened.
        "time_ns": e.invoke.time,
        "completion_time_ns": None if comp is None else comp.time,
    }
