"""A native node: one service machine, driven on ZeroMQ, storage and the lifeline.

    reason = trio.run(lambda: run_native(node_id="n1", service="broadcast", bug=None,
                                         proxy="tcp://127.0.0.1:5555", data_dir=Path(...),
                                         parent_pid=1234, seed=7, log=Logger("n1")))

This is what `python -m node` runs (docs/internals.md): it opens the node's durable store under
`--data`, builds the service's machine from a `Boot` (the node id, a seeded rng, the bug to
plant, and `durable`: what the store held when the process started, which after a SIGKILL is
only what was synced), connects the node's DEALER to the proxy through
`node.wire.open_node_transport` (this module never touches zmq), and runs `node.driver.Driver`
until SIGTERM, SIGINT or the parent's death (`node.lifeline`). A graceful stop syncs the store
on the way out, as a process closing its files leaves them in the page cache; a machine that
raises crashes the process with its traceback and no final sync, like a kill.
"""

from __future__ import annotations

from pathlib import Path

import trio

from node import lifeline, wire
from node.clock import Clock
from node.driver import Driver, make_rng
from node.log import Logger
from node.machine import Boot
from node.services import check, get_service
from node.storage import Storage


async def run_native(
    *,
    node_id: str,
    service: str,
    bug: str | None,
    proxy: str,
    data_dir: Path,
    parent_pid: int,
    seed: int,
    log: Logger,
) -> str:
    """Run a native node until SIGTERM/SIGINT or the parent's death; return the reason."""
    check(service, bug)
    spec = get_service(service)
    storage = Storage.open(data_dir)
    boot = Boot(node_id, make_rng(seed, node_id), bug=bug, durable=storage.contents())
    machine = spec.machine(boot)
    log.info(
        "start",
        service=service,
        bug=bug,
        proxy=proxy,
        seed=seed,
        parent_pid=parent_pid,
        data=str(data_dir),
    )
    # The driver sends and receives from its one task: no reader task (node.driver).
    async with wire.open_node_transport(
        node_id, proxy, secret=wire.take_run_secret(), one_task=True
    ) as transport:
        driver = Driver(
            machine,
            transport,
            node_id=node_id,
            clock=Clock(trio.current_time),
            log=log,
            storage=storage,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.serve)
            reason = await lifeline.wait_stop_reason(parent_pid, log)
            nursery.cancel_scope.cancel()
    storage.sync()  # a graceful stop keeps what a killed process would lose
    stats = driver.statistics()
    log.info(
        "stop", reason=reason, received=stats.received, sent=stats.sent, malformed=stats.malformed
    )
    return reason
