"""The unique-ids machine (`node.services.unique_ids.core`) fed literal events: the boot counter
is persisted with a sync before any id is handed out, a restart from what was durable boots
higher, and the `unsynced-boot-counter` bug persists without a sync, so a kill repeats ids."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from node.machine import Boot, Effects, Init, Receive
from node.services.unique_ids.core import IdGenerator, UniqueIds

GENERATE = Receive({"src": "c1", "dest": "n1", "body": {"type": "generate", "msg_id": 1}})


def boot(durable: Mapping[str, Any], bug: str | None = None) -> UniqueIds:
    return UniqueIds(Boot("n1", random.Random(1), bug=bug, durable=durable))


def generated_id(machine: UniqueIds) -> str:
    fx = machine.step(GENERATE, now_s=0.0)
    [(dest, body)] = fx.messages
    assert dest == "c1"
    assert body["type"] == "generate_ok"
    return str(body["id"])


def test_first_init_persists_the_next_boot_with_a_sync() -> None:
    machine = boot({})
    fx = machine.step(Init(("n1", "n2")), now_s=0.0)
    assert fx == Effects(persist={"boot": 1}, sync=True, logs=[("info", "boot", {"boot": 1})])
    assert [generated_id(machine) for _ in range(3)] == ["n1-1-1", "n1-1-2", "n1-1-3"]


def test_the_bug_persists_the_boot_without_a_sync() -> None:
    machine = boot({}, bug="unsynced-boot-counter")
    fx = machine.step(Init(("n1",)), now_s=0.0)
    assert fx.persist == {"boot": 1}
    assert fx.sync is False


def test_a_restart_from_durable_boots_higher() -> None:
    machine = boot({"boot": 4})
    assert machine.step(Init(("n1",)), now_s=0.0).persist == {"boot": 5}
    assert generated_id(machine) == "n1-5-1"


def test_a_repeated_init_in_one_life_changes_nothing() -> None:
    machine = boot({"boot": 1})
    machine.step(Init(("n1",)), now_s=0.0)
    assert generated_id(machine) == "n1-2-1"
    assert machine.step(Init(("n1",)), now_s=1.0) == Effects()
    assert generated_id(machine) == "n1-2-2"


@pytest.mark.parametrize(("bug", "is_repeating"), [(None, False), ("unsynced-boot-counter", True)])
def test_lives_killed_after_one_id(bug: str | None, is_repeating: bool) -> None:
    """A SIGKILL keeps only what was synced: the next life boots from that."""
    durable: dict[str, Any] = {}
    ids = []
    for _ in range(3):
        machine = boot(durable, bug=bug)
        fx = machine.step(Init(("n1",)), now_s=0.0)
        ids.append(generated_id(machine))
        if fx.sync:
            durable = {**durable, **fx.persist}
    assert (len(set(ids)) < len(ids)) is is_repeating, ids


def test_id_generator_is_unique_per_boot() -> None:
    first = IdGenerator("n1", boot=1)
    second = IdGenerator("n1", boot=2)
    ids = [first.next_id() for _ in range(3)] + [second.next_id() for _ in range(3)]
    assert len(set(ids)) == 6
    assert ids[0] == "n1-1-1"
