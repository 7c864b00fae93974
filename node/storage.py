"""Durable storage for a node: a JSON key-value store under `--data`, with explicit fsync.

    store = Storage.open(Path(args.data))
    store.get("boot", 0)
    store.set("boot", 3)          # visible to this process at once, NOT yet durable
    store.sync()                  # now durable: survives SIGKILL and restart
    await store.sync_async()      # the same, from async code (a snapshot in a thread)

The point is to model what a disk does to a crashing process (DESIGN.md: "a node's unfsynced
writes are lost when it is killed"): `set` only changes memory, and only `sync` makes the keys
set since the last one durable. A SIGKILL between `set` and `sync` loses the write, exactly as
an unfsynced write to a page cache is lost on power failure. A graceful stop (SIGTERM) calls
`sync` on the way out, as a process closing its files would leave them in the page cache.

On disk, a snapshot and a write-ahead log, so that a sync costs what changed, not what is held
(a Raft log of thousands of entries is synced many times a second):
- `store.json`: a snapshot of every key, replaced atomically (write a temporary file, fsync
  it, rename it over the old one, fsync the directory);
- `store.wal`: one line per sync since the snapshot, a JSON object of the keys that sync made
  durable, appended and fsynced. When the log outgrows `WAL_MIN_BYTES` and twice the snapshot,
  a sync writes a new snapshot instead and then empties the log: a snapshot's cost is repaid
  by the appends it saves, so syncing stays linear in what is written.
Opening replays the log over the snapshot. Replay is idempotent (a snapshot holds everything
logged before it), so a crash between the new snapshot and emptying the log loses nothing. A
last line cut short by a crash mid-append was never acknowledged (its sync had not returned):
it is dropped and cut off the file, so the next append starts a line of its own; any other
line that does not parse means the store is damaged, and opening it is an error naming the
line. Values must be JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

FILE_NAME = "store.json"


class StorageError(RuntimeError):
    """The data directory or its store file cannot be used."""


@dataclass(frozen=True)
class StorageStatistics:
    keys: int
    is_dirty: bool
    syncs: int


WAL_NAME = "store.wal"
WAL_MIN_BYTES = 1 << 20  # the log is never compacted below this size


class Storage:
    def __init__(self, path: Path, data: dict[str, Any], *, snapshot_bytes: int = 0,
                 wal_bytes: int = 0) -> None:
        self.path = path
        self.wal_path = path.with_name(WAL_NAME)
        self._data = data
        self._changed: set[str] = set()  # keys set since the last sync
        self._snapshot_bytes = snapshot_bytes
        self._wal_bytes = wal_bytes
        self._syncs = 0
        self._lock = trio.Lock()

    @classmethod
    def open(cls, directory: Path) -> Storage:
        """Load the store in `directory` (snapshot, then log), creating the directory if needed."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create data directory {directory}: {e}") from None
        path = directory / FILE_NAME
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
        except FileNotFoundError:
            text, data = "", {}
        except (OSError, ValueError) as e:
            raise StorageError(f"{path}: cannot read the store ({e}); move it away") from None
        if not isinstance(data, dict):
            raise StorageError(f"{path}: the store must be a JSON object; move it away")
        wal_bytes = _replay(path.with_name(WAL_NAME), data)
        return cls(path, data, snapshot_bytes=len(text), wal_bytes=wal_bytes)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def contents(self) -> dict[str, Any]:
        """A deep copy of every key: what a machine boots from (`node.machine.Boot.durable`).

        Right after `open` this is what was durable when the process started; after a SIGKILL
        that is only what had been synced."""
        return json.loads(json.dumps(self._data))

    def set(self, key: str, value: Any) -> None:
        """Change `key` in memory; durable only after the next `sync`."""
        self._data[key] = value
        self._changed.add(key)

    def sync(self) -> None:
        """Make every key set since the last sync durable (blocks for the file write)."""
        plan = self._plan()
        if plan is not None:
            self._write(*plan)

    async def sync_async(self) -> None:
        """`sync` for the event loop; concurrent callers are serialised.

        A log append (a line and one fsync, a fraction of a millisecond) runs right here,
        blocking the loop: a node's driver waits for its sync before doing anything else
        anyway, and handing the append to a worker thread cost more than the append itself
        (about 140 µs of CPU and two thread switches per sync, measured for bench/raft.py, and
        a Raft follower syncs for each batch it acknowledges). A snapshot (the whole store)
        is written in a worker thread. What to write is serialised on the event loop either
        way, so that the thread never reads a dict the node is changing.
        """
        async with self._lock:
            plan = self._plan()
            if plan is None:
                return
            is_snapshot, text = plan
            if is_snapshot:
                await trio.to_thread.run_sync(self._write, is_snapshot, text)
            else:
                self._write(is_snapshot, text)
                await trio.lowlevel.checkpoint()

    def _plan(self) -> tuple[bool, str] | None:
        """(whether to write a snapshot, the text to write), or None when nothing changed."""
        if not self._changed:
            return None
        line = json.dumps({k: self._data[k] for k in sorted(self._changed)},
                          separators=(",", ":")) + "\n"
        self._changed = set()
        if self._wal_bytes + len(line) > max(WAL_MIN_BYTES, 2 * self._snapshot_bytes):
            return True, json.dumps(self._data, separators=(",", ":"))
        return False, line

    def _write(self, snapshot: bool, text: str) -> None:
        if snapshot:
            self._write_snapshot(text)
        else:
            self._append(text)
        self._syncs += 1

    def _append(self, line: str) -> None:
        created = not self.wal_path.exists()
        with open(self.wal_path, "a", encoding="utf-8") as f:
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                # a full disk may have written part of the line: cut it off again, so that the
                # next sync's line starts on a line of its own (best effort)
                with contextlib.suppress(OSError):
                    f.truncate(self._wal_bytes)
                raise
        self._wal_bytes += len(line.encode("utf-8"))
        if created:
            _fsync_directory(self.path.parent)

    def _write_snapshot(self, text: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written store behind
            raise
        _fsync_directory(self.path.parent)
        self._snapshot_bytes = len(text)
        if self._wal_bytes:  # the snapshot holds what the log held: empty it
            with open(self.wal_path, "r+", encoding="utf-8") as f:
                f.truncate(0)
                os.fsync(f.fileno())
            self._wal_bytes = 0

    def statistics(self) -> StorageStatistics:
        return StorageStatistics(keys=len(self._data), is_dirty=bool(self._changed),
                                 syncs=self._syncs)


def _replay(wal: Path, data: dict[str, Any]) -> int:
    """Apply the log's lines to `data`; return the log's size after cutting off a torn last
    line (module docstring)."""
    try:
        raw = wal.read_bytes()
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise StorageError(f"{wal}: cannot read the store's log ({e}); move it away") from None
    good = 0  # bytes of whole, applied lines
    for lineno, line in enumerate(raw.splitlines(keepends=True), 1):
        is_last = good + len(line) == len(raw)
        try:
            update = json.loads(line)
        except ValueError:
            update = None
        if not line.endswith(b"\n") or not isinstance(update, dict):
            if is_last and not line.endswith(b"\n"):
                break  # torn by a crash mid-append: never acknowledged
            raise StorageError(f"{wal}:{lineno}: a damaged line in the store's log; move the "
                               "data directory away")
        data.update(update)
        good += len(line)
    if good < len(raw):
        try:
            with open(wal, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        except OSError as e:
            raise StorageError(f"{wal}: cannot cut off a torn last line ({e})") from None
    return good


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
