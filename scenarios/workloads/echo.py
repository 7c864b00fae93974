"""echo: `echo{echo}` -> `echo_ok{echo}`; every reply must equal its request.

The smallest workload, a smoke test of the harness. Values are unique per run and vary in
length, so a node that truncates or mixes up replies is caught by `checker.echo`.
"""

from __future__ import annotations

import random
from typing import Any

from checker.echo import echo_equality
from checker.history import Op
from checker.result import compose
from scenarios.workload import BaseWorkload, WorkloadSpec, reply_field


class Echo(BaseWorkload):
    name = "echo"

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        n = next(self._counter)
        return "echo", f"p{process}-{n}-" + "x" * rng.randrange(0, 16)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "echo", "echo": value}

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        return reply_field(reply, "echo")

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose({"echo": echo_equality(history), **self.common_checks(history)})


WORKLOAD = WorkloadSpec(
    name="echo",
    make=Echo,
    summary="a smoke test of the harness",
    operations="`echo`",
    checked_by="every reply equals its request",
    service="echo",
)
