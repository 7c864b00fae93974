"""The watchdog: notices when the harness itself stalled, and says so in the history.

A loaded CI machine, a swapping laptop or a SIGSTOPped orchestrator freezes the clients and
the nemesis together. Nothing fails, but nothing that was planned happened either: overdue
nemesis steps then run back to back (a partition that lasts 2 ms), and requests time out that
were never slow at the nodes. A verdict of such a run is not to be trusted, so the stall must
be seen. The one symptom a stalled process can measure afterwards is timer slip: a sleep that
should have lasted `interval_s` took much longer.

    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(watch, recorder, threshold_s=1.0))
        ...  # clients and nemesis; cancel the nursery when the run ends

`watch` sleeps `interval_s` at a time and measures, on trio's clock, how late it woke. A slip
above `threshold_s` is recorded as a `nemesis` operation `stall` (`checker.fault_kinds.STALL`):
an `invoke` and its `ok` at the moment the harness woke up again, with value `{"slip_s",
"slept_s", "threshold_s"}` (the stall lasted about `slept_s`, up to the invocation's `time`).
`checker.stalls` makes such a run's verdict unknown, naming the stall. The shape is Jepsen's
for nemesis operations (the `nemesis` process, a pair), so every reader of histories passes it
through, and a fault-kind table lookup finds it breaks and heals nothing.

Why the `nemesis` process: histories have clients and the nemesis, and every checker already
leaves the nemesis's operations out of the clients'; a third kind of process would be judged
as a client by checkers written before it.

The simulator runs on virtual time and never stalls: it runs no watchdog, and its histories
have no stall records. `now_s` is injectable so that tests can jump a fake clock; by default it
is `trio.current_time` (the monotonic clock, which keeps running while a process is stopped).

Not yet: telling a stall of the orchestrator apart from one of the whole machine (both make
the run untrustworthy; the proxy and nodes may or may not have stalled too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from chaos.nemesis import HistoryRecorder
from checker.fault_kinds import STALL
from checker.stalls import STALL_THRESHOLD_S

__all__ = ["STALL_THRESHOLD_S", "WATCH_INTERVAL_S", "watch"]

# How often the watchdog wakes. Small enough that a stall is measured to a tenth of a second,
# large enough to cost nothing next to the clients.
WATCH_INTERVAL_S = 0.1


async def watch(
    recorder: HistoryRecorder,
    *,
    interval_s: float = WATCH_INTERVAL_S,
    threshold_s: float = STALL_THRESHOLD_S,
    now_s: Callable[[], float] = trio.current_time,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Record a `stall` each time a sleep of `interval_s` overran by more than `threshold_s`.
    Runs until cancelled."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, not {interval_s!r}")
    if not threshold_s > 0:
        raise ValueError(f"threshold_s must be positive, not {threshold_s!r}")
    before = now_s()
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        after = now_s()
        slept_s = after - before
        slip_s = slept_s - interval_s
        if slip_s > threshold_s:
            value: dict[str, Any] = {"slip_s": round(slip_s, 6), "slept_s": round(slept_s, 6),
                                     "threshold_s": threshold_s}
            recorder.record("invoke", "nemesis", STALL, value)
            recorder.record("ok", "nemesis", STALL, value)
        before = after
