"""`mutex`: a lock without owners (Knossos's `mutex`).

Operations: `acquire` and `release`, no values. The state is whether the lock is held (`init`
truthy: held at the start). An acquire of a held lock, or a release of a free one, is
impossible. Calls: `("acquire",)`, `("release",)`. Owners and fencing tokens are not modelled.
"""

from __future__ import annotations

from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model, ModelError

_EXPECTED = "it knows acquire and release"


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    if f in ("acquire", "release"):
        return None if status == "fail" else (f,)
    raise ModelError(f"the mutex model has no operation {f!r}; {_EXPECTED}")


def step(held: bool, call: Call) -> Any:
    if call[0] == "acquire":
        return IMPOSSIBLE if held else True
    return False if held else IMPOSSIBLE  # ("release",)


def needs(call: Call) -> str:
    return "the lock to be free" if call[0] == "acquire" else "the lock to be held"


def describe_state(held: Any) -> str:
    return "held" if held else "free"


MODEL = Model(
    name="mutex",
    summary="acquire, release; the state is held or free",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    start=bool,
    needs=needs,
    describe_state=describe_state,
)
