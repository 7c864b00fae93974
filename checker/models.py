"""Sequential specifications (models) that the linearizability search checks a history against.

A model says what one operation does to a state, with no notion of time or concurrency:
`step(state, call) -> new state`, or `None` when the call could not have returned what it
returned in that state. Models are frozen dataclasses and states are hashable values, so the
search can memoise (operations linearized, state) pairs. Build one with `make(name, init)`:

| name          | operations (`f`)                    | state                                |
|---------------|-------------------------------------|--------------------------------------|
| register      | read, write                         | the value (`init`, default `None`)   |
| cas-register  | read, write, cas `[from, to]`       | the value                            |
| kv            | per key: read/get, write/put, append, cas | the key's value (split per key) |
| mutex         | acquire, release                    | held or not                          |
| fifo-queue    | enqueue, dequeue                    | a tuple, head first                  |
| set           | add, read (the whole set)           | a frozenset                          |

A history operation is first *compiled* (`model.compile(...)`) into a small hashable call such as
`("w", 3)` or `("cas", 1, 2)`, or into `None` when it can neither change the state nor constrain
it (a read that observed nothing): the search then leaves it out. Compilation is where the
per-format semantics live (see `checker.linearizability` for the full rules):

- `knossos` (our histories and Jepsen's): a `fail` did not happen and is dropped before the model
  sees it; a read that completed with `nil` constrains nothing; an `info` op is `status="info"`.
- `porcupine` (Porcupine's logs): a failed cas is the observation `("!cas", from)` (the compare
  failed, nothing was written); a read that completed with `nil` saw the register absent.

For kv the value of every operation is `[key, v]` (`[key, [from, to]]` for cas): that is
Jepsen's `independent` encoding, and what `partition_key` reads to split the history per key.
An `append` to an absent value starts from the empty string (string values) or the empty tuple.

Not modelled yet: counters, fencing locks, unordered queues, multi-key transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL_NAMES = ("register", "cas-register", "kv", "mutex", "fifo-queue", "set")

Call = tuple[Any, ...]


class ModelError(ValueError):
    """An operation the model does not understand. The message names the operation."""


def freeze(value: Any) -> Any:
    """A hashable equivalent of a decoded JSON/EDN value (lists become tuples)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value


def _pair(value: Any, what: str) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    raise ModelError(f"{what}: expected a [from, to] pair, got {value!r}")


