"""The chaos proxy: one OS process that every message of a run passes through.

    python -m chaos.proxy --run-dir DIR --parent-pid PID --epoch-ns N --seed S --nodes n1,n2,n3
                          [--fault-service-links] [--latency-ms MS [--latency-dist D]]

It reads the run's secret from the environment variable `CHAOS_RUN_SECRET` (exit 2 without
it), binds a data ROUTER on `tcp://127.0.0.1:<ephemeral>` and on `ipc://DIR/proxy-data.sock`,
and a control ROUTER on `ipc://DIR/proxy.sock` (each socket file mode 0600, or an abstract
`ipc://@chaos-proxy-...` when its path is too long for a unix socket), prints one ready line
`{"event": "ready", "endpoint": ..., "ipc": ..., "control": ..., "pid": ...}` on stdout, writes
the same object to `DIR/proxy.json`, and forwards until SIGTERM, SIGINT, a `shutdown` command,
or its parent's death. docs/internals.md is the contract; this docstring explains how the proxy
keeps it.

## Endpoints
The data ROUTER listens on two endpoints, one socket behind both: `endpoint` (TCP loopback)
and `ipc` (a unix socket in the run directory). The run's own processes (the orchestrator's
clients and the nodes, `chaos.supervisor.Cluster.endpoint`) connect to `ipc`: a unix socket
costs libzmq's I/O threads and the kernel less per message than TCP loopback, on both ends,
and every client operation is four messages through it (bench/README.md, "Client
throughput"). Both endpoints admit the same peers (the PLAIN login below applies to the socket,
whatever the endpoint), and the routing, the counters and `messages.jsonl` do not know which
one a message came by.

## Who may join
Only the run's own processes: every peer must authenticate with ZeroMQ's PLAIN mechanism, user
name = its id, password = the run's secret, which the orchestrator hands its children in the
environment (never on a command line). Both ROUTERs are PLAIN servers, and the proxy answers
their ZAP requests (RFC 27) itself, on an `inproc://zeromq.zap.01` ROUTER polled in the same
loop as everything else (no thread). It admits on the data socket the secret with a user name
that is a node of the run or a client id (`c<N>`), and on the control socket the secret. A peer
without the secret (or speaking no mechanism at all) fails the handshake, before the ROUTER has
seen it: it can neither send nor receive, and it is counted as `refused` (a socket monitor, also
polled in the loop, sees every failed handshake).

The ZAP request does not carry the peer's routing id (its "identity" frame is the server's own;
the peer sends its routing id only after ZAP, in the handshake's last step), so ZAP alone could
not stop an authenticated peer from claiming another's routing id and, with `ROUTER_HANDOVER`,
cutting that peer off. So the routing id is not the name any more (a documented deviation from
DESIGN.md's "routing id = node id, ROUTER_HANDOVER"): authenticated peers set no routing id, the
ROUTER gives every connection its own (a zero byte and 4 more, which no peer may choose), and the
proxy names a connection by the user name ZAP approved, read once from the first message's
`User-Id` metadata. Names map to the newest connection that authenticated as them: a restarted
node takes its id back by authenticating, and nothing else can take it. A node announces itself
with one empty frame (`node.wire.JOIN_FRAME`); the `joined` command counts each node's
connections, so the orchestrator sends `init` once it knows the node is there, and only once.

## Control bodies
Message bodies whose `type` starts with `chaos_` (clock skew, and the like) are control: they are
forwarded only from the orchestrator's admin client (`c0`) or back to it (a node's reply). The
check stays off the JSON parser for ordinary traffic: only a body that contains `"chaos_` or a
backslash-u escape (which could spell it) is parsed, and one whose type starts with `chaos_` from
anyone else is dropped, counted as `forbidden` and logged. The admin client's messages (`init`,
`topology`, `chaos_*`) are the harness's control plane, not the system's network: no link fault
applies to them, so the single `init` a node gets cannot be lost to a fault the nemesis set.

## Routing
A node's DEALER sends `[dest, body]`; the ROUTER receives `[connection, dest, body]` and the
proxy sends `[dest's connection, sender's name, body]`, so the receiver sees `[src, body]`.
Routing never parses JSON (the control check above aside). The only other look at the body is
a check that it is shaped like a JSON object (`{...}`) and two bounded
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

## The baseline latency
A run may give its network a latency in normal operation, as Maelstrom's `--latency` (the
scenario's `latency_ms` and `latency_dist`). The proxy learns it once, at start-up, from its
command line (`--latency-ms MS --latency-dist constant|uniform|exponential`, default 0: none),
not from a control command: it is a property of the network, fixed for the run, in force from
the first message on, and `ps` shows it. It is not a fault, so no control command changes it: a
`heal` or a new link-fault table leaves it in force. `chaos.faults.network_fate` adds it to every
copy a message's fate delivers (each copy of a duplicate draws its own, from the same rng and
after the fault's draws; a dropped message stays dropped), on every link but the admin
client's: node to node, client to node and back, and the services' links (as Maelstrom's
services are nodes of its network), whether or not faults reach those. A partition still
loses a copy whose wait ends while it is cut. Without a baseline nothing is drawn.

Every copy ends in exactly one outcome, counted in `statistics()` and logged as one line of
`messages.jsonl` at the time of the outcome: delivered at once (`delivered`), delivered late
(`delayed`, with `delay_ms`), the extra copy of a duplicate (`duplicated`), or lost
(`dropped`, `partitioned`, `unroutable`, `overflow`). A copy the baseline latency alone held
back is `delivered`, its `delay_ms` the wait; every copy that waited for the baseline carries
`baseline_ms` in its line. The counter `delayed` counts copies a fault held back, never the
baseline, so that a delay fault's effect is told apart from the network's normal latency;
`baseline_delayed` counts the copies the baseline held back. The statistics keep
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
Only the data socket is polled as a zmq socket. The control socket, the ZAP handler and the
two monitors, quiet nearly always, are polled by their file descriptors: zmq checks every zmq
socket it polls before and after it sleeps (a system call each), which made five sockets cost
five times one on every wake-up. Such an FD signals a new command, not a pending message, so
each of their drains reads until `zmq.Again` (which processes every command, so the FD
signals the next one), and one that `BATCH_MAX` stopped runs again without waiting for it.
Frames are read and written by hand with int flags: `Frame.more` rather than asking the
socket for RCVMORE after each frame, an `EVENTS` check after each message (through
`node.wire.pending_events`, which skips pyzmq's enum of the option) rather than the
`zmq.Again` exception that would end a batch, and three `send` calls rather than
`send_multipart`, whose enum flags cost more than the send. A ROUTER refuses a message on its
first frame (unroutable, full) before anything is queued, so a message still goes whole or
not at all. bench/proxy.py measures the result against a bare ROUTER forwarding loop.

## The services a cluster offers
The proxy hosts Maelstrom's services (`seq-kv`, `lin-kv`, `lww-kv`, `lin-tso`;
`node.cluster_services.KvServices`, whose docstring has their semantics): they are ids of the
run that no process logs in as (the login admits only nodes and client ids). A copy for a
service id that leaves the fault pipeline is handed to the service at that instant and
counted `delivered` like any other; the reply enters the pipeline as a message from the service
(`received`, then faults, then delivered to the request's `src`). Both appear in
`messages.jsonl`. Service links are exempt from link faults and partitions (as the admin's are)
unless the proxy was started with `--fault-service-links` (the scenario's
`fault_service_links`): then link-fault rules treat service ids as nodes (`*` matches them) and
a partition places the services with one node (`node.cluster_services.service_grudge`).

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
import hmac
import json
import os
import random
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import zmq
from zmq.utils.monitor import recv_monitor_message

from chaos.faults import (
    ADMIN_ID,
    BASELINES,
    COUNTER_NAMES,
    DELIVER_NOW,
    Delay,
    FaultTable,
    Grudge,
    baseline_delay,
    blocked_links,
    grudge_from_json,
    grudge_to_json,
    network_fate,
    parse_rules,
)
from node.cluster_services import SERVICE_IDS, KvServices, service_grudge
from node.wire import JOIN_FRAME, LINGER_MS, SECRET_ENV, make_socket, pending_events

PROXY_HWM = 1_000_000  # high: a full queue is a counted loss, but it should take a real stall
BATCH_MAX = 1000  # messages drained per wake-up before timers and control get a turn
PENDING_MAX = 1_000_000  # delayed copies held at once; beyond it a copy is an `overflow`
FLUSH_INTERVAL_NS = 100_000_000
PARENT_CHECK_INTERVAL_NS = 500_000_000
POLL_TIMEOUT_MS_MAX = 100  # how late a stop flag set by a signal handler can be noticed
ID_CACHE_MAX = 100_000
LINK_STATS_MAX = 10_000  # distinct links with their own counters; the rest share "other"
RECEIVED, DELIVERED, LOST = 0, 1, 2  # a link's counters, in its list
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
CONTROL_SOCKET_NAME = "proxy.sock"  # the control ROUTER's socket file in the run directory
DATA_SOCKET_NAME = "proxy-data.sock"  # the data ROUTER's
PR_SET_PDEATHSIG = 1
PEERS_MAX = 200_000  # connections remembered; beyond it clients' are forgotten (they re-auth)
REFUSED_LOG_MAX = 20  # refusals logged one by one; after that one line per 1000
ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # where libzmq sends ZAP requests (RFC 27)
ZAP_DATA, ZAP_CONTROL = b"data", b"control"  # ZAP domains of the two ROUTERs
HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)

# pyzmq's constants are enums, whose `|` and `&` cost a Python call; the hot path uses ints.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
_POLLIN = int(zmq.POLLIN)

_TYPE = re.compile(rb'"type"\s*:\s*"([^"\\\x00-\x1f]{1,100})"')
_MSG_ID = re.compile(rb'"msg_id"\s*:\s*(\d{1,19})\b')
_IN_REPLY_TO = re.compile(rb'"in_reply_to"\s*:\s*(\d{1,19})\b')
_CLIENT_ID = re.compile(r"c[0-9]{1,18}")


@dataclass(frozen=True)
class ProxyStatistics:
    """Counters since the proxy started. See the module docstring for the invariant."""

    received: int = 0
    delivered: int = 0
    dropped: int = 0
    partitioned: int = 0
    duplicated: int = 0
    delayed: int = 0  # copies a fault held back
    baseline_delayed: int = 0  # copies the baseline latency held back (not a fault)
    reordered: int = 0
    unroutable: int = 0
    overflow: int = 0
    malformed: int = 0
    control_errors: int = 0
    refused: int = 0  # handshakes failed: peers without the run's secret
    forbidden: int = 0  # `chaos_` bodies not from the orchestrator, dropped
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
        secret: str,
        fault_service_links: bool = False,
        baseline: Delay | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the run's secret must not be empty")
        clash = sorted(set(nodes) & set(SERVICE_IDS))
        if clash:
            raise ValueError(f"node ids {clash} are the names of the cluster's services")
        self.run_dir = run_dir
        self.nodes = tuple(nodes)
        self.services = KvServices(seed=seed)
        self._service_ids = frozenset(SERVICE_IDS)
        self.fault_service_links = fault_service_links
        # Never faulted: the admin's links, and the services' unless the run says otherwise.
        self._exempt = frozenset({ADMIN_ID} | (set() if fault_service_links else set(SERVICE_IDS)))
        # The ids link-fault rules treat as nodes (`*` matches them without "clients").
        self._faulted_ids = self.nodes + (SERVICE_IDS if fault_service_links else ())
        self.epoch_ns = epoch_ns
        self.parent_pid = parent_pid
        self.rng = random.Random(seed)
        # The network's latency in normal operation (see "The baseline latency"): fixed for the
        # run; no control command touches it.
        self.baseline = baseline if baseline is not None and not baseline.is_zero else None
        self.table = FaultTable(nodes=self._faulted_ids)
        self.grudge: Grudge = {}
        self.grudge_clients = False
        self._blocked: frozenset[tuple[str, str]] = frozenset()
        self._pending: list[tuple[int, int, bytes, bytes, bytes, str, str, int, str, str, str]] = []
        self._seq = 0
        self._stop = False
        self._ids: dict[bytes, tuple[str, str] | None] = {}
        self._links: dict[tuple[str, str], list[int]] = {}
        self._counts = dict.fromkeys(COUNTER_NAMES, 0)
        self._secret = secret.encode()
        self._node_set = frozenset(self.nodes)
        # Connections and names (see "Who may join"): routing id -> (name as bytes, name, name
        # as JSON), and name -> the routing id of its newest connection.
        self._peers: dict[bytes, tuple[bytes, str, str]] = {}
        self._routes: dict[bytes, bytes] = {}
        self._joins: dict[str, int] = {}  # node (or admin) -> connections it authenticated
        self._refusals_logged = 0
        self.log = MessageLog(run_dir / "messages.jsonl")

        # The ZAP handler first: libzmq asks it about every handshake on the sockets below.
        self.zap = make_socket(ctx, zmq.ROUTER, hwm=PROXY_HWM, linger_ms=LINGER_MS)
        self.zap.bind(ZAP_ENDPOINT)
        self.data = make_socket(ctx, zmq.ROUTER, hwm=PROXY_HWM, linger_ms=LINGER_MS)
        self.data.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.data.setsockopt(zmq.PLAIN_SERVER, 1)
        self.data.setsockopt(zmq.ZAP_DOMAIN, ZAP_DATA)
        self.data_monitor = self.data.get_monitor_socket(HANDSHAKE_FAILED)
        self._data_poll_items = [(self.data, _POLLIN)]
        port = self.data.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        # The same ROUTER on a unix socket, for the run's own processes (see "Endpoints").
        self.ipc_endpoint = _ipc_endpoint(run_dir, DATA_SOCKET_NAME, "data")
        self.data.bind(self.ipc_endpoint)
        _restrict_to_user(self.ipc_endpoint)
        self.control = make_socket(ctx, zmq.ROUTER, hwm=PROXY_HWM, linger_ms=LINGER_MS)
        self.control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.control.setsockopt(zmq.PLAIN_SERVER, 1)
        self.control.setsockopt(zmq.ZAP_DOMAIN, ZAP_CONTROL)
        self.control_monitor = self.control.get_monitor_socket(HANDSHAKE_FAILED)
        self.control_endpoint = _ipc_endpoint(run_dir, CONTROL_SOCKET_NAME, "control")
        self.control.bind(self.control_endpoint)
        _restrict_to_user(self.control_endpoint)

    # ----------------------------------------------------------------------------------------
    # statistics

    def statistics(self) -> ProxyStatistics:
        links = {
            f"{src}->{dest}": {"received": c[RECEIVED], "delivered": c[DELIVERED],
                               "lost": c[LOST]}
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
        # Only `data` is polled as a zmq socket; the quiet ones by their FDs (module docstring).
        poller = zmq.Poller()
        poller.register(self.data, zmq.POLLIN)
        first: list[tuple[int, Callable[[], bool]]] = [  # before the data, as they come
            (self._fd(self.zap), self._drain_zap),
            (self._fd(self.data_monitor), lambda: self._drain_monitor(self.data_monitor, "data")),
            (
                self._fd(self.control_monitor),
                lambda: self._drain_monitor(self.control_monitor, "control"),
            ),
        ]
        control_fd = self._fd(self.control)  # after the data: a `stats` sees this batch
        for fd, _ in first:
            poller.register(fd, zmq.POLLIN)
        poller.register(control_fd, zmq.POLLIN)
        # fd -> whether its drain stopped at BATCH_MAX (or has not run yet): drain it again
        # without waiting for its FD, which signals only what comes after a drain.
        more = {fd: True for fd, _ in first} | {control_fd: True}
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
            if True in more.values():
                timeout_ms = 0
            try:
                ready = dict(poller.poll(timeout_ms))
            except zmq.ZMQError as e:  # pragma: no cover - EINTR is retried by pyzmq
                _log(f"poll failed: {e}")
                continue
            for fd, drain in first:
                if more[fd] or fd in ready:
                    more[fd] = drain()
            if self.data in ready:
                self._drain_data()
            if self._pending:
                self._deliver_due(time.monotonic_ns())
            if more[control_fd] or control_fd in ready:
                more[control_fd] = self._drain_control()
        self.log.flush()

    @staticmethod
    def _fd(sock: zmq.Socket[Any]) -> int:
        return int(sock.getsockopt(zmq.FD))

    def _drain_data(self) -> None:
        # recv by hand: a connection's first message is read with its metadata, `Frame.more`
        # costs less than asking the socket for RCVMORE, and `EVENTS` after each message less
        # than the `zmq.Again` that would end the batch.
        sock = self.data
        recv = sock.recv
        poll_items = self._data_poll_items
        peers = self._peers
        for _ in range(BATCH_MAX):
            try:
                head = recv(_NOBLOCK, copy=False)
            except zmq.Again:
                return
            routing_id = head.bytes
            first = recv(_NOBLOCK, copy=False)  # a ROUTER message has at least two frames
            frames = [routing_id, first.bytes]
            frame = first
            while frame.more:
                frame = recv(_NOBLOCK, copy=False)
                frames.append(frame.bytes)
            peer = peers.get(routing_id)
            if peer is None:  # a new connection: who did it authenticate as?
                peer = self._authenticated(routing_id, first)
            if peer is not None:
                self._on_message(peer, frames)
            if not pending_events(poll_items) & _POLLIN:
                return

    def _authenticated(self, routing_id: bytes, frame: zmq.Frame) -> tuple[bytes, str, str] | None:
        """Name a new connection by the user name ZAP approved for it (its `User-Id`)."""
        try:
            name = str(frame.get("User-Id"))
        except zmq.ZMQError:  # no such property: not authenticated
            name = ""
        if not self._is_member(name):  # cannot happen while ZAP guards the socket; be sure
            self._counts["refused"] += 1
            self._log_refusal(f"a message from a connection authenticated as {name!r}")
            return None
        if len(self._peers) >= PEERS_MAX:
            self._forget_clients()
        name_bytes = name.encode()
        peer = (name_bytes, name, json.dumps(name))
        self._peers[routing_id] = peer
        self._routes[name_bytes] = routing_id
        if name in self._node_set or name == ADMIN_ID:
            joins = self._joins[name] = self._joins.get(name, 0) + 1
            _log(f"{name} joined (connection {joins})")
        return peer

    def _is_member(self, name: str) -> bool:
        """A node of this run, or a client id (`c0`, `c1`, ...)."""
        return name in self._node_set or _CLIENT_ID.fullmatch(name) is not None

    def _forget_clients(self) -> None:
        """Bound memory: keep only the nodes' (and the admin's) current connections. A client
        forgotten while connected is named again from its next message."""
        keep = {self._routes[n.encode()] for n in self._joins if n.encode() in self._routes}
        self._peers = {rid: p for rid, p in self._peers.items() if rid in keep}
        self._routes = {p[0]: rid for rid, p in self._peers.items()}

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

    def _on_message(self, peer: tuple[bytes, str, str], frames: list[bytes]) -> None:
        now = time.monotonic_ns()
        if len(frames) != 3:
            if len(frames) == 2 and frames[1] == JOIN_FRAME:
                return  # a node announcing itself: `_authenticated` counted the join
            self._malformed(
                peer, frames, now, f"expected 3 frames [sender, dest, body], got {len(frames)}"
            )
            return
        _, dest, body = frames
        sender, src, src_json = peer
        dest_id = self._id(dest)
        if dest_id is None or body[:1] != b"{" or body[-1:] != b"}":
            which = "dest" if dest_id is None else "body"
            self._malformed(peer, frames, now, f"bad {which} frame")
            return
        dst, dst_json = dest_id
        if (
            (b'"chaos_' in body or b"\\u" in body)
            and src != ADMIN_ID
            and dst != ADMIN_ID
            and _is_control(body)
        ):
            self._forbidden(src, dst, self._head(src_json, dst_json, body), now)
            return
        self._route(dest, sender, body, src, src_json, dst, dst_json, now)

    def _route(self, dest: bytes, sender: bytes, body: bytes, src: str, src_json: str,
               dst: str, dst_json: str, now: int) -> None:
        """A well-formed message enters the fault pipeline: received, then its fate."""
        counts = self._counts
        counts["received"] += 1
        self._link(src, dst)[RECEIVED] += 1
        fate = network_fate(self.table, src, dst, self.rng, exempt=self._exempt,
                            baseline=self.baseline)
        head = self._head(src_json, dst_json, body)
        if fate is DELIVER_NOW:
            self._deliver(dest, sender, body, src, dst, head, now, now, "delivered", "")
            return
        if not fate.delays_ms:
            counts["dropped"] += 1
            self._link(src, dst)[LOST] += 1
            self.log.append(f'{{"time":{now - self.epoch_ns},{head}"fate":"dropped"}}\n')
            return
        extra = ',"reordered":true' if fate.reordered else ""
        if fate.reordered:
            counts["reordered"] += 1
        baseline_ms = fate.baseline_ms
        for copy, delay_ms in enumerate(fate.delays_ms):
            fate_name = "duplicated" if copy else "delivered" if delay_ms == 0 else "delayed"
            if copy:
                counts["duplicated"] += 1
            held_ms = delay_ms
            copy_extra = extra
            if baseline_ms and baseline_ms[copy] > 0:
                held_ms += baseline_ms[copy]
                copy_extra = f'{extra},"baseline_ms":{baseline_ms[copy]:.3f}'
                counts["baseline_delayed"] += 1
            if held_ms == 0:
                self._deliver(dest, sender, body, src, dst, head, now, now, fate_name, extra)
                continue
            if delay_ms > 0:
                counts["delayed"] += 1  # a fault's doing; the baseline alone is not counted here
            if len(self._pending) >= PENDING_MAX:
                self._lose("overflow", src, dst, head, now, now, copy_extra)
                continue
            self._seq += 1
            due = now + int(held_ms * 1_000_000)
            item = (due, self._seq, dest, sender, body, src, dst, now, head, fate_name, copy_extra)
            heapq.heappush(self._pending, item)

    @staticmethod
    def _head(src_json: str, dst_json: str, body: bytes) -> str:
        """The start of a log line: src, dest, and the body's type, msg_id and in_reply_to
        when found (the report's message diagram pairs requests and replies by them)."""
        head = f'"src":{src_json},"dest":{dst_json},'
        match = _TYPE.search(body)
        if match:
            head += f'"type":"{match.group(1).decode("utf-8", "replace")}",'
        match = _MSG_ID.search(body)
        if match:
            head += f'"msg_id":{int(match.group(1))},'
        match = _IN_REPLY_TO.search(body)
        if match:
            head += f'"in_reply_to":{int(match.group(1))},'
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
        routing_id = self._routes.get(dest)  # looked up now: the node may have restarted
        if routing_id is None:  # never joined, or a service
            if dst in self._service_ids:
                self._serve(dst, body, src, dst, head, received_ns, now, fate, extra)
                return
            self._lose("unroutable", src, dst, head, received_ns, now, extra)
            return
        send = self.data.send
        try:
            # By hand, with int flags (see _drain_data). A refusal (a full queue, a peer gone)
            # comes on the first frame, before anything is queued: the message is atomic.
            send(routing_id, _MORE_NOBLOCK)
            send(sender, _MORE_NOBLOCK)
            send(body, _NOBLOCK)
        except zmq.Again:
            self._lose("overflow", src, dst, head, received_ns, now, extra)
            return
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                _log(f"send to {dst!r} failed: {e}")
            self._lose("unroutable", src, dst, head, received_ns, now, extra)
            return
        self._outcome("delivered", DELIVERED, fate, src, dst, head, received_ns, now, extra)

    def _serve(self, service: str, body: bytes, src: str, dst: str, head: str,
               received_ns: int, now: int, fate: str, extra: str) -> None:
        """Hand a copy to the service `service` (delivered), and route its reply."""
        self._outcome("delivered", DELIVERED, fate, src, dst, head, received_ns, now, extra)
        answer = self.services.handle_json(service, body)
        if answer is None:
            return
        reply_dst, reply = answer
        reply_id = self._id(reply_dst.encode())
        if reply_id is None:  # an empty or unprintable src: nobody to answer
            return
        self._route(reply_dst.encode(), service.encode(), reply.encode(), service,
                    json.dumps(service), reply_id[0], reply_id[1], now)

    def _lose(
        self, fate: str, src: str, dst: str, head: str, received_ns: int, now: int, extra: str
    ) -> None:
        self._outcome(fate, LOST, fate, src, dst, head, received_ns, now, extra)

    def _outcome(self, counter: str, slot: int, fate: str, src: str, dst: str, head: str,
                 received_ns: int, now: int, extra: str) -> None:
        """Count a copy's one outcome (`counter`, and the link's `slot`: DELIVERED or LOST)
        and log its `messages.jsonl` line."""
        self._counts[counter] += 1
        self._link(src, dst)[slot] += 1
        delay_ms = (now - received_ns) / 1e6
        self.log.append(
            f'{{"time":{now - self.epoch_ns},{head}"fate":"{fate}","delay_ms":{delay_ms:.3f}'
            f"{extra}}}\n"
        )

    def _malformed(
        self, peer: tuple[bytes, str, str], frames: list[bytes], now: int, reason: str
    ) -> None:
        self._counts["malformed"] += 1
        line: dict[str, Any] = {"time": now - self.epoch_ns, "fate": "malformed", "src": peer[1]}
        # With a wrong frame count, the second frame need not be a destination.
        ident = self._id(frames[1]) if len(frames) == 3 else None
        if ident is not None:
            line["dest"] = ident[0]
        line["frames"] = len(frames)
        line["reason"] = reason
        self.log.append(json.dumps(line) + "\n")

    def _forbidden(self, src: str, dst: str, head: str, now: int) -> None:
        self._counts["forbidden"] += 1
        self.log.append(f'{{"time":{now - self.epoch_ns},{head}"fate":"forbidden"}}\n')
        if self._counts["forbidden"] <= REFUSED_LOG_MAX or self._counts["forbidden"] % 1000 == 0:
            _log(
                f"forbidden: a chaos_ body from {src} to {dst} (only {ADMIN_ID}, the "
                f"orchestrator, sends control); {self._counts['forbidden']} so far"
            )

    # ----------------------------------------------------------------------------------------
    # who may join: ZAP and the handshake monitors

    def _drain_zap(self) -> bool:
        """Answer pending ZAP requests; True when `BATCH_MAX` stopped it."""
        for _ in range(BATCH_MAX):
            try:
                frames = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            try:
                split = frames.index(b"") + 1
            except ValueError:
                continue  # not a ZAP request: nobody to answer
            envelope, request = frames[:split], frames[split:]
            if len(request) < 2:
                continue
            status, text, user = self._zap_decide(request)
            reply = [*envelope, b"1.0", request[1], status, text.encode(), user, b""]
            try:
                self.zap.send_multipart(reply, zmq.NOBLOCK)
            except zmq.ZMQError as e:
                _log(f"ZAP reply lost: {e}")
        return True

    def _zap_decide(self, request: list[bytes]) -> tuple[bytes, str, bytes]:
        """(status code, status text, user id) for one ZAP request (RFC 27)."""
        if len(request) < 6 or request[0] != b"1.0":
            return b"500", "not a ZAP 1.0 request", b""
        domain, address, mechanism, credentials = request[2], request[3], request[5], request[6:]
        where = address.decode(errors="replace")
        if mechanism != b"PLAIN" or len(credentials) != 2:
            self._log_refusal(f"{where}: {mechanism.decode(errors='replace')} without PLAIN")
            return b"400", "the run's PLAIN credentials are required", b""
        username, password = credentials
        name = username.decode(errors="replace")
        if not hmac.compare_digest(password, self._secret):
            self._log_refusal(f"{where} as {name!r}: not the run's secret")
            return b"400", "not the run's secret", b""
        if domain == ZAP_CONTROL:
            return b"200", "OK", b"control"
        if domain != ZAP_DATA or not self._is_member(name):
            self._log_refusal(f"{where} as {name!r}: not a node of this run nor a client id")
            return b"400", "not a node of this run nor a client id", b""
        return b"200", "OK", username

    def _drain_monitor(self, monitor: zmq.Socket[Any], which: str) -> bool:
        """Count failed handshakes; True when `BATCH_MAX` stopped it."""
        for _ in range(BATCH_MAX):
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return False
            if event["event"] & HANDSHAKE_FAILED:
                self._counts["refused"] += 1
                if event["event"] != zmq.EVENT_HANDSHAKE_FAILED_AUTH:  # ZAP logged those
                    why = (
                        "it offered no credentials (mechanism mismatch)"
                        if event["value"] == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                        else f"{zmq.Event(event['event']).name}, {int(event['value']):#x}"
                    )
                    self._log_refusal(f"a peer on the {which} socket failed the handshake: {why}")
        return True

    def _log_refusal(self, what: str) -> None:
        self._refusals_logged += 1
        n = self._refusals_logged
        if n <= REFUSED_LOG_MAX or n % 1000 == 0:
            _log(f"refused: {what} (refusal log line {n})")

    # ----------------------------------------------------------------------------------------
    # control

    def _drain_control(self) -> bool:
        """Answer pending control requests; True when `BATCH_MAX` stopped it."""
        for _ in range(BATCH_MAX):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
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
                return False
        return True

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
            "joined": set(),
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
            self._blocked = self._blocked_links(grudge)
            _log(f"partition {json.dumps(grudge_to_json(grudge))} clients={clients}")
        elif cmd == "link_faults":
            if "faults" not in request:
                raise ValueError("link_faults: 'faults' is required (a list of rules)")
            rules = parse_rules(request["faults"])
            self.table = FaultTable(rules, nodes=self._faulted_ids, clients=clients)
            _log(f"link_faults {json.dumps(self.table.to_json())}")
        elif cmd == "heal":
            self.grudge, self.grudge_clients, self._blocked = {}, False, frozenset()
            self.table = FaultTable(nodes=self._faulted_ids)
            _log("heal")
        elif cmd == "stats":
            return {"stats": self.statistics().to_json()}
        elif cmd == "joined":
            return {"joined": dict(self._joins)}
        elif cmd == "shutdown":
            _log("shutdown requested")
            self._stop = True
        return {}

    def _blocked_links(self, grudge: Grudge) -> frozenset[tuple[str, str]]:
        """The links a grudge cuts, the services' included when their links are faulted."""
        if self.fault_service_links:
            return blocked_links(service_grudge(grudge, self.nodes, SERVICE_IDS))
        return frozenset(
            (a, b) for a, b in blocked_links(grudge)
            if a not in self._service_ids and b not in self._service_ids
        )

    def close(self) -> None:
        self.log.close()
        for sock in (self.data, self.control):
            sock.disable_monitor()
        for sock in (self.data_monitor, self.control_monitor, self.data, self.control, self.zap):
            sock.close(linger=LINGER_MS)
        for endpoint in (self.ipc_endpoint, self.control_endpoint):
            if endpoint.startswith("ipc:///"):  # an abstract socket leaves no file
                Path(endpoint.removeprefix("ipc://")).unlink(missing_ok=True)


def _is_control(body: bytes) -> bool:
    """Whether a body's `type` starts with `chaos_`, as the receiver's codec will read it."""
    try:
        msg = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: the receiver rejects it
        return False
    inner = msg.get("body") if isinstance(msg, dict) else None
    kind = inner.get("type") if isinstance(inner, dict) else None
    return isinstance(kind, str) and kind.startswith("chaos_")


def _ipc_endpoint(run_dir: Path, name: str, role: str) -> str:
    path = str((run_dir / name).resolve())
    if len(path.encode()) <= UNIX_SOCKET_PATH_MAX:
        return f"ipc://{path}"
    # Too long for sun_path: an abstract socket (Linux) named so that `ss -x` shows whose it is.
    return f"ipc://@chaos-proxy-{role}-{os.getpid()}-{secrets.token_hex(4)}"


def _restrict_to_user(endpoint: str) -> None:
    """Only the user may even connect to a socket file (an abstract socket has none; the
    PLAIN handshake guards it, as it guards every endpoint)."""
    if endpoint.startswith("ipc:///"):
        Path(endpoint.removeprefix("ipc://")).chmod(0o600)


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
    parser.add_argument("--fault-service-links", action="store_true",
                        help="let link faults and partitions reach the services (seq-kv, ...)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="the network's baseline latency, mean in ms (default 0: none)")
    parser.add_argument("--latency-dist", default="constant", choices=tuple(BASELINES),
                        help="the baseline latency's distribution (default constant)")
    args = parser.parse_args(argv)
    try:
        args.baseline = baseline_delay(args.latency_ms, args.latency_dist)
    except ValueError as e:
        parser.error(f"--latency-ms/--latency-dist: {e}")
    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
    if not nodes:
        parser.error("--nodes: give at least one node id, e.g. --nodes n1,n2,n3")
    if len(set(nodes)) != len(nodes):
        parser.error(f"--nodes: ids must be distinct, got {args.nodes}")
    if set(nodes) & set(SERVICE_IDS):
        parser.error(f"--nodes: {', '.join(SERVICE_IDS)} are the cluster's services; "
                     "name the nodes otherwise (n1, n2, ...)")
    args.nodes = nodes
    if not args.run_dir.is_dir():
        parser.error(f"--run-dir: {args.run_dir} is not a directory; create it first")
    args.secret = os.environ.pop(SECRET_ENV, "")
    if not args.secret:
        parser.error(
            f"{SECRET_ENV} is not set: the proxy admits only peers that present the run's "
            "secret; set it in the environment (the orchestrator does), never on the command line"
        )
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
        secret=args.secret,
        fault_service_links=args.fault_service_links,
        baseline=args.baseline,
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
            "ipc": proxy.ipc_endpoint,
            "control": proxy.control_endpoint,
            "pid": os.getpid(),
        }
        line = json.dumps(ready)
        tmp = args.run_dir / "proxy.json.tmp"
        tmp.write_text(line + "\n", encoding="utf-8")
        tmp.replace(args.run_dir / "proxy.json")
        print(line, flush=True)
        _log(f"ready: data {proxy.endpoint} and {proxy.ipc_endpoint}, control "
             f"{proxy.control_endpoint}, nodes {args.nodes}, services {list(SERVICE_IDS)} "
             f"(links faulted: {args.fault_service_links}), baseline latency "
             f"{json.dumps(None if proxy.baseline is None else proxy.baseline.to_json())}")
        proxy.run()
    finally:
        proxy.close()
        ctx.term()
    stats = proxy.statistics()
    _log(
        f"exit: received {stats.received}, delivered {stats.delivered}, dropped {stats.dropped}, "
        f"partitioned {stats.partitioned}, malformed {stats.malformed}, refused {stats.refused}, "
        f"forbidden {stats.forbidden}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
