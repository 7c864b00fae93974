"""The orchestrator's side of the proxy: start the process, then drive it over its control socket.

    async with trio.open_nursery() as nursery:
        proxy = await nursery.start(
            functools.partial(serve_proxy, run_dir, nodes=["n1", "n2", "n3"], seed=7,
                              epoch_ns=epoch_ns)
        )
        async with open_proxy_control(proxy.control) as control:
            await control.partition(halves(["n1", "n2", "n3"]))
            ...
            await control.heal()
            print((await control.stats())["dropped"])

`serve_proxy` is the trio-style service: it starts `python -m chaos.proxy` in its own session
(stderr to `RUN_DIR/proxy.log`), waits for the ready line, hands back a `ProxyProcess` through
`task_status`, and then supervises it: when the surrounding scope is cancelled it stops the
proxy (SIGTERM, then SIGKILL after `stop_grace_s`), and if the proxy dies unprompted it raises
`ProxyExitedError` with the tail of its log, which the run reports as a harness failure (exit 4).
`start_proxy` is the same start without supervision, for callers that own the process.

`ProxyControl` sends one request at a time (a lock serialises callers) and waits at most
`timeout_s` for the reply with the same `id`; a late reply to an earlier, timed-out request is
discarded. A refusal raises `ProxyCommandError` carrying the proxy's message; silence raises
`ProxyTimeoutError`. Both subclass `ProxyError`.

The protocol is in docs/internals.md ("Proxy control protocol").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import zmq

from chaos.faults import LinkFault, grudge_to_json
from node.wire import LINGER_MS, Socket, make_socket

CONTROL_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 10.0
STOP_GRACE_S = 3.0
READY_LINE_MAX = 64 * 1024  # bytes of stdout read while waiting for the ready line
LOG_TAIL_CHARS = 2000


class ProxyError(RuntimeError):
    """Something went wrong with the proxy process or its control socket."""


class ProxyCommandError(ProxyError):
    """The proxy refused a command; the message is the proxy's own."""


class ProxyTimeoutError(ProxyError):
    """The proxy did not reply in time."""


class ProxyStartError(ProxyError):
    """The proxy exited before it was ready, or was not ready in time."""


class ProxyExitedError(ProxyError):
    """The proxy exited unprompted with a non-zero code."""


