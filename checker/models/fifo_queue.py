"""`fifo-queue`: a first-in first-out queue (Knossos's `fifo-queue`).

Operations: `enqueue` of a value, `dequeue` completing with the value taken (nil: the queue was
empty). The state is a tuple, head first (`init`: the starting contents). Calls:
`("enq", v)`, `("deq", v)`, and `("deq?",)` for a dequeue whose result is unknown (`info`): if
it took effect it removed the head, whatever that was.

Jepsen's queue histories (`:f :enqueue` / `:dequeue`, EDN or JSON) are judged as they are: a
`fail` dequeue (Jepsen's clients record an empty queue so) did not happen; an `ok` dequeue of
nil saw the queue empty (Knossos would call it impossible). A `:drain` (a client dequeuing
until the queue was empty, recorded as one operation) is refused with a pointer to
`--model total-queue`: its dequeues may interleave with other clients' operations, which one
atomic step cannot express, and Knossos's fifo-queue does not take it either.
"""

from __future__ import annotations

from typing import Any

from checker.models._core import IMPOSSIBLE, Call, Model, ModelError, freeze, show

_EXPECTED = "it knows enqueue and dequeue"


def _compile(
    f: str, invoked: Any, completed: Any, status: str, semantics: str = "knossos"
) -> Call | None:
    if f == "enqueue":
        return None if status == "fail" else ("enq", freeze(invoked))
    if f == "dequeue":
        if status == "info":
            return ("deq?",)
        return None if status == "fail" else ("deq", freeze(completed))
    if f == "drain":
        raise ModelError(
            "the fifo-queue model cannot place a drain (several dequeues recorded as one "
            "operation); judge a drained queue with --model total-queue, which expands drains "
            "as Jepsen does"
        )
    raise ModelError(f"the fifo-queue model has no operation {f!r}; {_EXPECTED}")


def start(init: Any) -> tuple[Any, ...]:
    return tuple(freeze(init or ()))


def step(queue: tuple[Any, ...], call: Call) -> Any:
    tag = call[0]
    if tag == "enq":
        return (*queue, call[1])
    if tag == "deq":
        if call[1] is None:
            return queue if not queue else IMPOSSIBLE  # a dequeue of nil saw it empty
        return queue[1:] if queue and queue[0] == call[1] else IMPOSSIBLE
    return queue[1:]  # ("deq?",): removed the head, if there was one


def is_observer(call: Call) -> bool:
    return call[0] == "deq" and call[1] is None


def needs(call: Call) -> str:
    if call[0] != "deq":
        return "nothing (it is always possible)"
    if call[1] is None:
        return "the queue to be empty"
    return f"the queue's head to be {show(call[1])}"


MODEL = Model(
    name="fifo-queue",
    summary="enqueue, dequeue; the state is the queue, head first",
    expected=_EXPECTED,
    compile=_compile,
    step=step,
    start=start,
    is_observer=is_observer,
    needs=needs,
)
