"""The chaos proxy: one OS process that every message of a run passes through.

    python -m chaos.proxy --run-dir DIR --parent-pid PID --epoch-ns N --seed S --nodes n1,n2,n3

It binds a data ROUTER on `tcp://127.0.0.1:<ephemeral>` and a control ROUTER on
`ipc://DIR/proxy.sock` (an abstract `ipc://@chaos-proxy-...` when that path is too long for a
unix socket), prints one ready line `{"event": "ready", "endpoint": ..., "control": ..., "pid":
...}` on stdout, writes the same object to `DIR/proxy.json`, and forwards until SIGTERM, SIGINT,
a `shutdown` command, or its parent's death. docs/internals.md is the contract; this docstring
explains how the proxy keeps it.

## Routing
A node's DEALER sends `[dest, body]`; the ROUTER receives `[sender, dest, body]` and sends
`[dest, sender, body]`, so the receiver sees `[src, body]`. Routing never parses JSON. The only
look at the body is a check that it is shaped like a JSON object (`{...}`) and two bounded
regular-expression scans that pick `"type"` and `"msg_id"` out for `messages.jsonl`. These are
a log, not a parse: on a body with a nested `"type"` key before the body's own, the log may name
the nested one. A body that looks like an object but is not valid JSON is forwarded, and the
receiving node's codec (node/wire.py) rejects and counts it. Garbage the proxy can see (a wrong
frame count, an id that is empty or not UTF-8, a body that is not `{...}`) is counted as
`malformed`, logged, and never forwarded; the proxy never crashes on it.

## Faults
For each message the `FaultTable` (chaos/faults.py) gives the delays of its copies (none:
dropped; two: duplicated), drawn from one `random.Random(--seed)`. A run replays the fault
*decisions* in arrival order, not the operating system's interleavings, so a real-process run
is reproducible only as far as arrival order is. Copies with a delay wait in a heap. The grudge
is checked when a copy is delivered, not when it arrives, so a message delayed into a
partition is lost (`partitioned`), as on a real network. Client links (ids not in `--nodes`)
are faulted only when the command that set the faults or the grudge said `"clients": true`.

Every copy ends in exactly one outcome, counted in `statistics()` and logged as one line of
`messages.jsonl` at the time of the outcome: delivered at once (`delivered`), delivered late
(`delayed`, with `delay_ms`), the extra copy of a duplicate (`duplicated`), or lost
(`dropped`, `partitioned`, `unroutable`, `overflow`). The statistics keep
`received + duplicated == delivered + dropped + partitioned + unroutable + overflow + pending`,
where `delivered` counts every copy handed to zmq, late or not, and `pending` the copies still
waiting in the heap.
`ROUTER_MANDATORY` turns a send to an unknown id into `unroutable` and a full queue into
`overflow`: a counted loss, never a silent one.

The log is buffered and written at least every 100 ms (`FLUSH_INTERVAL_NS`), before every
control reply (so `stats` and the log agree), and at exit, so a crashed run keeps most of it.

## Why a synchronous loop and not trio (a documented deviation from DESIGN.md)
DESIGN.md suggests the shared trio adapter for every socket. The proxy's hot path is instead a
plain `zmq.Poller` loop that drains up to `BATCH_MAX` messages per wake-up, with a heap of timed
deliveries: every message in a run crosses this loop, and in trio each message would pay for a
memory channel hop, a checkpoint, and the reader task's wake-ups on top of the zmq calls; a
batch drain through one poller costs one system call per batch. The proxy has no concurrency to
structure (one loop, two sockets, one timer heap), so trio would buy nothing here.
bench/proxy.py measures the result against a bare ROUTER forwarding loop.

## Lifetime
Exits 0 on SIGTERM, SIGINT or `shutdown` (flushing the log first). It asks Linux for SIGHUP
when its parent dies (`PR_SET_PDEATHSIG`) and also polls `os.getppid() != --parent-pid` every
0.5 s, as the fallback on other systems and for the race where the parent died before the
`prctl` call. Every limit is explicit: HWMs, linger, batch size, pending heap size.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import heapq
import json
import os
import random
import re
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import zmq

from chaos.faults import (
    COUNTER_NAMES,
    DELIVER_NOW,
    FaultTable,
    Grudge,
    blocked_links,
    grudge_from_json,
    grudge_to_json,
    parse_rules,
)
from node.wire import LINGER_MS, make_socket

PROXY_HWM = 1_000_000  # high: a full queue is a counted loss, but it should take a real stall
BATCH_MAX = 1000  # messages drained per wake-up before timers and control get a turn
PENDING_MAX = 1_000_000  # delayed copies held at once; beyond it a copy is an `overflow`
FLUSH_INTERVAL_NS = 100_000_000
PARENT_CHECK_INTERVAL_NS = 500_000_000
POLL_TIMEOUT_MS_MAX = 100  # how late a stop flag set by a signal handler can be noticed
ID_CACHE_MAX = 100_000
LINK_STATS_MAX = 10_000  # distinct links with their own counters; the rest share "other"
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
PR_SET_PDEATHSIG = 1

_TYPE = re.compile(rb'"type"\s*:\s*"([^"\\\x00-\x1f]{1,100})"')
_MSG_ID = re.compile(rb'"msg_id"\s*:\s*(\d{1,19})\b')


@dataclass(frozen=True)
class ProxyStatistics:
    """Counters since the proxy started. See the module docstring for the invariant."""

    received: int = 0
    delivered: int = 0
    dropped: int = 0
    partitioned: int = 0
    duplicated: int = 0
    delayed: int = 0
    reordered: int = 0
    unroutable: int = 0
    overflow: int = 0
    malformed: int = 0
    control_errors: int = 0
    pending: int = 0
    links: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MessageLog:
    """`messages.jsonl`, buffered in memory and written in batches."""

    def __init__(self, path: Path, *, lines_max: int = 10_000) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lines: list[str] = []
        self._lines_max = lines_max

    def append(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._lines_max:
            self.flush()

    @property
    def is_dirty(self) -> bool:
        return bool(self._lines)

    def flush(self) -> None:
        if self._lines:
            self._file.write("".join(self._lines))
            self._lines.clear()
        self._file.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()


class Proxy:
    """The proxy's state and loop. `main` builds one; tests may too (call `run` in a thread)."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        *,
        run_dir: Path,
        nodes: Sequence[str],
        seed: int,
        epoch_ns: int,
        parent_pid: int | None,
    ) -> None:
        self.run_dir = run_dir
        self.nodes = tuple(nodes)
        self.epoch_ns = epoch_ns
        self.parent_pid = parent_pid
        self.rng = random.Random(seed)
        self.table = FaultTable(nodes=self.nodes)
        self.grudge: Grudge = {}
        self.grudge_clients = False
        self._blocked: frozenset[tuple[str, str]] = frozenset()
        self._pending: list[tuple[int, int, bytes, bytes, bytes, str, str, int, str, str, str]] = []
        self._seq = 0
        self._stop = False
        self._ids: dict[bytes, tuple[str, str] | None] = {}
        self._links: dict[tuple[str, str], list[int]] = {}
        self._counts = dict.fromkeys(
            COUNTER_NAMES,
            0,
        )
        self.log = MessageLog(run_dir / "messages.jsonl")

        self.data = make_socket(ctx, zmq.ROUTER, hwm=PROXY_HWM, linger_ms=LINGER_MS)
        self.data.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.data.setsockopt(zmq.ROUTER_HANDOVER, 1)
        port = self.data.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.control = make_socket(ctx, zmq.ROUTER, hwm=PROXY_HWM, linger_ms=LINGER_MS)
        self.control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.control_endpoint = _control_endpoint(run_dir)
        self.control.bind(self.control_endpoint)

    # ----------------------------------------------------------------------------------------
    # statistics

    def statistics(self) -> ProxyStatistics:
        links = {
            f"{src}->{dest}": {"received": c[0], "delivered": c[1], "lost": c[2]}
            for (src, dest), c in sorted(self._links.items())
        }
        return ProxyStatistics(**self._counts, pending=len(self._pending), links=links)

    def _link(self, src: str, dest: str) -> list[int]:
        counts = self._links.get((src, dest))
        if counts is None:
            if len(self._links) >= LINK_STATS_MAX:
                src, dest = "other", "other"
                counts = self._links.setdefault((src, dest), [0, 0, 0])
            else:
                counts = self._links[(src, dest)] = [0, 0, 0]
        return counts

    # ----------------------------------------------------------------------------------------
    # the loop

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.data, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        next_flush_ns = time.monotonic_ns() + FLUSH_INTERVAL_NS
        next_parent_check_ns = 0
        while not self._stop:
            now = time.monotonic_ns()
            if now >= next_parent_check_ns:
                next_parent_check_ns = now + PARENT_CHECK_INTERVAL_NS
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    _log(f"parent {self.parent_pid} is gone; exiting")
                    break
            if now >= next_flush_ns:
                next_flush_ns = now + FLUSH_INTERVAL_NS
                self.log.flush()
            wake_ns = min(next_parent_check_ns, next_flush_ns)
            if self._pending:
                wake_ns = min(wake_ns, self._pending[0][0])
            timeout_ms = min(max(0, -(-(wake_ns - now) // 1_000_000)), POLL_TIMEOUT_MS_MAX)
            try:
                ready = dict(poller.poll(timeout_ms))
            except zmq.ZMQError as e:  # pragma: no cover - EINTR is retried by pyzmq
                _log(f"poll failed: {e}")
                continue
            if self.data in ready:
                self._drain_data()
            if self._pending:
                self._deliver_due(time.monotonic_ns())
            if self.control in ready:
                self._drain_control()
        self.log.flush()

    def _drain_data(self) -> None:
        recv = self.data.recv_multipart
        for _ in range(BATCH_MAX):
            try:
                frames = recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._on_message(frames)

    def _id(self, raw: bytes) -> tuple[str, str] | None:
        """(id, id as a JSON string) for a routing frame, or None when it is not a valid id."""
        try:
            return self._ids[raw]
        except KeyError:
            pass
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = ""
        value = (name, json.dumps(name)) if name and name.isprintable() else None
        if len(self._ids) >= ID_CACHE_MAX:
            self._ids.clear()
        self._ids[raw] = value
        return value

    def _on_message(self, frames: list[bytes]) -> None:
        now = time.monotonic_ns()
        if len(frames) != 3:
            self._malformed(
                frames, now, f"expected 3 frames [sender, dest, body], got {len(frames)}"
            )
            return
        sender, dest, body = frames
        src_id = self._id(sender)
        dest_id = self._id(dest)
        if src_id is None or dest_id is None or body[:1] != b"{" or body[-1:] != b"}":
            which = "sender" if src_id is None else "dest" if dest_id is None else "body"
            self._malformed(frames, now, f"bad {which} frame")
            return
        counts = self._counts
        counts["received"] += 1
        src, src_json = src_id
        dst, dst_json = dest_id
        self._link(src, dst)[0] += 1
        table = self.table
        fate = table.fate(src, dst, self.rng) if table.rules else DELIVER_NOW
        head = self._head(src_json, dst_json, body)
        if fate is DELIVER_NOW:
            self._deliver(dest, sender, body, src, dst, head, now, now, "delivered", "")
            return
        if not fate.delays_ms:
            counts["dropped"] += 1
            self._link(src, dst)[2] += 1
            self.log.append(f'{{"time":{now - self.epoch_ns},{head}"fate":"dropped"}}\n')
            return
        extra = ',"reordered":true' if fate.reordered else ""
        if fate.reordered:
            counts["reordered"] += 1
        for copy, delay_ms in enumerate(fate.delays_ms):
            fate_name = "duplicated" if copy else "delivered" if delay_ms == 0 else "delayed"
            if copy:
                counts["duplicated"] += 1
            if delay_ms == 0:
                self._deliver(dest, sender, body, src, dst, head, now, now, fate_name, extra)
                continue
            counts["delayed"] += 1
            if len(self._pending) >= PENDING_MAX:
                self._lose("overflow", src, dst, head, now, now, extra)
                continue
            self._seq += 1
            due = now + int(delay_ms * 1_000_000)
            item = (due, self._seq, dest, sender, body, src, dst, now, head, fate_name, extra)
            heapq.heappush(self._pending, item)

    @staticmethod
    def _head(src_json: str, dst_json: str, body: bytes) -> str:
        """The start of a log line: src, dest, and the body's type and msg_id when found."""
        head = f'"src":{src_json},"dest":{dst_json},'
        match = _TYPE.search(body)
        if match:
            head += f'"type":"{match.group(1).decode("utf-8", "replace")}",'
        match = _MSG_ID.search(body)
        if match:
            head += f'"msg_id":{int(match.group(1))},'
        return head

    def _deliver_due(self, now: int) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, _, dest, sender, body, src, dst, received, head, fate, extra = heapq.heappop(pending)
            self._deliver(dest, sender, body, src, dst, head, received, now, fate, extra)

    def _deliver(
        self,
        dest: bytes,
        sender: bytes,
        body: bytes,
        src: str,
        dst: str,
        head: str,
        received_ns: int,
        now: int,
        fate: str,
        extra: str,
    ) -> None:
        if self._blocked and (src, dst) in self._blocked:
            self._lose("partitioned", src, dst, head, received_ns, now, extra)
            return
        try:
            self.data.send_multipart([dest, sender, body], zmq.NOBLOCK)
        except zmq.Again:
            self._lose("overflow", src, dst, head, received_ns, now, extra)
            return
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                _log(f"send to {dst!r} failed: {e}")
            self._lose("unroutable", src, dst, head, received_ns, now, extra)
            return
        self._counts["delivered"] += 1
        self._link(src, dst)[1] += 1
        delay_ms = (now - received_ns) / 1e6
        self.log.append(
            f'{{"time":{now - self.epoch_ns},{head}"fate":"{fate}","delay_ms":{delay_ms:.3f}'
            f"{extra}}}\n"
        )

    def _lose(
        self, fate: str, src: str, dst: str, head: str, received_ns: int, now: int, extra: str
    ) -> None:
        self._counts[fate] += 1
        self._link(src, dst)[2] += 1
        delay_ms = (now - received_ns) / 1e6
        self.log.append(
            f'{{"time":{now - self.epoch_ns},{head}"fate":"{fate}","delay_ms":{delay_ms:.3f}'
            f"{extra}}}\n"
        )

    def _malformed(self, frames: list[bytes], now: int, reason: str) -> None:
        self._counts["malformed"] += 1
        line: dict[str, Any] = {"time": now - self.epoch_ns, "fate": "malformed"}
        # With a wrong frame count, the second frame need not be a destination: name only src.
        for key, index in (("src", 0), ("dest", 1))[: 2 if len(frames) == 3 else 1]:
            ident = self._id(frames[index]) if len(frames) > index else None
            if ident is not None:
                line[key] = ident[0]
        line["frames"] = len(frames)
        line["reason"] = reason
        self.log.append(json.dumps(line) + "\n")

    # ----------------------------------------------------------------------------------------
    # control

    def _drain_control(self) -> None:
        for _ in range(BATCH_MAX):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 2:
                self._counts["control_errors"] += 1
                continue
            envelope, request = frames[:-1], frames[-1]
            reply = self._command(request)
            self.log.flush()  # so that `stats` and messages.jsonl agree
            try:
                self.control.send_multipart([*envelope, json.dumps(reply).encode()], zmq.NOBLOCK)
            except zmq.ZMQError as e:
                _log(f"control reply lost: {e}")
            if self._stop:
                return

    def _command(self, raw: bytes) -> dict[str, Any]:
        request_id: Any = None
        try:
            try:
                request = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"a request must be a JSON object: {e}") from None
            if not isinstance(request, dict):
                raise ValueError(f"a request must be a JSON object, not {request!r}")
            request_id = request.get("id")
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                raise ValueError(f"request 'id' must be an integer, not {request_id!r}")
            reply = self._execute(request)
        except ValueError as e:
            self._counts["control_errors"] += 1
            _log(f"control error: {e}")
            return {"id": request_id, "ok": False, "error": str(e)}
        return {"id": request_id, "ok": True, **reply}

    def _execute(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        allowed = {
            "ping": set(),
            "partition": {"grudge", "clients"},
            "link_faults": {"faults", "clients"},
            "heal": set(),
            "stats": set(),
            "shutdown": set(),
        }
        if cmd not in allowed:
            raise ValueError(f"unknown cmd {cmd!r}; commands: {', '.join(allowed)}")
        unknown = set(request) - {"id", "cmd"} - allowed[cmd]
        if unknown:
            raise ValueError(f"{cmd}: unknown field(s) {', '.join(sorted(unknown))}")
        clients = request.get("clients", False)
        if not isinstance(clients, bool):
            raise ValueError(f"{cmd}: 'clients' must be true or false, not {clients!r}")
        if cmd == "partition":
            if "grudge" not in request:
                raise ValueError("partition: 'grudge' is required (node -> [nodes])")
            grudge = grudge_from_json(request["grudge"], nodes=self.nodes, clients=clients)
            self.grudge, self.grudge_clients = grudge, clients
            self._blocked = blocked_links(grudge)
            _log(f"partition {json.dumps(grudge_to_json(grudge))} clients={clients}")
        elif cmd == "link_faults":
            if "faults" not in request:
                raise ValueError("link_faults: 'faults' is required (a list of rules)")
            rules = parse_rules(request["faults"])
            self.table = FaultTable(rules, nodes=self.nodes, clients=clients)
            _log(f"link_faults {json.dumps(self.table.to_json())}")
        elif cmd == "heal":
            self.grudge, self.grudge_clients, self._blocked = {}, False, frozenset()
            self.table = FaultTable(nodes=self.nodes)
            _log("heal")
        elif cmd == "stats":
            return {"stats": self.statistics().to_json()}
        elif cmd == "shutdown":
            _log("shutdown requested")
            self._stop = True
        return {}

    def close(self) -> None:
        self.log.close()
        self.data.close(linger=LINGER_MS)
        self.control.close(linger=LINGER_MS)
        if self.control_endpoint.startswith("ipc:///"):
            Path(self.control_endpoint.removeprefix("ipc://")).unlink(missing_ok=True)


def _control_endpoint(run_dir: Path) -> str:
    path = str((run_dir / "proxy.sock").resolve())
    if len(path.encode()) <= UNIX_SOCKET_PATH_MAX:
        return f"ipc://{path}"
    # Too long for sun_path: an abstract socket (Linux) named so that `ss -x` shows whose it is.
    return f"ipc://@chaos-proxy-{os.getpid()}-{secrets.token_hex(4)}"


def _log(text: str) -> None:
    print(f"proxy: {text}", file=sys.stderr, flush=True)


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGHUP us when the parent dies. Elsewhere polling does the work.

    Linux sends the signal when the parent *thread* that forked us exits, not the process:
    trio forks from a worker thread that exits when idle, so the signal also comes while the
    orchestrator lives. The handler therefore checks `getppid()` before it believes it.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.proxy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--run-dir", required=True, type=Path, help="the run directory")
    parser.add_argument("--parent-pid", required=True, type=int, help="exit when it dies")
    parser.add_argument(
        "--epoch-ns", required=True, type=int, help="time.monotonic_ns() of the run's start"
    )
    parser.add_argument("--seed", required=True, type=int, help="seeds every fault decision")
    parser.add_argument("--nodes", required=True, help="comma-separated node ids, e.g. n1,n2,n3")
    args = parser.parse_args(argv)
    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
    if not nodes:
        parser.error("--nodes: give at least one node id, e.g. --nodes n1,n2,n3")
    if len(set(nodes)) != len(nodes):
        parser.error(f"--nodes: ids must be distinct, got {args.nodes}")
    args.nodes = nodes
    if not args.run_dir.is_dir():
        parser.error(f"--run-dir: {args.run_dir} is not a directory; create it first")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    _set_parent_death_signal()
    if os.getppid() != args.parent_pid:
        _log(f"parent {args.parent_pid} is already gone; not starting")
        return 0
    ctx: zmq.Context[Any] = zmq.Context()
    proxy = Proxy(
        ctx,
        run_dir=args.run_dir,
        nodes=args.nodes,
        seed=args.seed,
        epoch_ns=args.epoch_ns,
        parent_pid=args.parent_pid,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        proxy.stop()

    def on_parent_death_signal(signum: int, frame: FrameType | None) -> None:
        if os.getppid() != args.parent_pid:
            proxy.stop()
        # else: the thread that forked us exited, not the orchestrator; carry on.

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_parent_death_signal)
    try:
        ready = {
            "event": "ready",
            "endpoint": proxy.endpoint,
            "control": proxy.control_endpoint,
            "pid": os.getpid(),
        }
        line = json.dumps(ready)
        tmp = args.run_dir / "proxy.json.tmp"
        tmp.write_text(line + "\n", encoding="utf-8")
        tmp.replace(args.run_dir / "proxy.json")
        print(line, flush=True)
        _log(f"ready: data {proxy.endpoint}, control {proxy.control_endpoint}, nodes {args.nodes}")
        proxy.run()
    finally:
        proxy.close()
        ctx.term()
    stats = proxy.statistics()
    _log(
        f"exit: received {stats.received}, delivered {stats.delivered}, dropped {stats.dropped}, "
        f"partitioned {stats.partitioned}, malformed {stats.malformed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
