"""Small pieces of the node: durable storage, the skewable clock, log lines, and the service
registry's declarations (each bug documented and given a canary, each core pure)."""

from __future__ import annotations

import importlib
import io
import json
import re
from pathlib import Path

import pytest

from node import services
from node.clock import Clock
from node.log import Logger
from node.storage import Storage, StorageError

SERVICES_DIR = Path(services.__file__).parent


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


def test_a_machine_boots_from_what_was_synced(tmp_path: Path) -> None:
    assert Storage.open(tmp_path / "new").contents() == {}
    store = Storage.open(tmp_path / "d")
    store.set("boot", 3)
    store.sync()
    store.set("boot", 4)  # lost by a kill
    assert Storage.open(tmp_path / "d").contents() == {"boot": 3}


def test_a_sync_appends_only_what_changed_and_a_reopen_replays_it(tmp_path: Path) -> None:
    store = Storage.open(tmp_path)
    store.set("log/1", [1, "a" * 100])
    store.sync()
    store.set("term", 2)
    store.sync()
    store.sync()  # nothing changed: nothing written
    lines = (tmp_path / "store.wal").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"log/1": [1, "a" * 100]}, {"term": 2}]
    assert store.statistics().syncs == 2 and not (tmp_path / "store.json").exists()
    assert Storage.open(tmp_path).contents() == {"log/1": [1, "a" * 100], "term": 2}


def test_a_torn_last_log_line_is_dropped_and_cut_off(tmp_path: Path) -> None:
    store = Storage.open(tmp_path)
    store.set("term", 2)
    store.sync()
    with open(tmp_path / "store.wal", "a") as f:
        f.write('{"term":3,"vo')  # a crash mid-append: that sync never returned
    again = Storage.open(tmp_path)
    assert again.contents() == {"term": 2}
    again.set("vote", "n2")
    again.sync()  # starts a line of its own
    assert Storage.open(tmp_path).contents() == {"term": 2, "vote": "n2"}


def test_a_damaged_log_line_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "store.wal").write_text('{"term":2}\nGARBAGE\n{"term":3}\n')
    with pytest.raises(StorageError, match=r"store\.wal:2: a damaged line"):
        Storage.open(tmp_path)


def test_the_log_is_folded_into_a_snapshot_as_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("node.storage.WAL_MIN_BYTES", 200)
    store = Storage.open(tmp_path)
    for i in range(50):
        store.set(f"log/{i}", [1, i])
        store.sync()
    wal = tmp_path / "store.wal"
    snapshot_size = (tmp_path / "store.json").stat().st_size
    assert 0 < wal.stat().st_size <= max(200, 2 * snapshot_size)
    expected = {f"log/{i}": [1, i] for i in range(50)}
    assert Storage.open(tmp_path).contents() == expected
    # a crash after a snapshot and before the log was emptied: replaying it changes nothing
    snapshot = json.loads((tmp_path / "store.json").read_text())
    stale = "".join(json.dumps({k: [0, "old"]}) + "\n" for k in sorted(snapshot))
    wal.write_text(stale + "".join(json.dumps({k: v}) + "\n" for k, v in sorted(snapshot.items()))
                   + wal.read_text())
    assert Storage.open(tmp_path).contents() == expected


def test_clock_rate_change_is_continuous() -> None:
    now = [100.0]
    clock = Clock(lambda: now[0])
    now[0] = 110.0
    assert clock.now_s() == pytest.approx(110.0)
    clock.set(rate=2.0)
    assert clock.now_s() == pytest.approx(110.0)
    now[0] = 111.0
    assert clock.now_s() == pytest.approx(112.0)
    clock.set(offset_ms=-2000)
    assert clock.now_s() == pytest.approx(110.0)
    assert clock.real_duration_s(4.0) == pytest.approx(2.0)


def test_log_lines_are_json_with_the_contract_fields() -> None:
    stream = io.StringIO()
    Logger("n3", epoch_ns=0, stream=stream).info("boot", boot=2, odd=object())
    record = json.loads(stream.getvalue())
    assert {"time", "node", "level", "event", "boot", "odd"} <= set(record)
    assert (record["node"], record["level"], record["event"]) == ("n3", "info", "boot")


@pytest.mark.parametrize("name", sorted(services.SERVICES))
def test_each_service_documents_its_bugs_and_gives_each_a_canary(name: str) -> None:
    spec = services.SERVICES[name]
    package = importlib.import_module(spec.machine.__module__.rsplit(".", 1)[0])
    assert package.__doc__
    assert package.SERVICE is spec
    for bug in spec.bugs:
        assert bug in package.__doc__, f"{name}: document the bug {bug!r} in the docstring"
    assert set(spec.canaries) == set(spec.bugs), f"{name}: every bug needs a canary run"


@pytest.mark.parametrize(
    "core", sorted(SERVICES_DIR.glob("*/core.py")), ids=lambda p: p.parent.name
)
def test_service_cores_are_pure(core: Path) -> None:
    """A core does no I/O: no trio, no zmq, no files, no clock but the `now_s` it is given."""
    text = core.read_text(encoding="utf-8")
    bad = re.findall(r"^\s*(?:import|from) (trio|zmq|os|time|pathlib|socket|asyncio)\b", text, re.M)
    assert not bad, f"{core.parent.name}/core.py imports {bad}"


def test_registry_holds_the_three_services_and_validation_names_the_fix() -> None:
    assert {"broadcast", "echo", "unique-ids"} <= set(services.SERVICES)
    assert services.SERVICES["unique-ids"].needs_storage
    with pytest.raises(services.UnknownServiceError, match="use one of broadcast, echo"):
        services.bugs("nope")
    with pytest.raises(services.UnknownServiceError, match="use one of no-retry"):
        services.check("broadcast", "nope")
    services.check("broadcast", "no-retry")
    services.check("echo", None)
