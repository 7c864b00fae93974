"""kafka: Maelstrom's Kafka-style log workload, served by the built-in `log` service.

Messages (PROTOCOL.md; Maelstrom's `maelstrom.workload.kafka`, which runs Jepsen's
`jepsen.tests.kafka` with one send or poll per operation and keys assigned by the client):

    send{key, msg}                    ->  send_ok{offset}
    poll{offsets: {key: offset}}      ->  poll_ok{msgs: {key: [[offset, msg], ...]}}
    commit_offsets{offsets: {key: offset}}  ->  commit_offsets_ok
    list_committed_offsets{keys: [key, ...]} -> list_committed_offsets_ok{offsets: {key: offset}}

A log per key (keys are strings, `"0"`, `"1"`, ...) holds one message at each offset; offsets
increase and may be sparse. A poll answers, per key, contiguous messages beginning at the
requested offset (any number of them; a key with none may be left out). A committed offset
means "consumed up to and including": a consumer starts after it. A key never sent to, or never
committed, may be left out of `poll_ok` / `list_committed_offsets_ok` (Maelstrom): a node that
answers error 20 (key-does-not-exist) instead fails the whole request (`fail`, definite).
Other errors as PROTOCOL.md says: a definite code is `fail`; any error or timeout on a poll or a
list (reads) is `fail`; a timeout or an indefinite error on a send or a commit is `info`.

## The clients
Each client process is a producer and a consumer (Jepsen's kafka client is both):
- a fresh process (the first, and each new one after an `info`: its old connection may still
  act) first assigns itself every key: `list_committed_offsets` of all keys, and starts each
  key just after its committed offset (0 when none is listed); it asks again until that
  succeeds. (Maelstrom's client starts at the committed offset itself, reading that message
  again; its documentation says the committed offset was processed, so we start after it.)
- then it sends (`send_probability`, default 0.5) a unique integer to a random key, or polls
  every key from its own positions, advancing each polled key past the highest offset returned;
- after a poll that returned messages, its next operation commits the highest offset it
  consumed per key (`commit_offsets`); a commit that fails is retried after the next poll.
After the healed recovery phase every node is asked, with `"final": true`, for the committed
offsets of every key (which must not have gone back: a service that forgot them is caught even
if no consumer asked after the fault), then for final polls of every key from offset 0,
continued from where each left off while it returned messages (a node may answer a poll with
only some of them), at most `FINAL_POLLS_PER_NODE` polls a node.

A client's position lives in this workload object between `invoke` and `complete`: the run
calls `complete(f, value, reply)` with the very `value` `invoke` returned (chaos.clients and
chaos.simclients do), so the consumer is found by the value's identity. Final polls are
continued the same way: `final_ops` returns the list the run iterates, and the completion of a
final poll that returned messages appends the next one to it.

## History values (compact JSON; checker.kafka reads them)
    send                    invoke [key, msg]        ok [key, [offset, msg]]
    poll                    invoke {key: offset}     ok {key: [[offset, msg], ...]} (keys that
                                                     returned nothing left out)
    commit_offsets          invoke {key: offset}     ok the same
    list_committed_offsets  invoke [key, ...]        ok {key: offset}
A `fail` or `info` completion keeps its invocation's value.

Params: `keys` (default 3: few keys, so that consumers share them; from 1 to 1000),
`send_probability` (default 0.5).

Checkers: `kafka` (checker.kafka: lost, unseen, duplicated and inconsistently placed messages,
skipped and backwards polls and sends, committed offsets going backwards, aborted and unexpected
reads, and the send-to-poll lag) and `final-reads` (every node answered a final poll).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from checker.final_reads import final_reads
from checker.history import Op
from checker.kafka import kafka
from checker.result import compose
from scenarios.workload import BaseWorkload, WorkloadSpec, reply_field
from scenarios.workloads.g_set import probability

FINAL_POLLS_PER_NODE = 500  # a limit on a node's final polls, however little each returns


@dataclass(slots=True)
class _Consumer:
    """One client process's consumer: the next offset to poll per key, and what it consumed
    but has not committed yet."""

    positions: dict[str, int]
    uncommitted: dict[str, int] = field(default_factory=dict)
    commit_due: bool = False


def _offset(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is {value!r}, not an integer offset")
    return value


def _offsets(value: Any, what: str) -> dict[str, int]:
    """A map of keys to offsets, from a reply."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} is {type(value).__name__}, not a map of keys to offsets")
    return {str(k): _offset(o, f"{what}[{k!r}]") for k, o in value.items()}


def _messages(value: Any) -> dict[str, list[Any]]:
    """`poll_ok`'s `msgs`, keys with no messages left out."""
    if not isinstance(value, dict):
        raise TypeError(f"msgs is {type(value).__name__}, not a map of keys to messages")
    out: dict[str, list[Any]] = {}
    for k, pairs in value.items():
        if not isinstance(pairs, list):
            raise TypeError(f"msgs[{k!r}] is {type(pairs).__name__}, not a list")
        for p in pairs:
            if not (isinstance(p, list) and len(p) == 2):
                raise TypeError(f"msgs[{k!r}] holds {p!r}, not an [offset, msg] pair")
            _offset(p[0], f"an offset in msgs[{k!r}]")
        if pairs:
            out[str(k)] = pairs
    return out


