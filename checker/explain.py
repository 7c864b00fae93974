"""Why a history is not linearizable, in terms a person can check by hand.

`explain_failure(entries, model, outcome, key=..., time_limit_s=...)` takes the entries of the
key that failed (see `checker.search`; `checker.linearizability.check` calls it) and returns
a JSON-able dict:

- `op`: the operation that could not be placed: at its return, no linearization of everything
  before it could also fit it; `needed`: what the state would have had to be (for a read of 4,
  "the value to be 4"); `possible_states`: every state the object could have been in while
  that operation was pending.
- `longest_prefix`: the longest linearization found before the failure, as operations with the
  state after each: the story that got furthest.
- `minimal_ops`: a smallest set of this key's operations that is already not linearizable on
  its own, found by delta debugging (remove chunks, then single operations, while the rest still
  fails); `minimal` says whether the search for it finished within its budget (if not, the set
  is smaller than the history but maybe not 1-minimal).
- `preceding`: the last few operations that changed the state and had completed before `op`
  was invoked (latest first): real time puts them before it in every linearization, so they
  are what the state had to go through. `enablers`: a few operations after which `op` would
  have fitted (the writes of the value a read saw), latest invoked first: where what it needed
  came from, and what real time then made impossible.
- `text`: all of that as a few readable lines; `render(result)` prints a whole result.

Every operation is `checker.search.op_json`'s dict, with its invocation and completion times.
A result must stay small however long the history, so the lists are bounded: the last
`PREFIX_MAX` steps of the longest prefix (`longest_prefix_count` counts them all), at most
`STATES_MAX` possible states (`possible_states_count`) and `MINIMAL_MAX` operations of the
smallest set (`minimal_ops_count`).

Explanations cost extra searches, so they are bounded by `time_limit_s` and degrade (fewer
fields, `complete: false`) rather than run long. The HTML report draws the failing key's
timeline from these fields (`checker.views.linearizability`).
"""

from __future__ import annotations

import time
from typing import Any

from checker.models import IMPOSSIBLE, Model, show
from checker.search import Entry, Outcome, dfs_steps, frontier_search, op_json, run, show_key

_SHOWN_PREFIX_OPS = 8
_SHOWN_MINIMAL_OPS = 20
PREFIX_MAX = 200  # steps of the longest prefix kept in a result: its end, next to the failure
STATES_MAX = 50  # possible states listed
MINIMAL_MAX = 200  # operations of the smallest failing set listed (a cut-short one may be big)
PRECEDING_MAX = 3
ENABLERS_MAX = 5
_ENABLER_STATES_MAX = 64  # states tried when looking for enablers


def explain_failure(
    entries: list[Entry],
    model: Model,
    outcome: Outcome,
    *,
    key: Any = None,
    time_limit_s: float = 5.0,
) -> dict[str, Any]:
    """Explain why `entries` (one key's operations) are not linearizable. See module doc."""
    deadline = time.monotonic() + time_limit_s
    found = frontier_search(entries, model, deadline=deadline, track=True)
    failure: dict[str, Any] = {"key": show_key(key), "complete": False}
    if found.valid is not False or found.failed is None:
        failure["text"] = (
            f"{_key_text(key)}not linearizable; the explanation ran out of time "
            "(raise --time-limit for one)"
        )
        return failure
    x = found.failed
    failure["op"] = op_json(x)
    failure["needed"] = model.needs(x.call)
    failure["possible_states"] = [
        model.describe_state(s) for s in found.states_seen[:STATES_MAX]
    ]
    failure["possible_states_count"] = len(found.states_seen)
    failure["longest_prefix"] = [
        {**(op_json(e) or {}), "state_after": model.describe_state(state)}
        for e, state in found.witness[-PREFIX_MAX:]
    ]
    failure["longest_prefix_count"] = len(found.witness)
    relevant = [e for e in entries if e.call_pos < (x.return_pos or 0)]
    failure["preceding"] = [op_json(e) for e in preceding(relevant, model, x)]
    states = [model.initial_state(), *found.states_seen, *(s for _, s in found.witness)]
    failure["enablers"] = [
        op_json(e) for e in enablers(relevant, model, x, states, deadline=deadline)
    ]
    minimal, is_minimal = minimise(relevant, model, deadline=deadline, keep=x)
    ordered = sorted(minimal, key=lambda e: e.call_pos)
    failure["minimal_ops"] = [op_json(e) for e in ordered[:MINIMAL_MAX]]
    failure["minimal_ops_count"] = len(ordered)
    failure["minimal"] = is_minimal
    failure["complete"] = is_minimal
    failure["text"] = _text(failure, key)
    return failure


