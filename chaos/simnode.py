"""A simulated node: one service machine with a simulated disk, clock, timers and process faults.

Part of the deterministic simulator (`chaos.simulation`). `SimNode` is the simulator's
counterpart of a node process running `node.driver.Driver`, and keeps the driver's promises
(see its docstring): one event at a time; `init` answered by the driver (error 12 for a
`node_id` that is not ours), fed to the machine as `Init`, then `init_ok` (no `msg_id`);
other messages held until the first `init` (at most `HELD_MAX`); effects applied in order
(persist, sync, messages, timers, logs); named one-shot timers whose `after_s` is node time
converted with the clock's rate when set; an exception from the machine is a crash of the
node, which the simulator reports as a harness failure (`NodeCrashed`).

The process faults, as `orchestrator.Cluster` applies them to real processes:
- `kill()`: SIGKILL. Writes not yet synced are lost; messages in flight to the node are lost.
- `stop()`: SIGTERM. The real node syncs its storage on the way out, so nothing persisted
  is lost.
- `start()` (and restart): a new machine from `ServiceSpec.machine(Boot(...))` with what the
  disk holds durably and a fresh `random.Random` seeded as the real node seeds it
  (`make_rng(seed, node_id)`: a restarted process draws the same stream again), a fresh clock,
  no timers. It waits for `init` like a new process.
- `pause()` / `resume()`: SIGSTOP / SIGCONT. A paused node takes no step: messages that
  arrive and timers that fall due are deferred, in order, and taken on resume.
- `set_clock(offset_ms, rate, period_ms)`: `chaos_clock`, through the same `node.clock.Clock`
  a real node uses (a strobe included), reading virtual time.
- `status()`: `chaos_status`, the machine's `status()` read directly, or None where the real
  driver would not answer with one (a node not running, not initialised yet, or whose machine
  reports no status). A `status()` that raises is a crash of the node, as in `node.driver`.

`SimDisk` models what `node.storage.Storage` does to a crashing process: `persist` reaches
memory only (the unsynced layer), `sync` makes every write durable, a kill drops what was not
synced. Values are kept as JSON text, as the store file keeps them, so a machine that mutates
a value after persisting it cannot change what was written.

Node logs (`Effects.logs` and the driver's `init`) are written as the real node's
`node.log.Logger` writes them, one JSON object per line, with virtual time, when `log` is set.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import IO, Any

from chaos.simnet import Loop
from node import wire
from node.clock import Clock
from node.driver import make_rng
from node.machine import (
    Boot,
    Effects,
    Event,
    Init,
    Receive,
    SetTimer,
    StepMachine,
    Tick,
    init_problem,
)
from node.protocol import MALFORMED_REQUEST
from node.service import ServiceSpec

HELD_MAX = 1024  # messages held until the first init (node.driver.HELD_MAX)
DEFERRED_MAX = 100_000  # messages and ticks queued at a paused node; beyond it they are lost
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_LEVEL_MIN = LOG_LEVELS.index("info")  # the real Logger's default level


class NodeCrashed(Exception):
    """A machine raised: in a real run the node dies loudly and the run is a harness failure."""


class NodeState(enum.Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


class SimDisk:
    """A node's durable storage: a synced layer that survives kills and an unsynced one."""

    def __init__(self) -> None:
        self._synced: dict[str, str] = {}
        self._unsynced: dict[str, str] = {}
        self.syncs = 0
        self.writes_lost = 0

    def write(self, persist: Mapping[str, Any], *, sync: bool) -> None:
        for key, value in persist.items():
            self._unsynced[key] = json.dumps(value, separators=(",", ":"))
        if sync:
            self.sync()

    def sync(self) -> None:
        self._synced.update(self._unsynced)
        self._unsynced.clear()
        self.syncs += 1

    def lose_unsynced(self) -> None:
        self.writes_lost += len(self._unsynced)
        self._unsynced.clear()

    def durable(self) -> dict[str, Any]:
        """What a process starting now reads: the synced layer, as fresh objects."""
        return {key: json.loads(text) for key, text in self._synced.items()}

    def visible(self) -> dict[str, Any]:
        """What the running process sees: synced writes overlaid with unsynced ones."""
        return {key: json.loads(text) for key, text in {**self._synced, **self._unsynced}.items()}


