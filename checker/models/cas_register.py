"""`cas-register`: a register with compare-and-set (Knossos's `cas-register`, Porcupine's etcd).

Operations: `read`/`get`, `write`/`put`, and `cas` with value `[from, to]`: it succeeds, and
writes `to`, only when the value is `from`. The state is the value, `init` at the start.
Calls: `("r", v)`, `("w", v)`, `("cas", from, to)`, and under porcupine semantics a failed cas
is `("!cas", from)`, the observation that the value was not `from` (see `register`).
"""

from __future__ import annotations

from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model
from checker.models.register import compile_register, is_observer, needs

_EXPECTED = "it knows read, write and cas"


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    return compile_register(
        f, invoked, completed, status, semantics, model="cas-register", expected=_EXPECTED,
        cas=True,
    )  # fmt: skip


def step(state: Any, call: Call) -> Any:
    """The value after `call`, or `IMPOSSIBLE`."""
    tag = call[0]
    if tag == "r":
        return state if state == call[1] else IMPOSSIBLE
    if tag == "w":
        return call[1]
    if tag == "cas":
        return call[2] if state == call[1] else IMPOSSIBLE
    return IMPOSSIBLE if state == call[1] else state  # ("!cas", from)


MODEL = Model(
    name="cas-register",
    summary="read, write, cas [from, to]; the state is the value",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    is_observer=is_observer,
    needs=needs,
)
