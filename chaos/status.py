"""The live status of a run: one rewritten line on a terminal, plain lines otherwise.

    Status().serve(run.statistics)       # in the run's nursery, until cancelled

The status reads one frozen value, `RunStatistics`, from a function it is given (trio's
`statistics()` habit), never the run's insides: `describe(stats)` is a pure function of it.
On a terminal the line is redrawn in place every `TTY_INTERVAL_S`; when the output is a file or
a pipe (CI), a plain line is printed every `PLAIN_INTERVAL_S`, so logs stay readable. Status
goes to stderr, so that `--json` leaves stdout to the one summary object.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import trio

TTY_INTERVAL_S = 0.25
PLAIN_INTERVAL_S = 2.0


@dataclass(frozen=True)
class RunStatistics:
    """A snapshot of a run: its phase, seconds since it started, the clients' completions by
    type (`invoke`, `ok`, `fail`, `info`) and the active faults (kind -> what they hit)."""

    phase: str
    elapsed_s: float
    counts: Mapping[str, int] = field(default_factory=dict)
    active_faults: Mapping[str, Any] = field(default_factory=dict)


def describe(stats: RunStatistics) -> str:
    """The status line, e.g. `  12.5s  faults   ok   310  fail    2  info    1  faults: ...`."""
    counts = stats.counts
    faults = ", ".join(f"{k}: {v}" for k, v in stats.active_faults.items()) or "none"
    return (f"{stats.elapsed_s:6.1f}s  {stats.phase:<16} ok {counts.get('ok', 0):>5}  "
            f"fail {counts.get('fail', 0):>4}  info {counts.get('info', 0):>4}  faults: {faults}")


class Status:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = self.stream.isatty()

    async def serve(self, get_statistics: Callable[[], RunStatistics]) -> None:
        """Write the status line until cancelled; clear it on a terminal when done."""
        interval_s = TTY_INTERVAL_S if self.is_tty else PLAIN_INTERVAL_S
        try:
            while True:
                await trio.sleep(interval_s)
                line = describe(get_statistics())
                if self.is_tty:
                    self.stream.write("\r\x1b[K" + line)
                else:
                    self.stream.write(line + "\n")
                self.stream.flush()
        finally:
            if self.is_tty:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
