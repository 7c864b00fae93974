"""The node's clock: monotonic time with an offset and a rate that the nemesis can skew.

Every piece of node code reads time from one `Clock` and sleeps through it, never from
`time` or `trio` directly, so that clock faults (DESIGN.md, "Clock") reach the protocol: a
node whose clock runs fast (`rate` > 1) fires its timers early and believes leases expire
sooner; an offset moves its wall-clock idea of "now" without moving its timers.

    clock = Clock(raw_now_s=trio.current_time)
    clock.now_s()                  # raw time, mapped through offset and rate
    clock.set(offset_ms=250.0, rate=1.01)
    clock.set(offset_ms=200.0, period_ms=50.0)     # strobe: +200 ms, +0, +200 ms ... every 50 ms
    await trio.sleep(clock.real_duration_s(0.5))   # sleep 0.5 s of *node* time

The mapping is continuous: changing the rate rebases at the current instant, so `now_s` never
jumps because of a rate change (only an offset change moves it, by design, as an NTP step
would). `raw_now_s` is injected: `trio.current_time` in a node (it is `time.monotonic` in a
real run and virtual time under `autojump_clock` in tests), a list-backed fake in pure tests.

A strobe (Jepsen's clock nemesis `strobe`) is an offset that comes and goes: with a
`period_ms` above 0 the clock reads `offset_ms` ahead for one period, true (offset 0) for the
next, and so on, from the moment the period was set, so its time jumps forward and back every
period without anyone sending a message per jump. It lives here rather than in the nemesis so
that it is exact (no message per flip, no control traffic to lose or delay) and the simulator,
which uses this same clock, strobes exactly as a real node does. A `period_ms` of 0 stops it.

The nemesis sets all three through the `chaos_clock {offset_ms, rate, period_ms}` control
message (`node.driver` answers it); stdio nodes have no such clock and never receive it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

RATE_MIN = 0.01  # a limit on everything: a rate of 0 would freeze timers forever
RATE_MAX = 100.0
PERIOD_MS_MIN = 1.0  # a strobe's period; 0 means no strobe
PERIOD_MS_MAX = 60_000.0


class ClockError(ValueError):
    """An offset or rate the clock cannot take."""


@dataclass(frozen=True)
class ClockStatistics:
    offset_ms: float
    rate: float
    period_ms: float = 0.0  # a strobe's period, 0 when the offset holds steadily


class Clock:
    def __init__(self, raw_now_s: Callable[[], float]) -> None:
        self._raw_now_s = raw_now_s
        self._offset_ms = 0.0
        self._rate = 1.0
        self._period_ms = 0.0
        # now = base_node_s + (raw - base_raw_s) * rate + offset (offset 0 in a strobe's off
        # periods, counted from strobe_raw_s)
        self._base_raw_s = raw_now_s()
        self._base_node_s = self._base_raw_s
        self._strobe_raw_s = self._base_raw_s

    def now_s(self) -> float:
        raw = self._raw_now_s()
        offset_ms = self._offset_ms
        if self._period_ms > 0 and int((raw - self._strobe_raw_s) * 1000 // self._period_ms) % 2:
            offset_ms = 0.0  # an odd period of the strobe: true time
        return self._base_node_s + (raw - self._base_raw_s) * self._rate + offset_ms / 1000

    def now_ms(self) -> float:
        return self.now_s() * 1000

    def set(self, *, offset_ms: float | None = None, rate: float | None = None,
            period_ms: float | None = None) -> None:
        """Replace the offset, the rate and/or the strobe period (None keeps the current one;
        a period, even the same one, restarts the strobe at its "ahead" half now)."""
        if offset_ms is not None and not math.isfinite(offset_ms):
            raise ClockError(f"offset_ms must be a finite number, not {offset_ms!r}")
        if rate is not None and not (math.isfinite(rate) and RATE_MIN <= rate <= RATE_MAX):
            raise ClockError(f"rate must be between {RATE_MIN} and {RATE_MAX}, not {rate!r}")
        if period_ms is not None and not (
            period_ms == 0 or (math.isfinite(period_ms) and PERIOD_MS_MIN <= period_ms
                               <= PERIOD_MS_MAX)
        ):
            raise ClockError(f"period_ms must be 0 (no strobe) or between {PERIOD_MS_MIN:g} and "
                             f"{PERIOD_MS_MAX:g}, not {period_ms!r}")
        if period_ms is not None:
            self._period_ms = float(period_ms)
            self._strobe_raw_s = self._raw_now_s()
        if rate is not None:
            raw = self._raw_now_s()
            self._base_node_s += (raw - self._base_raw_s) * self._rate
            self._base_raw_s = raw
            self._rate = rate
        if offset_ms is not None:
            self._offset_ms = offset_ms

    def real_duration_s(self, node_duration_s: float) -> float:
        """How long, in real seconds, `node_duration_s` of this clock's time takes."""
        return max(0.0, node_duration_s) / self._rate

    def statistics(self) -> ClockStatistics:
        return ClockStatistics(offset_ms=self._offset_ms, rate=self._rate,
                               period_ms=self._period_ms)