class SimNode:
    """One node of a simulated run: its process state, machine, timers, clock and disk."""

    def __init__(
        self,
        node_id: str,
        *,
        spec: ServiceSpec,
        bug: str | None,
        seed: int,
        loop: Loop,
        send: Callable[[str, str, str], None],
        params: Mapping[str, Any] | None = None,
        log: IO[str] | None = None,
    ) -> None:
        self.node_id = node_id
        self.spec = spec
        self.bug = bug
        self.seed = seed
        self.params = dict(params or {})
        self.disk = SimDisk()
        self.state = NodeState.STOPPED
        self.starts = 0
        self.steps = 0
        self.lost_while_down = 0  # copies that reached a node already killed or stopped
        self.deferred_lost = 0
        self.held_dropped = 0
        self.machine: StepMachine | None = None
        self._loop = loop
        self.clock = Clock(raw_now_s=self._raw_now_s)
        self._send = send
        self._log_file = log
        self._life = 0  # bumped at every start and every stop: stale timers are ignored
        self._timers: dict[str, int] = {}  # name -> sequence number of the SetTimer that armed it
        self._timer_seq = 0
        self._is_initialized = False
        self._held: deque[dict[str, Any]] = deque()
        self._deferred: deque[tuple[bool, Any]] = deque()  # (is_tick, data or timer key)

    def _raw_now_s(self) -> float:
        return self._loop.now_ns / 1e9

    # -- process faults -------------------------------------------------------------------------

    def start(self) -> None:
        assert self.state is NodeState.STOPPED, f"{self.node_id} is {self.state.value}"
        self._life += 1
        self.starts += 1
        boot = Boot(self.node_id, make_rng(self.seed, self.node_id), bug=self.bug,
                    durable=self.disk.durable(), params=self.params)
        try:
            self.machine = self.spec.machine(boot)
        except Exception as e:
            raise NodeCrashed(f"node {self.node_id} could not boot {self.spec.name}: {e!r}") from e
        self.clock = Clock(raw_now_s=self._raw_now_s)
        self._timers.clear()
        self._is_initialized = False
        self._held.clear()
        self._deferred.clear()
        self.state = NodeState.RUNNING
        self._log("info", "start", service=self.spec.name, bug=self.bug, starts=self.starts)

    def kill(self) -> None:
        assert self.state is not NodeState.STOPPED, f"{self.node_id} is stopped"
        self.disk.lose_unsynced()
        self._down()

    def stop(self) -> None:
        assert self.state is not NodeState.STOPPED, f"{self.node_id} is stopped"
        self.disk.sync()
        self._log("info", "stop")
        self._down()

    def _down(self) -> None:
        self._life += 1
        self.state = NodeState.STOPPED
        self.machine = None
        self._timers.clear()
        self._held.clear()
        self._deferred.clear()

    def pause(self) -> None:
        assert self.state is NodeState.RUNNING, f"{self.node_id} is {self.state.value}"
        self.state = NodeState.PAUSED

    def resume(self) -> None:
        assert self.state is NodeState.PAUSED, f"{self.node_id} is {self.state.value}"
        self.state = NodeState.RUNNING
        deferred, self._deferred = self._deferred, deque()
        now_ns = self._loop.now_ns
        for item in deferred:  # in the order they arrived, each as its own event
            self._loop.call_at(now_ns, self._take_deferred, item)

    def _take_deferred(self, item: tuple[bool, Any]) -> None:
        is_tick, what = item
        if is_tick:
            self._fire(what)
        else:
            self.receive(what)

    def set_clock(self, *, offset_ms: float, rate: float, period_ms: float = 0.0) -> None:
        self.clock.set(offset_ms=offset_ms, rate=rate, period_ms=period_ms)
        stats = self.clock.statistics()
        self._log("info", "clock_set", offset_ms=stats.offset_ms, rate=stats.rate,
                  period_ms=stats.period_ms)

    def status(self) -> dict[str, Any] | None:
        """What `chaos_status` would answer (see the module docstring), as it would arrive:
        through JSON."""
        status = getattr(self.machine, "status", None)
        if self.state is not NodeState.RUNNING or not self._is_initialized or not callable(status):
            return None
        try:
            value = status()
            if not isinstance(value, Mapping):
                raise TypeError(f"status() returned {value!r}, not a dict")
        except Exception as e:
            self._log("error", "machine_crashed", step="status()", error=repr(e))
            raise NodeCrashed(f"node {self.node_id}'s {type(self.machine).__name__}.status() "
                              f"raised {e!r}") from e
        answer: dict[str, Any] = json.loads(json.dumps(dict(value)))
        return answer

    # -- events ---------------------------------------------------------------------------------

    def receive(self, data: str) -> None:
        """A copy of a message (JSON text) reaches the node."""
        if self.state is NodeState.STOPPED:
            self.lost_while_down += 1
            return
        if self.state is NodeState.PAUSED:
            self._defer((False, data))
            return
        msg = json.loads(data)
        if msg["body"]["type"] == "init":
            self._init(msg)
        elif not self._is_initialized:
            if len(self._held) >= HELD_MAX:
                self.held_dropped += 1
                self._log("warning", "dropped_before_init", type=msg["body"]["type"],
                          src=msg["src"], count=self.held_dropped)
            else:
                self._held.append(msg)
        else:
            self._step(Receive(msg))

    def _init(self, msg: dict[str, Any]) -> None:
        why = init_problem(self.node_id, msg["body"])
        if why is not None:  # as node.driver: refused with error 12
            self._reply(msg, wire.error_body(msg, MALFORMED_REQUEST, why))
            return
        node_ids = msg["body"]["node_ids"]
        self._log("info", "init", node_ids=node_ids, again=self._is_initialized)
        life = self._life
        self._step(Init(tuple(node_ids)))
        self._is_initialized = True
        self._reply(msg, wire.reply_body(msg))
        while self._held and self._life == life:
            self._step(Receive(self._held.popleft()))

    def _reply(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        self._emit(request["src"], body)

    def _defer(self, item: tuple[bool, Any]) -> None:
        if len(self._deferred) >= DEFERRED_MAX:
            self.deferred_lost += 1
            return
        self._deferred.append(item)

    def _fire(self, key: tuple[int, str, int]) -> None:
        life, name, seq = key
        if life != self._life or self._timers.get(name) != seq:
            return  # from an earlier life, or reset or cancelled since
        if self.state is NodeState.PAUSED:
            self._defer((True, key))
            return
        del self._timers[name]
        self._step(Tick(name))

    def _step(self, event: Event) -> None:
        machine = self.machine
        assert machine is not None
        try:
            fx = machine.step(event, now_s=self.clock.now_s())
        except Exception as e:
            self._log("error", "machine_crashed", step=repr(event), error=repr(e))
            raise NodeCrashed(
                f"node {self.node_id}'s {type(machine).__name__} raised {e!r} on {event!r}"
            ) from e
        self.steps += 1
        self._apply(fx)

    def _apply(self, fx: Effects) -> None:
        """Persist (and sync), send, timers, logs: the order of `node.driver.Driver._apply`."""
        if fx.persist or fx.sync:
            self.disk.write(fx.persist, sync=fx.sync)
        for dest, body in fx.messages:
            self._emit(dest, body)
        for timer in fx.timers:
            if isinstance(timer, SetTimer):
                assert timer.after_s >= 0, timer
                self._timer_seq += 1
                self._timers[timer.name] = self._timer_seq
                due_ns = self._loop.now_ns + int(self.clock.real_duration_s(timer.after_s) * 1e9)
                self._loop.call_at(due_ns, self._fire, (self._life, timer.name, self._timer_seq))
            else:
                self._timers.pop(timer.name, None)
        for level, event, fields in fx.logs:
            self._log(level, event, **fields)

    def _emit(self, dest: str, body: dict[str, Any]) -> None:
        msg = {"src": self.node_id, "dest": dest, "body": body}
        self._send(self.node_id, dest, json.dumps(msg, separators=(",", ":")))

    def _log(self, level: str, event: str, /, **fields: Any) -> None:
        if self._log_file is None or LOG_LEVELS.index(level) < LOG_LEVEL_MIN:
            return
        record = {"time": self._loop.now_ns, "node": self.node_id, "level": level,
                  "event": event, **fields}
        self._log_file.write(json.dumps(record, default=repr, separators=(",", ":")) + "\n")

    def statistics(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "starts": self.starts,
            "steps": self.steps,
            "syncs": self.disk.syncs,
            "writes_lost": self.disk.writes_lost,
            "lost_while_down": self.lost_while_down,
            "held_dropped": self.held_dropped,
            "deferred_lost": self.deferred_lost,
        }
