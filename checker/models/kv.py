"""`kv`: a key-value store, checked as one cas-register per key (Jepsen's `independent`).

Every operation's value is `[key, v]` (`[key, [from, to]]` for cas): that is Jepsen's
independent encoding and what our lin-kv histories record; `partition_key` reads the key, and
the search checks each key on its own (P-compositionality). Per key: `read`/`get`,
`write`/`put`, `cas` as in `cas-register`, and `append`: to an absent value it starts from the
empty string (string values) or the empty tuple. The state is the key's value, `init` at the
start of every key.

Appends only grow the value, so while only appends can happen before a read must take effect,
a value that is not a prefix of what the read saw is dead (`may_grow_into`).
"""

from __future__ import annotations

from typing import Any

from checker.models import cas_register
from checker.models._core import IMPOSSIBLE, Call, Model, ModelError, freeze, pair
from checker.models.register import compile_register, is_observer, needs

_EXPECTED = "it knows read/get, write/put, append and cas, on values [key, v]"


def partition_key(value: Any) -> Any:
    """The key of a kv operation's value `[key, v]`."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return freeze(value[0])
    raise ModelError(
        f"a kv operation's value must be [key, value], got {value!r}; choose another "
        "--model for single-register histories"
    )


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    if invoked is not None:
        _, invoked = pair(invoked, f"kv {f}")
    if completed is not None and status == "ok":
        _, completed = pair(completed, f"kv {f} completion")
    else:
        completed = None
    return compile_register(
        f, invoked, completed, status, semantics, model="kv", expected=_EXPECTED,
        cas=True, append=True,
    )  # fmt: skip


_cas_step = cas_register.step


def step(state: Any, call: Call) -> Any:
    """The key's value after `call`, or `IMPOSSIBLE`."""
    if call[0] != "a":
        return _cas_step(state, call)
    if state is None:
        state = "" if isinstance(call[1], str) else ()
    if isinstance(state, str):
        return state + call[1] if isinstance(call[1], str) else IMPOSSIBLE
    return (*state, call[1]) if isinstance(state, tuple) else IMPOSSIBLE


def grows(call: Call) -> bool:
    return call[0] == "a"


def may_grow_into(state: Any, observer: Call) -> bool:
    """Whether appends could take `state` to the value a read `observer` saw."""
    if observer[0] != "r" or state is None:
        return True
    target = observer[1]
    if isinstance(state, str):
        return isinstance(target, str) and target.startswith(state)
    if isinstance(state, tuple):
        return isinstance(target, tuple) and target[: len(state)] == state
    return True


MODEL = Model(
    name="kv",
    summary="per key: read/get, write/put, append, cas on [key, v]; split per key",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    partition_key=partition_key,
    is_observer=is_observer,
    grows=grows,
    may_grow_into=may_grow_into,
    needs=needs,
)
