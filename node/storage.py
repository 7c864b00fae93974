"""Durable storage for a node: a small JSON key-value file under `--data`, with explicit fsync.

    store = Storage.open(Path(args.data))
    store.get("boot", 0)
    store.set("boot", 3)          # visible to this process at once, NOT yet durable
    store.sync()                  # now durable: survives SIGKILL and restart
    await store.sync_async()      # the same, off the event loop

The point is to model what a disk does to a crashing process (DESIGN.md: "a node's unfsynced
writes are lost when it is killed"): `set` only changes memory, and only `sync` writes the whole
document to `store.json` atomically (write a temporary file, fsync it, rename over the old one,
fsync the directory). A SIGKILL between `set` and `sync` loses the write, exactly as an
unfsynced write to a page cache is lost on power failure. A graceful stop (SIGTERM) calls `sync`
on the way out, as a process closing its files would leave them in the page cache.

Values must be JSON. The store is meant for small state (boot counters, Raft terms and logs of
a test run); every `sync` rewrites the whole file.
"""

from __future__ import annotations

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


class Storage:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._dirty = False
        self._syncs = 0
        self._lock = trio.Lock()

    @classmethod
    def open(cls, directory: Path) -> Storage:
        """Load the store in `directory`, creating the directory if needed."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create data directory {directory}: {e}") from None
        path = directory / FILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as e:
            raise StorageError(f"{path}: cannot read the store ({e}); move it away") from None
        if not isinstance(data, dict):
            raise StorageError(f"{path}: the store must be a JSON object; move it away")
        return cls(path, data)

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
        self._dirty = True

    def sync(self) -> None:
        """Write the store atomically and fsync it (blocks for one small file write)."""
        text = self._snapshot()
        if text is not None:
            self._write(text)

    async def sync_async(self) -> None:
        """`sync` with the file work in a worker thread; concurrent callers are serialised.

        The document is serialised here, on the event loop, so that the thread never reads a
        dict the node is changing.
        """
        async with self._lock:
            text = self._snapshot()
            if text is not None:
                await trio.to_thread.run_sync(self._write, text)

    def _snapshot(self) -> str | None:
        if not self._dirty:
            return None
        self._dirty = False
        return json.dumps(self._data, separators=(",", ":"))

    def _write(self, text: str) -> None:
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
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._syncs += 1

    def statistics(self) -> StorageStatistics:
        return StorageStatistics(keys=len(self._data), is_dirty=self._dirty, syncs=self._syncs)
