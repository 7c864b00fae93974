"""`register`: one value, read and written (Knossos's and Porcupine's register).

Operations: `read` (or `get`) completing with the value seen, `write` (or `put`) of a value.
The state is the value, `init` at the start (default nil). Calls: `("r", v)`, `("w", v)`.

The register family (this, `cas-register` and `kv`) shares `compile_register`, which holds the
per-format rules: under `knossos` semantics (ours, Jepsen's) a read that completed with nil
observed nothing; under `porcupine` semantics it saw the register absent, and a failed cas is
the observation `("!cas", from)`: the compare failed, nothing was written.
"""

from __future__ import annotations

from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model, ModelError, freeze, pair, show


def compile_register(
    f: str,
    invoked: Any,
    completed: Any,
    status: str,
    semantics: str,
    *,
    model: str,
    expected: str,
    cas: bool = False,
    append: bool = False,
) -> Call | None:
    """A register-family operation as a call; `cas` and `append` say which the model knows."""
    if f in ("read", "get"):
        if status != "ok":
            return None
        if completed is None and semantics != "porcupine":
            return None  # Knossos: a read that returned nil observed nothing
        return ("r", freeze(completed))
    if f in ("write", "put"):
        return None if status == "fail" else ("w", freeze(invoked))
    if f == "append" and append:
        return None if status == "fail" else ("a", freeze(invoked))
    if f == "cas" and cas:
        old, new = pair(invoked, "cas")
        if status == "fail":
            return ("!cas", freeze(old))
        return ("cas", freeze(old), freeze(new))
    raise ModelError(f"the {model} model has no operation {f!r}; {expected}")


def needs(call: Call) -> str:
    """What the value must be for a register-family call to be possible, in words."""
    tag = call[0]
    if tag in ("r", "cas"):
        return f"the value to be {show(call[1])}"
    if tag == "!cas":
        return f"the value not to be {show(call[1])}"
    return "nothing (it is always possible)"


def is_observer(call: Call) -> bool:
    return call[0] in ("r", "!cas")


_EXPECTED = "it knows read and write (use --model cas-register for cas)"


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    return compile_register(
        f, invoked, completed, status, semantics, model="register", expected=_EXPECTED
    )


def step(state: Any, call: Call) -> Any:
    if call[0] == "r":
        return state if state == call[1] else IMPOSSIBLE
    return call[1]  # ("w", v)


MODEL = Model(
    name="register",
    summary="read, write; the state is the value (init, default nil)",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    is_observer=is_observer,
    needs=needs,
)
