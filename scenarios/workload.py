"""What a workload is, and what every workload shares: Jepsen's client, generator and checker.

A workload is one module in `scenarios/workloads/` (Maelstrom's workload files keep client,
generator and checker together: a reader sees the whole contract in one place). It defines a
class built on `BaseWorkload` and declares itself once:

    WORKLOAD = WorkloadSpec(
        name="broadcast",
        make=Broadcast,                  # params -> a fresh workload object for one run
        summary="gossip: every acknowledged message reaches every node",
        operations="`broadcast`, `read` (`topology` first)",
        checked_by="set-full: every acknowledged message in every final read",
        service="broadcast",             # the built-in service that implements it, or None
    )

`scenarios.workloads` finds the modules; the CLI's choices, the scenario schema, `chaos list`,
`chaos check`, the default service of `chaos run` and the README's table read the
declarations. See docs/mechanisms.md for the checklist of adding one.

## How the run drives a workload (pure code: no trio, no zmq, no clock)
1. after `init`, the admin client `c0` sends each `(node, body)` of `setup(node_ids)` and
   expects `<type>_ok` (broadcast's `topology`);
2. each client process asks `invoke(rng, process)` for its next operation `(f, value)`, sends
   `request(f, value)` (the body without `msg_id`), and turns the reply (or its absence) into a
   completion with `complete(f, value, reply)` -> `(type, value, error)`; a timeout is `info`,
   or `fail` when `is_idempotent(f)` (a read that never answered changed nothing);
3. after the healed recovery phase, the `final_ops(node_ids)` run (recorded with
   `"final": true`), retried until they succeed;
4. `check(history, node_ids=...)` judges the history: a `checker.result.compose` of the
   workload's checkers plus the common ones (`availability`, `replies`).

Reply mapping (PROTOCOL.md): `<f>_ok` with the expected fields is `ok`, carrying the result.
An `error` is `fail` when its code is definite (`node.protocol`), or when the operation is
idempotent; otherwise (timeout 0, crash 13, codes 1000 and up, codes we do not know) it is
`info`: when in doubt, indefinite is always safe. The error is recorded as
`{"code", "name", "text"}`. A reply that is neither (a wrong type, a missing field) is a
protocol violation by the node: recorded as `info` (`fail` for reads) with an error string
starting `"malformed reply"`, and the `replies` checker makes any such an invalid verdict.

A stdio node's program may write a line that is not a message at all; its adapter
(`node.stdio`) then answers the request on the program's behalf with a `stdio_malformed`
body (`STDIO_MALFORMED`), which is recorded the same way, its error naming the node, the
stdout line number and the line: `malformed reply: n1 wrote stdout line 7, not a message
(not JSON: Expecting value: ...): 'oops'`. A native node cannot write such a line (its
driver encodes every message), but a reply of the wrong shape from it is caught as above.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from checker.availability import availability
from checker.history import Op
from checker.replies import MALFORMED_REPLY, well_formed_replies
from node.protocol import ERROR_NAMES, is_definite

MALFORMED = MALFORMED_REPLY  # the prefix of the error of a reply that breaks the protocol
# The body type of the stdio adapter's notice (node.stdio.MALFORMED_TYPE; that module runs trio
# and zmq, which this pure one does not import, so the name is repeated and a test pins both).
STDIO_MALFORMED = "stdio_malformed"


class Workload(Protocol):
    name: str

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]: ...

    def request(self, f: str, value: Any) -> dict[str, Any]: ...

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]: ...

    def is_idempotent(self, f: str) -> bool: ...

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]: ...

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload's one declaration. `service` is the built-in service that implements it
    (the default of `chaos run --service`), None when only `--node-cmd` programs do; `model`
    is the linearizability model its histories are checked against by `chaos check FILE`
    without `--model` (None when it is not judged by linearizability)."""

    name: str
    make: Callable[..., Workload]
    summary: str
    operations: str
    checked_by: str
    service: str | None = None
    model: str | None = None
    # The least quiet time before the final reads (the scenario's `settle_s` is raised to it):
    # an eventually consistent system's final reads say something only once it has had time to
    # converge. Maelstrom waits 10 s for every workload with final reads; a program that
    # gossips every 5 s, as Maelstrom's own CRDT demos do, would otherwise be judged to have
    # lost what it had not yet had the chance to spread. 0 for workloads whose final reads
    # must be right whenever they come (linearizable ones).
    settle_min_s: float = 0.0


# Maelstrom's wait between healing and the final reads (maelstrom.core: "Waiting for
# recovery...", (gen/sleep 10)): the settle of the workloads that judge convergence.
MAELSTROM_SETTLE_S = 10.0


def error_completion(
    f: str, value: Any, reply: dict[str, Any], *, idempotent: bool
) -> tuple[str, Any, Any]:
    """Map an `error` reply to `fail` (definite, or idempotent op) or `info`."""
    code = reply.get("code")
    error: dict[str, Any] = {"code": code, "text": reply.get("text", "")}
    if isinstance(code, int) and code in ERROR_NAMES:
        error["name"] = ERROR_NAMES[code]
    return ("fail" if is_definite(code) or idempotent else "info"), value, error


def malformed(f: str, value: Any, why: str, *, idempotent: bool) -> tuple[str, Any, Any]:
    return ("fail" if idempotent else "info"), value, f"{MALFORMED}: {why}"


def stdio_malformed_text(notice: dict[str, Any]) -> str:
    """Why a stdio node's reply broke the protocol, from its adapter's notice (module doc)."""
    when = " before this request (none was waiting)" if notice.get("deferred") else ""
    return (
        f"{notice.get('node')} wrote stdout line {notice.get('line_number')}{when}, not a "
        f"message ({notice.get('reason')}): {notice.get('line')!r}"
    )


def reply_field(reply: dict[str, Any], key: str) -> Any:
    """`reply[key]`, or a KeyError that says which field the reply lacks."""
    if key not in reply:
        raise KeyError(f"lacks the field {key!r}")
    return reply[key]


class BaseWorkload:
    """What every workload shares: reply dispatch, idempotency, the common checkers.

    A subclass sets `name` and `reads` (its idempotent operations), and defines `invoke`,
    `request`, `result` (the ok value of a `<f>_ok` reply) and `check`."""

    name = ""
    reads: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._counter = itertools.count()

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        return []

    def is_idempotent(self, f: str) -> bool:
        return f in self.reads

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return []

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]:
        idempotent = self.is_idempotent(f)
        rtype = reply.get("type") if isinstance(reply, dict) else None
        if rtype == "error":
            return error_completion(f, value, reply, idempotent=idempotent)
        if rtype == STDIO_MALFORMED:
            return malformed(f, value, stdio_malformed_text(reply), idempotent=idempotent)
        if rtype != f"{f}_ok":
            return malformed(
                f, value, f"expected {f}_ok or error to {f}, got {rtype!r}", idempotent=idempotent
            )
        try:
            return "ok", self.result(f, value, reply), None
        except (KeyError, TypeError, ValueError) as e:
            return malformed(f, value, f"{f}_ok {e}", idempotent=idempotent)

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        """The ok value from a `<f>_ok` reply; raise KeyError/TypeError naming what is wrong."""
        raise NotImplementedError

    def common_checks(self, history: list[Op]) -> dict[str, dict[str, Any]]:
        return {
            "availability": availability(history),
            "replies": well_formed_replies(history),
        }