class Kafka(BaseWorkload):
    name = "kafka"
    reads = frozenset({"poll", "list_committed_offsets"})

    def __init__(self, *, keys: int = 3, send_probability: float = 0.5) -> None:
        super().__init__()
        if isinstance(keys, bool) or not isinstance(keys, int) or not 1 <= keys <= 1000:
            raise ValueError(f"keys must be an integer from 1 to 1000, not {keys!r}")
        self.keys = [str(i) for i in range(keys)]
        self.send_probability = probability("send_probability", send_probability)
        self._consumers: dict[Any, _Consumer] = {}
        # The operation in flight per process, by its value's identity (module docstring).
        self._in_flight: dict[int, tuple[Any, Any]] = {}
        self._in_flight_of: dict[Any, int] = {}
        self._finals: list[tuple[str, str, Any]] = []
        self._final_in_flight: dict[int, tuple[str, Any]] = {}
        self._final_polls: dict[str, int] = {}

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        # An operation of this process still in flight never completed (it timed out).
        stale = self._in_flight_of.pop(process, None)
        if stale is not None:
            self._in_flight.pop(stale, None)
        consumer = self._consumers.get(process)
        f: str
        value: Any
        if consumer is None:
            f, value = "list_committed_offsets", list(self.keys)
        elif consumer.commit_due:
            consumer.commit_due = False
            f, value = "commit_offsets", dict(consumer.uncommitted)
        elif rng.random() < self.send_probability:
            return "send", [rng.choice(self.keys), next(self._counter)]
        else:
            f, value = "poll", dict(consumer.positions)
        self._in_flight[id(value)] = (process, value)
        self._in_flight_of[process] = id(value)
        return f, value

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "send":
            return {"type": "send", "key": value[0], "msg": value[1]}
        if f == "poll":
            return {"type": "poll", "offsets": value}
        if f == "commit_offsets":
            return {"type": "commit_offsets", "offsets": value}
        if f == "list_committed_offsets":
            return {"type": "list_committed_offsets", "keys": value}
        raise ValueError(
            f"kafka has no operation {f!r}; it has send, poll, commit_offsets and "
            "list_committed_offsets"
        )

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "send":
            return [value[0], [_offset(reply_field(reply, "offset"), "offset"), value[1]]]
        if f == "poll":
            return _messages(reply_field(reply, "msgs"))
        if f == "list_committed_offsets":
            return _offsets(reply_field(reply, "offsets"), "offsets")
        return value

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]:
        type_, result, error = super().complete(f, value, reply)
        flight = self._in_flight.pop(id(value), None)
        if flight is not None and flight[1] is value:
            self._in_flight_of.pop(flight[0], None)
            if type_ == "ok":
                self._advance(flight[0], f, value, result)
        final = self._final_in_flight.get(id(value))
        if final is not None and final[1] is value and type_ == "ok":
            del self._final_in_flight[id(value)]  # kept until ok: the run retries the value
            self._continue_final(final[0], value, result)
        return type_, result, error

    def _advance(self, process: Any, f: str, value: Any, result: Any) -> None:
        """A consumer's state after its operation succeeded."""
        if f == "list_committed_offsets":
            self._consumers[process] = _Consumer(
                {k: result[k] + 1 if k in result else 0 for k in self.keys})
            return
        consumer = self._consumers.get(process)
        if consumer is None:
            return
        if f == "poll":
            for k, pairs in result.items():
                if k not in consumer.positions:
                    continue
                top = max(o for o, _ in pairs)
                consumer.positions[k] = max(consumer.positions[k], top + 1)
                consumer.uncommitted[k] = max(consumer.uncommitted.get(k, -1), top)
                consumer.commit_due = True
        elif f == "commit_offsets":
            for k, o in value.items():
                if consumer.uncommitted.get(k, -1) <= o:
                    consumer.uncommitted.pop(k, None)

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        self._finals = [(node, "list_committed_offsets", list(self.keys)) for node in node_ids]
        self._final_in_flight = {}
        self._final_polls = {}
        for node in node_ids:
            self._add_final(node, dict.fromkeys(self.keys, 0))
        return self._finals

    def _add_final(self, node: str, offsets: dict[str, int]) -> None:
        self._finals.append((node, "poll", offsets))
        self._final_in_flight[id(offsets)] = (node, offsets)
        self._final_polls[node] = self._final_polls.get(node, 0) + 1

    def _continue_final(self, node: str, value: dict[str, int], result: Any) -> None:
        """Poll on from where a final poll that returned messages stopped."""
        more = {
            k: max(value[k], max(o for o, _ in pairs)) + 1
            for k, pairs in result.items()
            if k in value
        }
        if more and self._final_polls.get(node, 0) < FINAL_POLLS_PER_NODE:
            self._add_final(node, more)

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "kafka": kafka(history),
                "final-reads": final_reads(history, node_ids=node_ids, f="poll"),
                **self.common_checks(history),
            }
        )


WORKLOAD = WorkloadSpec(
    name="kafka",
    make=Kafka,
    summary="a replicated log per key (Maelstrom's kafka): producers, consumers, committed "
    "offsets",
    operations="`send`, `poll`, `commit_offsets`, `list_committed_offsets` over a few keys",
    checked_by="kafka (as Jepsen's): no lost, unseen, duplicated or misplaced message, no "
    "skipped or backward poll or send, committed offsets never go back; send-to-poll lag",
    service="log",
)