class ProxyControl:
    """A client of the proxy's control ROUTER.

    Either `async with open_proxy_control(endpoint) as control:`, or by hand in a nursery:
    `control = ProxyControl(ctx, endpoint)`, `await nursery.start(control.serve)`, and
    `control.close()` at the end.
    """

    def __init__(
        self, ctx: zmq.Context[Any], endpoint: str, *, timeout_s: float = CONTROL_TIMEOUT_S
    ) -> None:
        raw = make_socket(ctx, zmq.DEALER, linger_ms=LINGER_MS)
        raw.connect(endpoint)
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._sock = Socket(raw)
        self._next_id = 1
        self._lock = trio.Lock()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The socket's reader task; runs until `close()`."""
        await self._sock.serve(task_status=task_status)

    def close(self) -> None:
        self._sock.close()

    async def request(
        self, cmd: str, *, timeout_s: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send `{"id", "cmd", **fields}` and return the reply; raise unless it says ok."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        reply: Any = None
        async with self._lock:
            request_id = self._next_id
            self._next_id += 1
            with trio.move_on_after(timeout_s):
                await self._sock.send(
                    [json.dumps({"id": request_id, "cmd": cmd, **fields}).encode()]
                )
                while True:
                    frames = await self._sock.receive()
                    try:
                        reply = json.loads(frames[-1])
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        raise ProxyError(
                            f"proxy sent a reply that is not JSON: {frames!r}"
                        ) from None
                    if isinstance(reply, dict) and reply.get("id") == request_id:
                        break
                    # Anything else is a late reply to a request that timed out: skip it.
            if not isinstance(reply, dict) or reply.get("id") != request_id:
                raise ProxyTimeoutError(
                    f"proxy did not answer {cmd!r} within {timeout_s:g} s; "
                    "is it running? see proxy.log in the run directory"
                )
        if not reply.get("ok"):
            raise ProxyCommandError(f"proxy refused {cmd!r}: {reply.get('error', reply)}")
        return reply

    async def ping(self, *, timeout_s: float | None = None) -> None:
        await self.request("ping", timeout_s=timeout_s)

    async def partition(
        self,
        grudge: Mapping[str, Iterable[str]],
        *,
        clients: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        """Replace the grudge (node -> the nodes it cannot hear from)."""
        await self.request(
            "partition", grudge=grudge_to_json(grudge), clients=clients, timeout_s=timeout_s
        )

    async def link_faults(
        self,
        rules: Iterable[LinkFault | Mapping[str, Any]],
        *,
        clients: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        """Replace the link-fault table with `rules` (`LinkFault`s or their JSON form)."""
        faults = [r.to_json() if isinstance(r, LinkFault) else dict(r) for r in rules]
        await self.request("link_faults", faults=faults, clients=clients, timeout_s=timeout_s)

    async def heal(self, *, timeout_s: float | None = None) -> None:
        """Clear the grudge and the link faults."""
        await self.request("heal", timeout_s=timeout_s)

    async def stats(self, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The proxy's counters (see `chaos.proxy.ProxyStatistics`)."""
        reply = await self.request("stats", timeout_s=timeout_s)
        stats: dict[str, Any] = reply["stats"]
        return stats

    async def shutdown(self, *, timeout_s: float | None = None) -> None:
        """Ask the proxy to flush `messages.jsonl` and exit 0."""
        await self.request("shutdown", timeout_s=timeout_s)


@asynccontextmanager
async def open_proxy_control(
    control_endpoint: str,
    *,
    timeout_s: float = CONTROL_TIMEOUT_S,
    ctx: zmq.Context[Any] | None = None,
) -> AsyncIterator[ProxyControl]:
    """Connect a DEALER to the proxy's control socket for the duration of the block."""
    control = ProxyControl(ctx or zmq.Context.instance(), control_endpoint, timeout_s=timeout_s)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(control.serve)
            try:
                yield control
            finally:
                control.close()
    except BaseExceptionGroup as group:
        # The nursery only holds the socket's reader, which does not fail on its own: a lone
        # exception is the caller's, so hand it back as it was raised (say ProxyTimeoutError).
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


# ------------------------------------------------------------------------------------------------
# The process


@dataclass
class ProxyProcess:
    """A running proxy: its process and the endpoints from its ready line."""

    process: trio.Process
    endpoint: str
    control: str
    pid: int
    log_path: Path

    def close(self) -> None:
        """Nothing to release: the ready line's pipe is closed once read, and the log file is
        the proxy's own. Kept so that a caller can close every handle alike; `stop` ends the
        process."""

    async def stop(self, *, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code. Idempotent."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace_s):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
        return await self.process.wait()


def proxy_command(
    run_dir: Path, *, nodes: Sequence[str], seed: int, epoch_ns: int, parent_pid: int
) -> list[str]:
    """The proxy's command line (docs/internals.md)."""
    return [
        sys.executable,
        "-m",
        "chaos.proxy",
        "--run-dir",
        str(run_dir),
        "--parent-pid",
        str(parent_pid),
        "--epoch-ns",
        str(epoch_ns),
        "--seed",
        str(seed),
        "--nodes",
        ",".join(nodes),
    ]


def log_tail(path: Path, *, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return text[-chars:].strip() or "(empty log)"


async def start_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> ProxyProcess:
    """Start the proxy and wait for its ready line. The caller must `stop()` it.

    `parent_pid` defaults to this process. Raises `ProxyStartError`, with the tail of
    `RUN_DIR/proxy.log`, if the proxy exits first or is not ready within `ready_timeout_s`.
    """
    run_dir = Path(run_dir)
    log_path = run_dir / "proxy.log"
    command = proxy_command(
        run_dir,
        nodes=nodes,
        seed=seed,
        epoch_ns=epoch_ns,
        parent_pid=os.getpid() if parent_pid is None else parent_pid,
    )
    with log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        line = b""
        with trio.move_on_after(ready_timeout_s) as scope:
            while b"\n" not in line and len(line) < READY_LINE_MAX:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    break
                line += chunk
        if b"\n" not in line:
            if scope.cancelled_caught:
                why = f"was not ready within {ready_timeout_s:g} s"
            else:
                with trio.move_on_after(STOP_GRACE_S):
                    await process.wait()
                why = f"exited with code {process.returncode} before it was ready"
            raise ProxyStartError(
                f"the proxy {why}; command: {' '.join(command)}; "
                f"tail of {log_path}:\n{log_tail(log_path)}"
            )
        try:
            ready = json.loads(line.split(b"\n", 1)[0])
            handle = ProxyProcess(
                process=process,
                endpoint=str(ready["endpoint"]),
                control=str(ready["control"]),
                pid=int(ready["pid"]),
                log_path=log_path,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ProxyStartError(
                f"the proxy's ready line is not understood ({e}): {line!r}"
            ) from None
        await process.stdout.aclose()  # it prints nothing more
        return handle
    except BaseException:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
        raise


async def serve_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    stop_grace_s: float = STOP_GRACE_S,
    task_status: trio.TaskStatus[ProxyProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the proxy for as long as this task runs; use with `await nursery.start(...)`.

    Returns when the proxy exits 0 (after a `shutdown` command); raises `ProxyExitedError` if
    it exits with any other code; stops it when cancelled.
    """
    proxy = await start_proxy(
        run_dir,
        nodes=nodes,
        seed=seed,
        epoch_ns=epoch_ns,
        parent_pid=parent_pid,
        ready_timeout_s=ready_timeout_s,
    )
    try:
        task_status.started(proxy)
        code = await proxy.process.wait()
    finally:
        with trio.CancelScope(shield=True):
            await proxy.stop(grace_s=stop_grace_s)
    if code != 0:
        raise ProxyExitedError(
            f"the proxy (pid {proxy.pid}) exited unprompted with code {code}; "
            f"tail of {proxy.log_path}:\n{log_tail(proxy.log_path)}"
        )
