"""Structured logging for nodes: one JSON object per line on stderr.

    log = Logger("n1", epoch_ns=run_epoch_ns)
    log.info("init", node_ids=["n1", "n2"])
    # {"time": 1234567, "node": "n1", "level": "info", "event": "init", "node_ids": [...]}

`time` is nanoseconds since the run's epoch (`--epoch-ns`, docs/internals.md "Time") so node
logs line up with `history.jsonl` and `messages.jsonl`; without an epoch it is raw
`time.monotonic_ns()`. It is the machine's clock, never the node's skewable `Clock`: logs are
for the humans reading a run, who need one timeline. The orchestrator redirects stderr to
`nodes/<id>.log`. Lines are written whole and flushed, so a killed node loses no finished line.
Values that are not JSON are written with `repr`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")


class Logger:
    def __init__(
        self,
        node: str,
        *,
        epoch_ns: int = 0,
        stream: TextIO | None = None,
        level: str = "info",
    ) -> None:
        assert level in LEVELS, level
        self.node = node
        self.epoch_ns = epoch_ns
        self._stream = stream
        self._level_min = LEVELS.index(level)

    def log(self, level: str, event: str, **fields: Any) -> None:
        if LEVELS.index(level) < self._level_min:
            return
        record = {
            "time": time.monotonic_ns() - self.epoch_ns,
            "node": self.node,
            "level": level,
            "event": event,
            **fields,
        }
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(json.dumps(record, default=repr, separators=(",", ":")) + "\n")
        stream.flush()

    def debug(self, event: str, **fields: Any) -> None:
        self.log("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log("error", event, **fields)