def preceding(entries: list[Entry], model: Model, x: Entry) -> list[Entry]:
    """The last `PRECEDING_MAX` definite operations that change the state and returned before
    `x` was invoked, latest return first: every linearization places them before `x`."""
    before = [
        e for e in entries
        if e.return_pos is not None and e.return_pos < x.call_pos and not model.is_observer(e.call)
    ]  # fmt: skip
    before.sort(key=lambda e: e.return_pos or 0, reverse=True)
    return before[:PRECEDING_MAX]


def enablers(
    entries: list[Entry], model: Model, x: Entry, states: list[Any], *, deadline: float
) -> list[Entry]:
    """Up to `ENABLERS_MAX` operations (latest invoked first) that take one of `states` to a
    state `x` fits: for a read, the writes of the value it saw. Only the states given are
    tried (the ones the search met), so a cas whose compare never matched them is missed;
    past `deadline` it answers what it found so far."""
    tried: list[Any] = []
    for s in states:
        if s not in tried:
            tried.append(s)
        if len(tried) >= _ENABLER_STATES_MAX:
            break
    found: list[Entry] = []
    for n, e in enumerate(sorted(entries, key=lambda e: e.call_pos, reverse=True)):
        if not n % 256 and time.monotonic() > deadline:
            break
        if e is x or model.is_observer(e.call):
            continue
        for s in tried:
            after = model.step(s, e.call)
            if after is not IMPOSSIBLE and model.step(after, x.call) is not IMPOSSIBLE:
                found.append(e)
                break
        if len(found) >= ENABLERS_MAX:
            break
    return found


def _is_invalid(entries: list[Entry], model: Model, deadline: float) -> bool:
    return run(dfs_steps(entries, model, deadline=deadline)).valid is False


def _supporters(entries: list[Entry], model: Model) -> dict[int, set[int]]:
    """For each operation that cannot happen first, the operations that could enable it.

    `supporters[id(y)]` holds the ids of the operations `e` such that `y` fits the state
    after `e` alone, from the initial state. Operations that fit the initial state, and those
    that no single operation enables, are left out: they need nothing kept.
    """
    init = model.initial_state()
    after = [(id(e), model.step(init, e.call)) for e in entries]
    supporters: dict[int, set[int]] = {}
    for y in entries:
        if model.step(init, y.call) is not IMPOSSIBLE:
            continue
        enabling = {
            eid
            for eid, state in after
            if eid != id(y)
            and state is not IMPOSSIBLE
            and model.step(state, y.call) is not IMPOSSIBLE
        }
        if enabling:
            supporters[id(y)] = enabling
    return supporters


