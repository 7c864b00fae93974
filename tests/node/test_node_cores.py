"""Pure cores and small pieces of the node: gossip state, the id generator, storage, the
service registry."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from node import services
from node.services.broadcast import GossipState, sort_values
from node.services.unique_ids import IdGenerator
from node.storage import Storage, StorageError


def test_gossip_new_messages_are_owed_by_every_neighbour_but_the_source() -> None:
    state = GossipState()
    state.set_neighbours(["n2", "n3"])
    assert state.add([1, 2]) == {1, 2}
    assert state.owed == {"n2": {1, 2}, "n3": {1, 2}}
    assert state.add([2, 3], src="n2") == {3}
    assert state.owed == {"n2": {1}, "n3": {1, 2, 3}}
    state.acknowledge("n3", [1, 2])
    assert state.due() == {"n2": [1], "n3": [3]}
    state.acknowledge("n2", [1])
    state.acknowledge("n3", [3])
    state.acknowledge("n9", [3])  # not a neighbour: ignored
    assert state.due() == {}
    assert state.push_targets(src="n2") == ["n3"]


def test_gossip_a_new_neighbour_owes_everything_and_batches_are_bounded() -> None:
    state = GossipState()
    state.set_neighbours(["n2"])
    state.add(range(5))
    state.acknowledge("n2", range(5))
    state.set_neighbours(["n2", "n3"])
    assert state.due(batch_max=3) == {"n3": [0, 1, 2]}
    assert state.missing_from([0, 1]) == {2, 3, 4}


def test_gossip_without_retries_owes_nothing() -> None:
    state = GossipState(is_retrying=False)
    state.set_neighbours(["n2", "n3"])
    assert state.add([1]) == {1}
    assert state.due() == {}
    assert state.push_targets(src=None) == ["n2", "n3"]


def test_sort_values_orders_mixed_values() -> None:
    assert sort_values(["b", 2, "a", 1.5]) == [1.5, 2, "a", "b"]


def test_id_generator_is_unique_per_boot() -> None:
    first = IdGenerator("n1", boot=1)
    second = IdGenerator("n1", boot=2)
    ids = [first.next_id() for _ in range(3)] + [second.next_id() for _ in range(3)]
    assert len(set(ids)) == 6
    assert ids[0] == "n1-1-1"


def test_storage_loses_unsynced_writes(tmp_path: Path) -> None:
    store = Storage.open(tmp_path / "d")
    store.set("a", 1)
    store.sync()
    store.set("b", 2)  # never synced: what a SIGKILL loses
    assert store.get("b") == 2
    again = Storage.open(tmp_path / "d")
    assert again.get("a") == 1
    assert again.get("b") is None
    assert store.statistics().is_dirty


def test_storage_refuses_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "store.json").write_text("[1, 2]")
    with pytest.raises(StorageError, match="must be a JSON object"):
        Storage.open(tmp_path)


@pytest.mark.parametrize("name", sorted(services.SERVICES))
def test_registry_matches_the_service_modules(name: str) -> None:
    spec = services.SERVICES[name]
    module = importlib.import_module(spec.module)
    assert set(module.BUGS) == set(spec.bugs) == set(services.bugs(name))
    assert module.__doc__
    for bug in spec.bugs:
        assert bug in module.__doc__, f"{name}: document the bug {bug!r} in the docstring"


def test_registry_validation_names_the_fix() -> None:
    with pytest.raises(services.UnknownServiceError, match="use one of broadcast, echo"):
        services.bugs("nope")
    with pytest.raises(services.UnknownServiceError, match="use one of no-retry"):
        services.check("broadcast", "nope")
    services.check("broadcast", "no-retry")
    services.check("echo", None)
