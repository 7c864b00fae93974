"""The driver (`node.driver.Driver`) over the in-memory network, under trio's virtual clock:
the init handshake, messages held until init, effects applied in order (a sync completes
before any message goes out), queued messages stepped as a group with one sync, one-shot
timers (fire once, reset, cancel, on a skewed clock), `chaos_clock` and `chaos_status` kept
from the machine, garbage survived, a machine's exception fatal.

The machine here is `Scripted`, a test double that records the events it is fed and answers
each with the effects a test gives it: the driver must work for any machine."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from mem_harness import MemClient, MemoryStore, start_driver

from node.clock import Clock
from node.driver import Driver, NoStorageError, make_rng
from node.log import Logger
from node.machine import CancelTimer, Effects, Event, Init, Receive, SetTimer, Tick
from node.memnet import MemoryNetwork, MemoryTransport
from node.wire import WireError

NODES = ["n1", "n2"]


class Scripted:
    """A machine that records each event (with the virtual time and `now_s` it came at) and
    answers it with `react(event)`."""

    def __init__(self, react: Callable[[Event], Effects] | None = None) -> None:
        self.react = react or (lambda event: Effects())
        self.events: list[Event] = []
        self.at: list[float] = []  # trio time of each step
        self.now_s: list[float] = []

    def step(self, event: Event, *, now_s: float) -> Effects:
        self.events.append(event)
        self.at.append(trio.current_time())
        self.now_s.append(now_s)
        return self.react(event)

    def ticks(self) -> list[tuple[str, float]]:
        return [(e.name, t) for e, t in zip(self.events, self.at, strict=True)
                if isinstance(e, Tick)]

    def received(self) -> list[Any]:
        return [e.msg["body"]["type"] for e in self.events if isinstance(e, Receive)]


def body_type(event: Event) -> str | None:
    return event.msg["body"]["type"] if isinstance(event, Receive) else None


def echoing(event: Event) -> Effects:
    """Answer every request `x` with `x_ok` to its sender."""
    if isinstance(event, Receive):
        msg = event.msg
        reply = {"type": msg["body"]["type"] + "_ok", "in_reply_to": msg["body"]["msg_id"]}
        return Effects(messages=[(msg["src"], reply)])
    return Effects()


# -- init --------------------------------------------------------------------------------------


async def test_init_steps_the_machine_applies_its_effects_then_answers(
    nursery: trio.Nursery,
) -> None:
    net = MemoryNetwork()

    def hello_on_init(event: Event) -> Effects:
        return Effects(messages=[("c0", {"type": "hello", "msg_id": 1})]) if isinstance(
            event, Init) else Effects()

    machine = Scripted(hello_on_init)
    driver = await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    await c0.send("n1", {"type": "init", "node_id": "n1", "node_ids": NODES})
    first, second = await c0.receive(), await c0.receive()
    assert first["body"] == {"type": "hello", "msg_id": 1}  # the Init step's effects first
    assert second["body"] == {"type": "init_ok", "in_reply_to": 1}  # no msg_id of the driver's
    assert machine.events == [Init(("n1", "n2"))]
    # A repeated init is stepped and answered again.
    assert await c0.init("n1", NODES) == {"type": "init_ok", "in_reply_to": 2}
    assert machine.events == [Init(("n1", "n2")), Init(("n1", "n2"))]
    await trio.testing.wait_all_tasks_blocked()
    stats = driver.statistics()
    assert stats.is_initialized
    assert (stats.received, stats.sent, stats.steps) == (2, 4, 2)


@pytest.mark.parametrize(
    "fields",
    [
        {"node_id": "n2", "node_ids": NODES},  # another node's init
        {"node_ids": NODES},
        {"node_id": "n1", "node_ids": ["n2", "n3"]},  # not including us
        {"node_id": "n1", "node_ids": "n1"},
        {"node_id": "n1", "node_ids": ["n1", 2]},
        {"node_id": "n1"},
    ],
)
async def test_a_bad_init_is_refused_with_error_12(
    nursery: trio.Nursery, fields: dict[str, Any]
) -> None:
    net = MemoryNetwork()
    machine = Scripted()
    driver = await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    reply = await c0.rpc("n1", {"type": "init", **fields})
    assert (reply["type"], reply["code"]) == ("error", 12)
    assert machine.events == []
    assert not driver.statistics().is_initialized
    assert driver.statistics().init_refused == 1


async def test_messages_wait_for_init_then_follow_it_in_order(nursery: trio.Nursery) -> None:
    net = MemoryNetwork()
    machine = Scripted(echoing)
    driver = await start_driver(nursery, net, "n1", machine, held_max=3)
    c1 = MemClient(net.transport("c1"))
    for kind in ("a", "b", "c", "d"):
        await c1.send("n1", {"type": kind})
    await trio.testing.wait_all_tasks_blocked()
    assert machine.events == []
    stats = driver.statistics()
    assert (stats.held, stats.held_dropped) == (3, 1)  # the hold is bounded
    assert c1.receive_nowait() is None
    assert (await MemClient(net.transport("c0")).init("n1", NODES))["type"] == "init_ok"
    await trio.testing.wait_all_tasks_blocked()
    assert [body_type(e) for e in machine.events] == [None, "a", "b", "c"]
    assert [(await c1.receive())["body"]["type"] for _ in range(3)] == ["a_ok", "b_ok", "c_ok"]
    assert driver.statistics().held == 0


# -- effects -----------------------------------------------------------------------------------


class Recorded:
    """Where the order of the driver's I/O is written down: storage, transport and log."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []


