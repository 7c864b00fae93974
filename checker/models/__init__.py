"""Sequential specifications (models) that the linearizability search checks a history against.

A model says what one operation does to a state, with no notion of time or concurrency: pure
`step(state, call) -> new state` (or `IMPOSSIBLE`), an initial state, an optional split per key,
and words for explanations, as Porcupine's models. Models are frozen values (`Model`, see
`checker.models._core`) and states are hashable, so the search can memoise (operations
linearized, state) pairs. Build one with `make(name, init)`:

    from checker.models import MODELS, MODEL_NAMES, make
    make("kv", None)                 # a cas-register per key, every key nil at the start
    make("register", 5).initial_state()   # 5

| name          | operations (`f`)                           | state                         |
|---------------|--------------------------------------------|-------------------------------|
| register      | read/get, write/put                        | the value (`init`, default nil) |
| cas-register  | read, write, cas `[from, to]`              | the value                     |
| kv            | per key: read/get, write/put, append, cas  | the key's value (split per key) |
| mutex         | acquire, release                           | held or free                  |
| fifo-queue    | enqueue, dequeue                           | a tuple, head first           |
| set           | add, read (the whole set)                  | a frozenset                   |

A history operation is first *compiled* (`model.compile(...)`) into a small hashable call such as
`("w", 3)` or `("cas", 1, 2)`, or into `None` when it can neither change the state nor constrain
it: the search then leaves it out. Compilation is where the per-format semantics live (see
`checker.linearizability`): under `knossos` (ours, Jepsen's) a `fail` did not happen and never
reaches the model; under `porcupine` a failed cas is an observation.

Adding a model is one file: a module in this folder that defines `MODEL = Model(name=...)`.
The registry finds it (every module whose name does not start with `_`), and `chaos check
--model`, the error messages and the tests read `MODEL_NAMES`.

Not modelled yet: counters, fencing locks, unordered queues, multi-key transactions.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model, ModelError, freeze, show

__all__ = [
    "IMPOSSIBLE",
    "MODELS",
    "MODEL_NAMES",
    "Call",
    "Model",
    "ModelError",
    "freeze",
    "make",
    "show",
]


def _discover() -> dict[str, Model]:
    found: dict[str, Model] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        model = getattr(module, "MODEL", None)
        if not isinstance(model, Model):
            raise TypeError(f"{module.__name__} must define MODEL, a checker.models.Model")
        if model.name in found:
            raise ValueError(f"two models named {model.name!r}: {module.__name__} and another")
        found[model.name] = model
    return dict(sorted(found.items()))


MODELS: dict[str, Model] = _discover()  # name -> the model, starting from nil
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def make(name: str, init: Any = None) -> Model:
    """The model called `name` (one of `MODEL_NAMES`), starting from `init`."""
    model = MODELS.get(name)
    if model is None:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return model.starting_from(init)
