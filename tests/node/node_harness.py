"""Helpers for node tests: a tiny in-test router standing in for the proxy, and node processes.

A plain module (not conftest) so tests can import it; its name is unique across tests/.

`Router` binds a ROUTER on tcp://127.0.0.1 (ephemeral port) and routes like the proxy
(docs/internals.md "Frames"): `[sender, dest, json]` in, `[dest, sender, json]` out. Messages
addressed to clients (ids not in `nodes`) land in the router's own inbox, so a test acts as
the clients `c0`, `c1`, ... `drop(src, dest)` drops node<->node messages while it says so.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import trio
import zmq

from node import wire

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0  # the deadline for every condition these tests wait on
INIT_RETRY_S = 0.1


class Router:
    def __init__(self, ctx: zmq.Context[Any], nodes: Sequence[str]) -> None:
        raw = wire.make_socket(ctx, zmq.ROUTER)
        raw.setsockopt(zmq.ROUTER_MANDATORY, 1)
        raw.setsockopt(zmq.ROUTER_HANDOVER, 1)
        raw.bind("tcp://127.0.0.1:0")
        self.endpoint: str = raw.getsockopt_string(zmq.LAST_ENDPOINT)
        self.sock = wire.Socket(raw)
        self.nodes = list(nodes)
        self.drop: Callable[[str, str], bool] = lambda src, dest: False
        self.dropped = 0
        self.unroutable = 0
        self.routed = 0
        self.inbox: list[wire.Message] = []
        self._arrived = trio.Event()
        self._msg_ids = itertools.count(1)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.sock.serve)
            task_status.started()
            while True:
                try:
                    frames = await self.sock.receive()
                except trio.EndOfChannel:
                    return
                sender, dest, data = frames
                if dest.decode() not in self.nodes:
                    self.inbox.append(wire.decode(data))
                    self._arrived.set()
                    self._arrived = trio.Event()
                    continue
                if self.drop(sender.decode(), dest.decode()):
                    self.dropped += 1
                    continue
                self._send_raw([dest, sender, data])

    def _send_raw(self, frames: list[bytes]) -> bool:
        try:
            self.sock.send_nowait(frames)
        except zmq.ZMQError:  # EHOSTUNREACH: not connected (yet); Again: full
            self.unroutable += 1
            return False
        self.routed += 1
        return True

    def send_raw(self, frames: list[bytes]) -> bool:
        return self._send_raw(frames)

    def send(self, src: str, dest: str, body: dict[str, Any]) -> int:
        """Send a message as client `src`; returns its msg_id."""
        msg_id = next(self._msg_ids)
        msg = {"src": src, "dest": dest, "body": {**body, "msg_id": msg_id}}
        self._send_raw([dest.encode(), src.encode(), wire.encode(msg)])
        return msg_id

    def take_reply(self, msg_id: int) -> wire.Message | None:
        for i, msg in enumerate(self.inbox):
            if msg["body"].get("in_reply_to") == msg_id:
                return self.inbox.pop(i)
        return None

    async def wait_reply(self, msg_id: int) -> wire.Message:
        while (reply := self.take_reply(msg_id)) is None:
            await self._arrived.wait()
        return reply

    async def rpc(
        self, dest: str, body: dict[str, Any], *, src: str = "c1", timeout_s: float = 5.0
    ) -> wire.Message:
        with trio.fail_after(timeout_s):
            return await self.wait_reply(self.send(src, dest, body))

    async def rpc_retrying(
        self, dest: str, body: dict[str, Any], *, src: str = "c0", timeout_s: float = WAIT_S
    ) -> wire.Message:
        """Resend every INIT_RETRY_S until answered (the node may not be connected yet)."""
        with trio.fail_after(timeout_s):
            while True:
                msg_id = self.send(src, dest, body)
                with trio.move_on_after(INIT_RETRY_S):
                    return await self.wait_reply(msg_id)

    async def init(self, node_id: str) -> wire.Message:
        body = {"type": "init", "node_id": node_id, "node_ids": self.nodes}
        return await self.rpc_retrying(node_id, body)


def node_argv(
    node_id: str,
    endpoint: str,
    tmp: Path,
    *,
    service: str = "echo",
    bug: str | None = None,
    parent_pid: int | None = None,
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "node",
        "--id",
        node_id,
        "--service",
        service,
        "--proxy",
        endpoint,
        "--data",
        str(tmp / "nodes" / node_id),
        "--run-dir",
        str(tmp),
        "--parent-pid",
        str(parent_pid or os.getpid()),
        "--seed",
        "7",
    ]
    return [*argv, "--bug", bug] if bug else argv


class Processes:
    """Started processes, all killed and reaped when the test ends (no orphans)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[trio.Process] = []
        self.pids: list[int] = []  # grandchildren we only know by pid

    async def start(self, argv: list[str], *, name: str, **kwargs: Any) -> trio.Process:
        log = (self.tmp / f"{name}.stderr").open("ab")  # closed once the child holds it
        kwargs.setdefault("stdout", log)
        proc = await trio.lowlevel.open_process(
            argv, stderr=log, cwd=ROOT, start_new_session=True, **kwargs
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.stderr").read_text(errors="replace")

    async def aclose(self) -> None:
        for pid in self.pids:
            kill_group_quietly(pid)
        for proc in self.procs:
            if proc.returncode is None:
                kill_group_quietly(proc.pid)
            with trio.move_on_after(5):
                await proc.wait()


def kill_group_quietly(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_gone(pid: int, *, timeout_s: float) -> None:
    """Wait until `pid` (not our child, so no waitpid) has exited; polling is all there is."""
    with trio.fail_after(timeout_s):
        while not is_gone(pid):  # noqa: ASYNC110
            await trio.sleep(0.05)
