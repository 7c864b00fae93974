"""The simulator's event loop: one heap of events in virtual time, and tasks as coroutines.

Part of the deterministic simulator (`chaos.simulation`). Events are `(at_ns, seq, fn, arg)`
in a heap: virtual time in integer nanoseconds, then the order they were scheduled in, so two
events at the same instant always run in the same order and no comparison ever reaches `fn`.
Taking an event sets `now_ns` and calls `fn(arg)`. Nothing here reads a clock.

A task (a client, the nemesis, the run's phases) is a coroutine, written as the real run's
async code is, but it awaits only `Suspend` values: each carries a `Wait`, a function that is
handed the task and arranges for `resume((task, value))` to be called later; `value` is what
the `await` returns. No trio is involved: the loop drives the coroutine with `send`, so the
real nemesis (`chaos.nemesis.Nemesis`, which only awaits its `FaultTarget`) runs here as is.

    async def worker() -> None:
        await loop.sleep(0.05)                     # trio.sleep(0.05), in virtual time
        reply = await clients.call("c1", "n1", {"type": "read"}, timeout_s=1.0)
        ...

    loop.spawn(worker())
    loop.run(is_done=lambda: finished)
    loop.close()                                   # close tasks that never finished

An exception a task or an event raises ends `run` and reaches its caller.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Coroutine, Generator
from typing import Any

EVENTS_MAX = 50_000_000  # a limit on everything: a machine that ticks itself forever stops here

Wait = Callable[["Task"], None]  # arranges for the task to be resumed
Task = Coroutine["Wait", Any, Any]


class SimulationError(Exception):
    """The harness failed in simulation (what is exit 4 in a real run)."""


def to_ns(seconds: float) -> int:
    return round(seconds * 1e9)


class Suspend:
    """What a task awaits: hands `wait` to the loop; the await returns the resumed value."""

    __slots__ = ("wait",)

    def __init__(self, wait: Wait) -> None:
        self.wait = wait

    def __await__(self) -> Generator[Wait, Any, Any]:
        return (yield self.wait)


class EventLoop:
    def __init__(self, *, events_max: int = EVENTS_MAX) -> None:
        self.now_ns = 0
        self.events = 0
        self._events_max = events_max
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._seq = itertools.count()
        self._tasks: list[Task] = []

    def call_at(self, at_ns: int, fn: Callable[[Any], None], arg: Any) -> None:
        """Call `fn(arg)` at virtual time `at_ns` (now, if that has passed)."""
        heapq.heappush(self._heap, (max(at_ns, self.now_ns), next(self._seq), fn, arg))

    def run(self, *, is_done: Callable[[], bool]) -> None:
        """Take events in order until `is_done()`. Raises `SimulationError` if the heap runs
        dry first or more than `events_max` events are taken."""
        heap = self._heap
        pop = heapq.heappop
        events_max = self._events_max
        while not is_done():
            if not heap:
                raise SimulationError("the simulation ran out of events before the run ended")
            at_ns, _, fn, arg = pop(heap)
            self.now_ns = at_ns
            self.events += 1
            if self.events > events_max:
                raise SimulationError(f"more than {events_max} events: does a machine never rest?")
            fn(arg)

    # -- tasks ----------------------------------------------------------------------------------

    def spawn(self, task: Task) -> None:
        """Start `task` now (as an event of its own, after those already due now)."""
        self._tasks.append(task)
        self.call_at(self.now_ns, self.resume, (task, None))

    def close(self) -> None:
        """Close every task that has not finished (the run ended, or failed, without them)."""
        for task in self._tasks:
            task.close()
        self._tasks.clear()

    def resume(self, arg: tuple[Task, Any]) -> None:
        """Send `value` into `task` and arm what it waits for next."""
        task, value = arg
        try:
            wait = task.send(value)
        except StopIteration:
            return
        wait(task)

    def sleep_until(self, at_ns: int) -> Suspend:
        return Suspend(lambda task: self.call_at(at_ns, self.resume, (task, None)))

    def sleep(self, seconds: float) -> Suspend:
        return self.sleep_until(self.now_ns + to_ns(seconds))

    def resume_soon(self, task: Task, value: Any = None) -> None:
        """Resume a suspended `task` with `value` as an event of its own, now."""
        self.call_at(self.now_ns, self.resume, (task, value))
