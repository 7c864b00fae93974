"""unique-ids: `generate{}` -> `generate_ok{id}`; no id may be handed out twice.

Ids are any JSON value (Maelstrom's workload). `checker.unique_ids` judges: two `ok` generates
that returned the same id (by canonical JSON) make the run invalid, across nodes and across
restarts of a node.
"""

from __future__ import annotations

import random
from typing import Any

from checker.history import Op
from checker.result import compose
from checker.unique_ids import unique_ids
from scenarios.workload import BaseWorkload, WorkloadSpec, reply_field


class UniqueIds(BaseWorkload):
    name = "unique-ids"

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return "generate", None

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "generate"}

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        return reply_field(reply, "id")

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose({"unique-ids": unique_ids(history), **self.common_checks(history)})


WORKLOAD = WorkloadSpec(
    name="unique-ids",
    make=UniqueIds,
    summary="ids unique across nodes and restarts",
    operations="`generate`",
    checked_by="no id handed out twice",
    service="unique-ids",
)