class RecordingStore(MemoryStore):
    def __init__(self, rec: Recorded, *, sync_s: float) -> None:
        super().__init__()
        self.rec = rec
        self.sync_s = sync_s

    def set(self, key: str, value: Any) -> None:
        self.rec.calls.append(("set", key, value))
        super().set(key, value)

    async def sync_async(self) -> None:
        self.rec.calls.append(("sync_begin", trio.current_time()))
        await trio.sleep(self.sync_s)  # a slow disk, in virtual time
        await super().sync_async()
        self.rec.calls.append(("sync_end", trio.current_time()))


class RecordingTransport(MemoryTransport):
    def __init__(self, rec: Recorded, net: MemoryNetwork, node_id: str) -> None:
        super().__init__(net, node_id)
        self.rec = rec

    async def send(self, dest: str, data: bytes) -> None:
        body = json.loads(data)["body"]
        self.rec.calls.append(("send", dest, body["type"], trio.current_time()))
        await super().send(dest, data)


class RecordingStream(io.StringIO):
    def __init__(self, rec: Recorded) -> None:
        super().__init__()
        self.rec = rec

    def write(self, text: str) -> int:
        record = json.loads(text)
        if record["event"] == "did":
            self.rec.calls.append(("log", record["event"], record["x"]))
        return len(text)


