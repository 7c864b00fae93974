"""What a model is, and the small values every model shares.

A `Model` is a frozen value made of plain functions, as Porcupine's `Model` struct is: no
subclassing, no dispatch on a name. The search (`checker.search`) and the explanations
(`checker.explain`) use only what is declared here:

- `compile(f, invoked, completed, status, semantics)`: a history operation as a small hashable
  call such as `("w", 3)`, or `None` when it neither changes nor constrains the state (a read
  that observed nothing); raises `ModelError` for an operation the model does not know.
- `step(state, call)`: the state after the call, or `IMPOSSIBLE`. It must be pure and
  deterministic: the search memoises every transition.
- `start(init)`: the initial state from the user's `init` (already `freeze`d).
- `partition_key(value)`: the key an operation's value belongs to, for models split per key
  (P-compositionality); `None` for models that are not split.
- `is_observer(call)`: the call never changes any state (a read, a failed compare): the search
  places an observer that fits at once, with no alternative tried.
- `grows(call)` and `may_grow_into(state, observer)`: calls that only extend the state (appends,
  set adds), and whether such calls could take `state` to one that `observer` accepts: the
  search drops a configuration early when they could not.
- `needs(call)` and `describe_state(state)`: words for explanations.

States and calls are hashable values (`freeze` turns decoded JSON/EDN into such), so the search
keeps them in dicts and sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

Call = tuple[Any, ...]


class ModelError(ValueError):
    """An operation the model does not understand. The message names the operation."""


class _Impossible:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IMPOSSIBLE"


IMPOSSIBLE: Any = _Impossible()  # what `step` returns for a call that cannot happen


def freeze(value: Any) -> Any:
    """A hashable equivalent of a decoded JSON/EDN value (lists become tuples)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value


def show(value: Any) -> str:
    """A state or value as a user reads it (EDN-like: nil for None)."""
    if value is None:
        return "nil"
    if isinstance(value, frozenset):
        return "#{" + " ".join(sorted(show(v) for v in value)) + "}"
    if isinstance(value, tuple):
        return "[" + " ".join(show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def pair(value: Any, what: str) -> tuple[Any, Any]:
    """The two halves of a `[from, to]` or `[key, value]` value, or a `ModelError`."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    raise ModelError(f"{what}: expected a [from, to] pair, got {value!r}")


class Compile(Protocol):
    """`status` is `ok`, `info` (also for operations that never completed) or, under porcupine
    semantics only, `fail`: under knossos semantics a `fail` never reaches the model."""

    def __call__(
        self, f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
    ) -> Call | None: ...


def _never(call: Call) -> bool:
    return False


def _may_grow_into(state: Any, observer: Call) -> bool:
    return True


def _always_possible(call: Call) -> str:
    return "nothing (it is always possible)"


@dataclass(frozen=True, slots=True)
class Model:
    """A named sequential specification; `init` is the starting value (per key when split).

    Build one with `checker.models.make(name, init)`; a model module declares its `MODEL`
    with `init=None`. See the module docstring for what each function must do.
    """

    name: str
    summary: str  # one line: the operations and the state, for tables and --help
    expected: str  # the operations it knows, for an error about one it does not
    compile: Compile
    step: Callable[[Any, Call], Any]
    init: Any = None
    start: Callable[[Any], Any] = freeze
    partition_key: Callable[[Any], Any] | None = None
    is_observer: Callable[[Call], bool] = _never
    grows: Callable[[Call], bool] = _never
    may_grow_into: Callable[[Any, Call], bool] = _may_grow_into
    needs: Callable[[Call], str] = _always_possible
    describe_state: Callable[[Any], str] = show

    @property
    def is_partitioned(self) -> bool:
        """Whether the history is split per key and each key checked on its own."""
        return self.partition_key is not None

    def initial_state(self) -> Any:
        return self.start(self.init)

    def starting_from(self, init: Any) -> Model:
        """The same model starting from `init` (frozen)."""
        return replace(self, init=freeze(init))
