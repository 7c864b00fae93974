"""The live status of a run: one rewritten line on a terminal, plain lines otherwise.

On a terminal the line is redrawn in place every `TTY_INTERVAL_S`; when the output is a file or
a pipe (CI), a plain line is printed every `PLAIN_INTERVAL_S`, so logs stay readable. Status
goes to stderr, so that `--json` leaves stdout to the one summary object.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import trio

TTY_INTERVAL_S = 0.25
PLAIN_INTERVAL_S = 2.0


def describe(run: Any, elapsed_s: float) -> str:
    counts = run.recorder.counts if run.recorder is not None else {}
    active = run.nemesis.active if run.nemesis is not None else {}
    faults = ", ".join(f"{k}: {v}" for k, v in active.items()) or "none"
    return (f"{elapsed_s:6.1f}s  {run.phase:<16} ok {counts.get('ok', 0):>5}  "
            f"fail {counts.get('fail', 0):>4}  info {counts.get('info', 0):>4}  faults: {faults}")


class Status:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = self.stream.isatty()

    async def serve(self, run: Any) -> None:
        start = trio.current_time()
        interval_s = TTY_INTERVAL_S if self.is_tty else PLAIN_INTERVAL_S
        try:
            while True:
                await trio.sleep(interval_s)
                line = describe(run, trio.current_time() - start)
                if self.is_tty:
                    self.stream.write("\r\x1b[K" + line)
                else:
                    self.stream.write(line + "\n")
                self.stream.flush()
        finally:
            if self.is_tty:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
