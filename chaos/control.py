"""The orchestrator's side of the proxy's control socket: a trio client of its commands.

    async with trio.open_nursery() as nursery:
        proxy = await nursery.start(
            functools.partial(serve_proxy, run_dir, nodes=["n1", "n2", "n3"], seed=7,
                              epoch_ns=epoch_ns)
        )                                        # chaos.supervisor: the process
        async with open_proxy_control(proxy.control, secret=proxy.secret) as control:
            await control.partition(halves(["n1", "n2", "n3"]))
            ...
            await control.heal()
            print((await control.stats())["dropped"])

Starting, watching and stopping the proxy process is `chaos.supervisor`'s (`serve_proxy`,
`start_proxy`), with every other process of a run; this module only talks to it.

`ProxyControl` sends one request at a time (a lock serialises callers) and waits at most
`timeout_s` for the reply with the same `id`; a late reply to an earlier, timed-out request is
discarded. A refusal raises `ProxyCommandError` carrying the proxy's message; silence raises
`ProxyTimeoutError`. Both subclass `ProxyError`.

The proxy admits only peers that present the run's secret: make `ProxyControl` from the run's
context (`node.wire.authenticated_context(secret)`, as the cluster does), or give
`open_proxy_control` the secret. Without it the handshake fails and every request times out.

`wait_joined(node_id, joins_min=K)` polls the `joined` command until the node has connected
and authenticated K times (once per start): the orchestrator sends `init` after it, once. A
poll rather than a command that waits in the proxy, so that other requests (the nemesis's)
never queue behind a slow node's start.

The protocol is in docs/internals.md ("Proxy control protocol").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio
import zmq

from chaos.faults import LinkFault, grudge_to_json
from node.wire import LINGER_MS, Socket, authenticated_context, make_socket

CONTROL_TIMEOUT_S = 5.0
JOINED_POLL_S = 0.02  # how often `wait_joined` asks


class ProxyError(RuntimeError):
    """Something went wrong with a request on the proxy's control socket."""


class ProxyCommandError(ProxyError):
    """The proxy refused a command; the message is the proxy's own."""


class ProxyTimeoutError(ProxyError):
    """The proxy did not reply in time."""


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

    async def joined(self, *, timeout_s: float | None = None) -> dict[str, int]:
        """How many times each node (and the admin client `c0`) has connected and
        authenticated; an id that never did is absent."""
        reply = await self.request("joined", timeout_s=timeout_s)
        joined: dict[str, int] = reply["joined"]
        return joined

    async def wait_joined(self, node_id: str, *, joins_min: int) -> None:
        """Wait until `node_id` has joined at least `joins_min` times. No deadline of its own:
        bound it with `trio.move_on_after`."""
        # The proxy is another process: there is no event to wait on, so poll it.
        while (await self.joined()).get(node_id, 0) < joins_min:  # noqa: ASYNC110
            await trio.sleep(JOINED_POLL_S)


@asynccontextmanager
async def open_proxy_control(
    control_endpoint: str,
    *,
    secret: str | None = None,
    timeout_s: float = CONTROL_TIMEOUT_S,
    ctx: zmq.Context[Any] | None = None,
) -> AsyncIterator[ProxyControl]:
    """Connect a DEALER to the proxy's control socket for the duration of the block. With the
    run's `secret` (and no `ctx`) it authenticates from a context of its own."""
    own_ctx = authenticated_context(secret) if secret and ctx is None else None
    control = ProxyControl(
        own_ctx or ctx or zmq.Context.instance(), control_endpoint, timeout_s=timeout_s
    )
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
    finally:
        if own_ctx is not None:
            own_ctx.term()