def minimise(
    entries: list[Entry], model: Model, *, deadline: float, keep: Entry | None = None
) -> tuple[list[Entry], bool]:
    """A subset of `entries` that is still not linearizable, and whether it is 1-minimal.

    Delta debugging: try removing chunks of halving size, keeping every removal after which
    the rest still fails; finish with single operations until none can go. The set always
    keeps `keep` (the operation that could not be placed), and never drops the last operation
    that could produce what another one in the set needs (the write of the value a read saw):
    without that rule the smallest failing set of a stale read is the read alone, which is
    true and useless; with it, the set shows the write it saw and the write that overwrote it.
    """
    current = list(entries)
    if not _is_invalid(current, model, deadline):
        return current, False
    supporters = _supporters(current, model)

    def still_fails(trial: list[Entry]) -> bool:
        if not trial or (keep is not None and keep not in trial):
            return False
        ids = {id(e) for e in trial}
        for e in trial:
            needed = supporters.get(id(e))
            if needed is not None and ids.isdisjoint(needed):
                return False
        return _is_invalid(trial, model, deadline)

    chunk = max(1, len(current) // 2)
    while True:
        changed = False
        i = 0
        while i < len(current):
            if time.monotonic() > deadline:
                return current, False
            trial = current[:i] + current[i + chunk :]
            if still_fails(trial):
                current = trial
                changed = True
            else:
                i += chunk
        if chunk == 1 and not changed:
            return current, True
        chunk = max(1, chunk // 2)


def _key_text(key: Any) -> str:
    return "" if key is None else f"key {show(key)}: "


def describe_op(op: dict[str, Any] | None) -> str:
    if op is None:
        return "?"
    value = op["value"]
    text = f"{op['f']} {show(_plain(value))}"
    if op["type"] == "ok" and op["result"] is not None and op["f"] in ("read", "get", "dequeue"):
        text = f"{op['f']} -> {show(_plain(op['result']))}"
    suffix = {"info": " (info)", "fail": " (failed)"}.get(op["type"], "")
    return f"#{op['index']} p{op['process']} {text}{suffix}"


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _text(failure: dict[str, Any], key: Any) -> str:
    states = failure["possible_states"]
    lines = [
        f"{_key_text(key)}operation {describe_op(failure['op'])} could not be placed: it needs "
        f"{failure['needed']}, but while it was pending the state could only be "
        f"{', '.join(states) if states else 'nothing'}."
    ]
    prefix = failure["longest_prefix"]
    prefix_count = failure.get("longest_prefix_count", len(prefix))
    lines.append(
        f"Longest linearizable prefix: {prefix_count} operations" + (", ending:" if prefix else ".")
    )
    for step in prefix[-_SHOWN_PREFIX_OPS:]:
        lines.append(f"  {describe_op(step)}  => {step['state_after']}")
    minimal = failure["minimal_ops"]
    minimal_count = failure.get("minimal_ops_count", len(minimal))
    qualifier = "smallest" if failure["minimal"] else "a smaller (search cut short)"
    lines.append(
        f"{qualifier.capitalize()} set that cannot be linearized: {minimal_count} operations:"
    )
    for op in minimal[:_SHOWN_MINIMAL_OPS]:
        lines.append(f"  {describe_op(op)}")
    if minimal_count > _SHOWN_MINIMAL_OPS:
        lines.append(f"  ... and {minimal_count - _SHOWN_MINIMAL_OPS} more (results.json)")
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    """A linearizability result as a few lines of text (the CLI's non-JSON output)."""
    valid = result["valid"]
    head = {True: "linearizable", False: "NOT linearizable"}.get(valid, "unknown")
    lines = [
        f"{head} ({result.get('model')}, {result.get('op_count', 0)} ops, "
        f"{result.get('key_count', 0)} keys, {result.get('configs_explored', 0)} configurations, "
        f"{result.get('time_s', 0):.3f} s)"
    ]
    if "unknown" in result:
        unknown = result["unknown"]
        unfinished = unknown.get("keys_unfinished", {})
        hint = "; raise --time-limit to search further" if unfinished else ""
        lines.append(f"  {unknown['reason']}{hint}")
        for key, got in list(unfinished.items())[:3]:
            lines.append(
                f"  {_key_text(key) or 'history: '}at most {got['returns_placed']} of "
                f"{got['returns_total']} completed operations placed in order, "
                f"{got['configs_explored']} configurations explored"
            )
        if len(unfinished) > 3:
            lines.append(f"  ... and {len(unfinished) - 3} more unfinished keys")
    failure = result.get("failure")
    if failure is not None:
        text = failure.get("text") or f"{_key_text(failure.get('key'))}not linearizable"
        lines.extend("  " + line for line in text.split("\n"))
    return "\n".join(lines)