async def test_effects_are_applied_persist_sync_send_timers_logs(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    rec = Recorded()
    net = MemoryNetwork()
    net.transports["n1"] = transport = RecordingTransport(rec, net, "n1")

    def react(event: Event) -> Effects:
        if body_type(event) == "go":
            return Effects(
                persist={"a": 1, "b": 2},
                sync=True,
                messages=[("c1", {"type": "go_ok", "msg_id": 1}), ("c1", {"type": "more"})],
                timers=[SetTimer("t", 3.0)],
                logs=[("info", "did", {"x": 1})],
            )
        if body_type(event) == "quiet":
            return Effects(persist={"c": 3})
        return Effects()

    machine = Scripted(react)
    store = RecordingStore(rec, sync_s=1.0)
    driver = Driver(machine, transport, node_id="n1", clock=Clock(trio.current_time),
                    log=Logger("n1", stream=RecordingStream(rec)), storage=store)
    await nursery.start(driver.serve)
    await MemClient(net.transport("c0")).init("n1", NODES)
    rec.calls.clear()
    c1 = MemClient(net.transport("c1"))
    t0 = trio.current_time()
    await c1.send("n1", {"type": "go"})
    assert (await c1.receive())["body"]["type"] == "go_ok"
    assert (await c1.receive())["body"]["type"] == "more"
    await trio.testing.wait_all_tasks_blocked()
    assert rec.calls == [
        ("set", "a", 1),
        ("set", "b", 2),
        ("sync_begin", t0),
        ("sync_end", t0 + 1.0),  # the sync completes before any message leaves
        ("send", "c1", "go_ok", t0 + 1.0),
        ("send", "c1", "more", t0 + 1.0),
        ("log", "did", 1),
    ]
    assert store.durable == {"a": 1, "b": 2}
    # A timer runs from the step that set it, not from the end of its sync.
    await trio.sleep(5)
    assert machine.ticks() == [("t", t0 + 3.0)]
    rec.calls.clear()
    await c1.send("n1", {"type": "quiet"})
    await trio.testing.wait_all_tasks_blocked()
    assert rec.calls == [("set", "c", 3)]  # persisted, not synced: a kill would lose it
    assert store.durable == {"a": 1, "b": 2}
    assert driver.statistics().syncs == 1


async def test_messages_queued_during_a_sync_are_stepped_together_and_synced_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    rec = Recorded()
    net = MemoryNetwork()
    net.transports["n1"] = transport = RecordingTransport(rec, net, "n1")

    def react(event: Event) -> Effects:
        kind = body_type(event)
        if kind is None or kind.startswith("chaos_"):
            return Effects()
        if kind == "quiet":
            return Effects(persist={kind: 0}, messages=[("c1", {"type": f"{kind}_ok"})])
        return Effects(persist={kind: 1}, sync=True, messages=[("c1", {"type": f"{kind}_ok"})],
                       timers=[SetTimer(kind, 1.0)])

    machine = Scripted(react)
    store = RecordingStore(rec, sync_s=1.0)
    driver = Driver(machine, transport, node_id="n1", clock=Clock(trio.current_time),
                    log=Logger("n1", stream=io.StringIO()), storage=store)
    await nursery.start(driver.serve)
    await MemClient(net.transport("c0")).init("n1", NODES)
    rec.calls.clear()
    c1 = MemClient(net.transport("c1"))
    t0 = trio.current_time()
    for kind in ("a", "b", "quiet", "c"):  # b, quiet, c arrive while a's sync runs
        await c1.send("n1", {"type": kind})
    await c1.send("n1", {"type": "chaos_nothing"})  # ends a group: handled after it
    await c1.send("n1", {"type": "d"})
    await trio.sleep(10)
    sends = [c[2] for c in rec.calls if c[0] == "send"]
    assert sends == ["a_ok", "b_ok", "quiet_ok", "c_ok", "error", "d_ok"]
    assert [c[0] for c in rec.calls] == [
        "set", "sync_begin", "sync_end", "send",  # a, alone
        "set", "set", "set", "sync_begin", "sync_end", "send", "send", "send",  # b, quiet, c
        "send",  # the chaos message's answer, after the group
        "set", "sync_begin", "sync_end", "send",  # d
    ]
    assert [c[1] for c in rec.calls if c[0] == "sync_begin"] == [t0, t0 + 1.0, t0 + 2.0]
    assert store.durable == {"a": 1, "b": 1, "quiet": 0, "c": 1, "d": 1}
    stats = driver.statistics()
    # Stepped: init, a, b, quiet, c, d and four ticks; applied in 8 groups (b, quiet, c as one).
    assert (stats.steps, stats.groups, stats.syncs) == (10, 8, 3)
    # A timer runs from the step that set it: b and c were stepped when a's sync had ended.
    assert machine.ticks() == [("a", t0 + 1.0), ("b", t0 + 2.0), ("c", t0 + 2.0),
                               ("d", t0 + 3.0)]


async def test_persisting_without_storage_crashes_the_node() -> None:
    net = MemoryNetwork()
    machine = Scripted(lambda e: Effects(persist={"k": 1}, sync=True))
    with pytest.RaisesGroup(NoStorageError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await start_driver(nursery, net, "n1", machine)
            await MemClient(net.transport("c0")).init("n1", NODES)


async def test_an_exception_in_the_machine_crashes_the_node_loudly() -> None:
    net = MemoryNetwork()
    stream = io.StringIO()

    def broken(event: Event) -> Effects:
        if body_type(event) == "boom":
            raise ValueError("a bug in the machine")
        return Effects()

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="a bug"), flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await start_driver(nursery, net, "n1", Scripted(broken), log_stream=stream)
            c0 = MemClient(net.transport("c0"))
            await c0.init("n1", NODES)
            await c0.send("n1", {"type": "boom"})
            await trio.sleep_forever()
    assert '"event":"machine_crashed"' in stream.getvalue()


async def test_serve_ends_when_the_transport_closes(nursery: trio.Nursery) -> None:
    net = MemoryNetwork()
    async with trio.open_nursery() as inner:
        driver = await start_driver(inner, net, "n1", Scripted())
        net.transports["n1"].close()
    assert not driver.statistics().is_initialized


# -- timers ------------------------------------------------------------------------------------


def timer_script(event: Event) -> Effects:
    """Init arms "t" for 1 s; `reset` arms it again; `cancel` cancels it."""
    if isinstance(event, Init):
        return Effects(timers=[SetTimer("t", 1.0)])
    if body_type(event) == "reset":
        return Effects(timers=[SetTimer("t", 1.0)])
    if body_type(event) == "cancel":
        return Effects(timers=[CancelTimer("t")])
    return Effects()


async def started(
    nursery: trio.Nursery, machine: Scripted
) -> tuple[MemoryNetwork, Driver, MemClient, float]:
    net = MemoryNetwork()
    driver = await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    await c0.init("n1", NODES)
    return net, driver, c0, trio.current_time()


async def test_a_timer_fires_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    machine = Scripted(timer_script)
    _, driver, _, t0 = await started(nursery, machine)
    assert driver.statistics().timers_pending == 1
    await trio.sleep(10)
    assert machine.ticks() == [("t", t0 + 1.0)]
    stats = driver.statistics()
    assert (stats.timers_fired, stats.timers_pending) == (1, 0)


async def test_setting_a_timer_again_resets_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    machine = Scripted(timer_script)
    _, _, c0, t0 = await started(nursery, machine)
    await trio.sleep(0.5)
    await c0.send("n1", {"type": "reset"})
    await trio.sleep(10)
    assert machine.ticks() == [("t", t0 + 1.5)]


async def test_a_cancelled_timer_never_fires(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    machine = Scripted(timer_script)
    _, driver, c0, _ = await started(nursery, machine)
    await trio.sleep(0.5)
    await c0.send("n1", {"type": "cancel"})
    await trio.sleep(10)
    assert machine.ticks() == []
    assert driver.statistics().timers_pending == 0


async def test_timers_due_together_fire_in_order_and_a_tick_can_cancel_the_next(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    def react(event: Event) -> Effects:
        if isinstance(event, Init):
            return Effects(timers=[SetTimer("b", 1.0), SetTimer("a", 1.0), SetTimer("c", 1.0)])
        if event == Tick("a"):
            return Effects(timers=[CancelTimer("c")])
        return Effects()

    machine = Scripted(react)
    _, _, _, t0 = await started(nursery, machine)
    await trio.sleep(5)
    assert machine.ticks() == [("b", t0 + 1.0), ("a", t0 + 1.0)]


@pytest.mark.parametrize(("rate", "real_s"), [(1.0, 1.0), (2.0, 0.5), (0.5, 2.0)])
async def test_timer_durations_are_node_time(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, rate: float, real_s: float
) -> None:
    net = MemoryNetwork()
    machine = Scripted(timer_script)
    await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    reply = await c0.rpc("n1", {"type": "chaos_clock", "rate": rate})
    assert reply["rate"] == rate
    await c0.init("n1", NODES)
    t0 = trio.current_time()
    await trio.sleep(10)
    assert machine.ticks() == [("t", pytest.approx(t0 + real_s))]


async def test_a_timer_rearmed_at_zero_does_not_starve_messages(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    spins = 0

    def react(event: Event) -> Effects:
        nonlocal spins
        if isinstance(event, Init) or (event == Tick("spin") and spins < 1000):
            spins += 1
            return Effects(timers=[SetTimer("spin", 0.0)])
        return echoing(event)

    machine = Scripted(react)
    net, _, _, _ = await started(nursery, machine)
    reply = await MemClient(net.transport("c1")).rpc("n1", {"type": "ping"})
    assert reply["type"] == "ping_ok"
    assert spins < 1000  # answered while the timer was still spinning


# -- nemesis control and garbage ---------------------------------------------------------------


async def test_chaos_clock_is_answered_by_the_driver_and_never_reaches_the_machine(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net = MemoryNetwork()
    machine = Scripted()
    driver = await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    before_s = driver.clock.now_s()
    # Before init, too: the nemesis does not wait for the handshake.
    reply = await c0.rpc("n1", {"type": "chaos_clock", "offset_ms": 1000, "rate": 1.0})
    assert reply == {"type": "chaos_clock_ok", "offset_ms": 1000.0, "rate": 1.0, "period_ms": 0.0,
                     "in_reply_to": 1}
    assert driver.clock.now_s() - before_s == pytest.approx(1.0)
    for bad in ({"rate": -1}, {"rate": "fast"}, {"offset_ms": True}, {"rate": 0},
                {"period_ms": -5}, {"period_ms": 0.5}, {"period_ms": "x"}):
        reply = await c0.rpc("n1", {"type": "chaos_clock", **bad})
        assert (reply["type"], reply["code"]) == ("error", 12), bad
    reply = await c0.rpc("n1", {"type": "chaos_partition"})
    assert (reply["type"], reply["code"]) == ("error", 10)
    await c0.send("n1", {"type": "chaos_clock_ok", "in_reply_to": 3})  # a reply: not answered
    await c0.init("n1", NODES)
    await c0.rpc("n1", {"type": "chaos_clock", "offset_ms": 0})
    assert machine.events == [Init(("n1", "n2"))]
    # The machine sees the skewed clock: its now_s was 1 s ahead of trio's time.
    assert machine.now_s[0] - machine.at[0] == pytest.approx(1.0)
    assert c0.receive_nowait() is None
    assert driver.statistics().chaos_handled == 10


async def test_a_strobe_flips_the_clock_between_true_time_and_the_offset_every_period(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net = MemoryNetwork()
    driver = await start_driver(nursery, net, "n1", Scripted())
    c0 = MemClient(net.transport("c0"))
    reply = await c0.rpc("n1", {"type": "chaos_clock", "offset_ms": 200, "period_ms": 50})
    assert (reply["offset_ms"], reply["rate"], reply["period_ms"]) == (200.0, 1.0, 50.0)
    t0 = trio.current_time()
    ahead = []
    for step in range(8):  # the middle of each 50 ms period
        await trio.sleep_until(t0 + 0.025 + step * 0.05)
        ahead.append(round((driver.clock.now_s() - trio.current_time()) * 1000))
    assert ahead == [200, 0, 200, 0, 200, 0, 200, 0]
    await c0.rpc("n1", {"type": "chaos_clock", "offset_ms": 0, "rate": 1, "period_ms": 0})
    await trio.sleep(0.075)
    assert driver.clock.now_s() == pytest.approx(trio.current_time())
    assert driver.clock.statistics().period_ms == 0.0


class Reporting(Scripted):
    """A machine that reports its status, as a Raft machine does."""

    def __init__(self, status: Any) -> None:
        super().__init__()
        self._status = status
        self.asked = 0

    def status(self) -> Any:
        self.asked += 1
        if isinstance(self._status, Exception):
            raise self._status
        return self._status


async def test_chaos_status_answers_the_machines_status_once_initialised(
    nursery: trio.Nursery
) -> None:
    net = MemoryNetwork()
    status = {"role": "leader", "term": 3, "leader": "n1", "commit_index": 4, "last_index": 5}
    machine = Reporting(status)
    driver = await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    # Before init: answered at once (not held for init), but with no status to give.
    reply = await c0.rpc("n1", {"type": "chaos_status"})
    assert (reply["type"], reply["code"], reply["in_reply_to"]) == ("error", 11, 1)
    assert "not initialised" in reply["text"]
    assert machine.asked == 0
    await c0.init("n1", NODES)
    reply = await c0.rpc("n1", {"type": "chaos_status"})
    assert reply == {"type": "chaos_status_ok", "status": status, "in_reply_to": 3}
    assert machine.events == [Init(("n1", "n2"))]  # never stepped with it
    assert driver.statistics().chaos_handled == 2


async def test_a_machine_without_status_answers_chaos_status_with_error_10(
    nursery: trio.Nursery
) -> None:
    net = MemoryNetwork()
    machine = Scripted()
    await start_driver(nursery, net, "n1", machine)
    c0 = MemClient(net.transport("c0"))
    for _ in range(2):  # before init and after: it never will have one
        reply = await c0.rpc("n1", {"type": "chaos_status"})
        assert (reply["type"], reply["code"]) == ("error", 10)
        assert "reports no status" in reply["text"]
        await c0.init("n1", NODES)


@pytest.mark.parametrize("bad", [ValueError("boom"), ["leader"]])
async def test_a_status_that_raises_or_is_no_dict_crashes_the_node(bad: Any) -> None:
    net = MemoryNetwork()
    stream = io.StringIO()
    machine = Reporting(bad)
    c0 = MemClient(net.transport("c0"))
    with pytest.raises(BaseExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            await start_driver(nursery, net, "n1", machine, log_stream=stream)
            await c0.init("n1", NODES)
            await c0.send("n1", {"type": "chaos_status"})
    assert info.group_contains(ValueError if isinstance(bad, Exception) else TypeError)
    assert '"event":"machine_crashed"' in stream.getvalue()


class BadFrameTransport(MemoryTransport):
    """A transport that reports a bad frame (as `ZmqTransport` does) for `b"BAD FRAME"`."""

    async def receive(self) -> tuple[str, bytes]:
        return self._check(*await super().receive())

    def receive_nowait(self) -> tuple[str, bytes]:
        return self._check(*super().receive_nowait())

    @staticmethod
    def _check(src: str, data: bytes) -> tuple[str, bytes]:
        if data == b"BAD FRAME":
            raise WireError("expected 2 frames [src, json], got 3")
        return src, data


async def test_garbage_is_counted_logged_and_dropped(nursery: trio.Nursery) -> None:
    net = MemoryNetwork()
    net.transports["n1"] = transport = BadFrameTransport(net, "n1")
    stream = io.StringIO()
    machine = Scripted(echoing)
    driver = Driver(machine, transport, node_id="n1", clock=Clock(trio.current_time),
                    log=Logger("n1", stream=stream))
    await nursery.start(driver.serve)
    c1 = MemClient(net.transport("c1"))
    await c1.init("n1", NODES)
    for data in (
        b"not json",
        b"[1, 2]",
        b'{"src": "c1", "dest": "n1", "body": {"type": 3}}',
        b'{"src": "c1", "dest": "n1", "body": {"type": "x", "msg_id": "7"}}',
        b"\xff\xfe",
        b"BAD FRAME",
    ):
        await c1.t.send("n1", data)
    assert (await c1.rpc("n1", {"type": "still_here"}))["type"] == "still_here_ok"
    stats = driver.statistics()
    assert stats.malformed == 6
    assert stats.received == 2
    assert machine.received() == ["still_here"]
    assert stream.getvalue().count('"event":"malformed"') == 6


def test_statistics_are_a_frozen_value() -> None:
    driver = Driver(Scripted(), MemoryNetwork().transport("n1"), node_id="n1",
                    clock=Clock(lambda: 0.0), log=Logger("n1", stream=io.StringIO()))
    stats = driver.statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.sent = 3  # type: ignore[misc]
    assert stats.is_initialized is False


def test_make_rng_is_one_stream_per_node_and_seed() -> None:
    assert make_rng(7, "n1").random() == make_rng(7, "n1").random()
    assert make_rng(7, "n1").random() != make_rng(7, "n2").random()
    assert make_rng(7, "n1").random() != make_rng(8, "n1").random()