@dataclass(frozen=True, slots=True)
class Model:
    """A named sequential specification; `init` is the starting value (per key for kv)."""

    name: str
    init: Any = None

    @property
    def is_partitioned(self) -> bool:
        """Whether the history is split per key and each key checked on its own."""
        return self.name == "kv"

    def initial_state(self) -> Any:
        if self.name == "mutex":
            return bool(self.init)
        if self.name == "fifo-queue":
            return tuple(freeze(self.init or ()))
        if self.name == "set":
            return frozenset(freeze(self.init or ()))
        return freeze(self.init)

    def partition_key(self, value: Any) -> Any:
        """The key of a kv operation's value `[key, v]` (Jepsen's independent tuples)."""
        if isinstance(value, list | tuple) and len(value) == 2:
            return freeze(value[0])
        raise ModelError(
            f"a kv operation's value must be [key, value], got {value!r}; choose another "
            "--model for single-register histories"
        )

    def compile(
        self, f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
    ) -> Call | None:
        """The call an operation makes, or None if it neither changes nor constrains state.

        `status` is `ok`, `info` (also for operations that never completed) or, under porcupine
        semantics only, `fail`. Under knossos semantics a `fail` never reaches the model.
        """
        name = self.name
        if name == "kv":
            _, invoked = _pair(invoked, f"kv {f}") if invoked is not None else (None, None)
            if completed is not None and status == "ok":
                _, completed = _pair(completed, f"kv {f} completion")
            else:
                completed = None
        if name in ("register", "cas-register", "kv"):
            return self._compile_register(f, invoked, completed, status, semantics)
        if name == "mutex":
            if f in ("acquire", "release"):
                return None if status == "fail" else (f,)
        elif name == "fifo-queue":
            if f == "enqueue":
                return None if status == "fail" else ("enq", freeze(invoked))
            if f == "dequeue":
                if status == "info":
                    return ("deq?",)
                return None if status == "fail" else ("deq", freeze(completed))
        elif name == "set":
            if f == "add":
                return None if status == "fail" else ("add", freeze(invoked))
            if f == "read":
                if status != "ok" or completed is None:
                    return None
                return ("read", frozenset(freeze(v) for v in completed))
        raise ModelError(f"the {name} model has no operation {f!r}; {self.expected()}")

    def _compile_register(
        self, f: str, invoked: Any, completed: Any, status: str, semantics: str
    ) -> Call | None:
        kv = self.name == "kv"
        if f in ("read", "get"):
            if status != "ok":
                return None
            if completed is None and semantics != "porcupine":
                return None  # Knossos: a read that returned nil observed nothing
            return ("r", freeze(completed))
        if f in ("write", "put"):
            return None if status == "fail" else ("w", freeze(invoked))
        if f == "append" and kv:
            return None if status == "fail" else ("a", freeze(invoked))
        if f == "cas" and self.name != "register":
            old, new = _pair(invoked, "cas")
            if status == "fail":
                return ("!cas", freeze(old))
            return ("cas", freeze(old), freeze(new))
        raise ModelError(f"the {self.name} model has no operation {f!r}; {self.expected()}")

    def expected(self) -> str:
        return {
            "register": "it knows read and write (use --model cas-register for cas)",
            "cas-register": "it knows read, write and cas",
            "kv": "it knows read/get, write/put, append and cas, on values [key, v]",
            "mutex": "it knows acquire and release",
            "fifo-queue": "it knows enqueue and dequeue",
            "set": "it knows add and read",
        }[self.name]

    def step(self, state: Any, call: Call) -> Any:
        """The state after `call`, or `_IMPOSSIBLE` if `call` could not happen in `state`."""
        tag = call[0]
        if tag == "r":
            return state if state == call[1] else IMPOSSIBLE
        if tag == "w":
            return call[1]
        if tag == "cas":
            return call[2] if state == call[1] else IMPOSSIBLE
        if tag == "!cas":
            return IMPOSSIBLE if state == call[1] else state
        if tag == "a":
            if state is None:
                state = "" if isinstance(call[1], str) else ()
            if isinstance(state, str):
                return state + call[1] if isinstance(call[1], str) else IMPOSSIBLE
            return (*state, call[1]) if isinstance(state, tuple) else IMPOSSIBLE
        if tag == "acquire":
            return IMPOSSIBLE if state else True
        if tag == "release":
            return False if state else IMPOSSIBLE
        if tag == "enq":
            return (*state, call[1])
        if tag == "deq":
            if call[1] is None:
                return state if not state else IMPOSSIBLE  # a dequeue of nil saw it empty
            return state[1:] if state and state[0] == call[1] else IMPOSSIBLE
        if tag == "deq?":
            return state[1:]
        if tag == "add":
            return state | {call[1]}
        if tag == "read":
            return state if state == call[1] else IMPOSSIBLE
        raise ModelError(f"unknown call {call!r}")  # pragma: no cover - compile makes calls

    def is_observer(self, call: Call) -> bool:
        """Whether `call` leaves every state unchanged (or is impossible): a pure observation."""
        tag = call[0]
        return tag in ("r", "!cas", "read") or (tag == "deq" and call[1] is None)

    def grows(self, call: Call) -> bool:
        """Whether `call` only ever extends the state (appends, set adds): see `may_grow_into`."""
        return call[0] in ("a", "add")

    def may_grow_into(self, state: Any, observer: Call) -> bool:
        """Whether operations that only grow the state could take `state` to one `observer`
        (a read) accepts. False lets the search drop a configuration early: if nothing but
        appends can happen before a read of "xy" must take effect, a state "y" is dead."""
        tag, target = observer[0], observer[1]
        if tag == "r":
            if state is None:
                return True
            if isinstance(state, str):
                return isinstance(target, str) and target.startswith(state)
            if isinstance(state, tuple):
                return isinstance(target, tuple) and target[: len(state)] == state
            return True
        if tag == "read" and isinstance(state, frozenset):
            return state <= target
        return True

    def needs(self, call: Call) -> str:
        """What the state must be for `call` to be possible, in words (for explanations)."""
        tag = call[0]
        if tag in ("r", "read"):
            return f"the value to be {show(call[1])}"
        if tag == "cas":
            return f"the value to be {show(call[1])}"
        if tag == "!cas":
            return f"the value not to be {show(call[1])}"
        if tag == "acquire":
            return "the lock to be free"
        if tag == "release":
            return "the lock to be held"
        if tag == "deq":
            if call[1] is None:
                return "the queue to be empty"
            return f"the queue's head to be {show(call[1])}"
        return "nothing (it is always possible)"


class _Impossible:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IMPOSSIBLE"


IMPOSSIBLE: Any = _Impossible()


def show(value: Any) -> str:
    """A state or value as a user reads it (EDN-like: nil for None)."""
    if value is None:
        return "nil"
    if isinstance(value, frozenset):
        return "#{" + " ".join(sorted(show(v) for v in value)) + "}"
    if isinstance(value, tuple):
        return "[" + " ".join(show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "held" if value else "free"
    return repr(value) if isinstance(value, str) else str(value)


def make(name: str, init: Any = None) -> Model:
    """The model called `name` (one of `MODEL_NAMES`), starting from `init`."""
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return Model(name, freeze(init))
