"""`set`: a grow-only set (Knossos's `set`; for a whole-history set check see set-full).

Operations: `add` of an element, `read` completing with every element (a list, in any order).
The state is a frozenset (`init`: the starting elements). Calls: `("add", v)` and
`("read", frozenset)`; a read that did not complete `ok` constrains nothing.

Adds only grow the set, so while only adds can happen before a read must take effect, a state
that is not a subset of what the read saw is dead (`may_grow_into`).
"""

from __future__ import annotations

from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model, ModelError, freeze, show

_EXPECTED = "it knows add and read"


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    if f == "add":
        return None if status == "fail" else ("add", freeze(invoked))
    if f == "read":
        if status != "ok" or completed is None:
            return None
        return ("read", frozenset(freeze(v) for v in completed))
    raise ModelError(f"the set model has no operation {f!r}; {_EXPECTED}")


def start(init: Any) -> frozenset[Any]:
    return frozenset(freeze(init or ()))


def step(elements: frozenset[Any], call: Call) -> Any:
    if call[0] == "add":
        return elements | {call[1]}
    return elements if elements == call[1] else IMPOSSIBLE  # ("read", seen)


def is_observer(call: Call) -> bool:
    return call[0] == "read"


def grows(call: Call) -> bool:
    return call[0] == "add"


def may_grow_into(elements: Any, observer: Call) -> bool:
    """Whether adds could take `elements` to the set a read `observer` saw."""
    if observer[0] == "read" and isinstance(elements, frozenset):
        return elements <= observer[1]
    return True


def needs(call: Call) -> str:
    if call[0] == "read":
        return f"the set to be {show(call[1])}"
    return "nothing (it is always possible)"


MODEL = Model(
    name="set",
    summary="add, read (the whole set); the state is the set",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    start=start,
    is_observer=is_observer,
    grows=grows,
    may_grow_into=may_grow_into,
    needs=needs,
)
