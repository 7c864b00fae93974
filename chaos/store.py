"""The run store: where a run's files go, and how they are written.

    logs/<scenario>/<UTC time>-s<seed>/    one run (layout in README.md and DESIGN.md)
    logs/latest                            a link to the newest run

A run directory is made with `mkdir` (never `exist_ok`), so two runs started in the same
microsecond with the same seed still get two directories; `latest` is replaced by a rename, so
a reader never sees it missing. JSON documents are written to a temporary file and renamed, so a
crash leaves the old version or the new one, never half of one, and a failed write leaves no
temporary file. (The history is the exception: it is appended and flushed line by line, see
`chaos.clients.Recorder`; `trim_partial_line` cuts the half line a failed append leaves.)

A store that cannot be written (a full disk, a read-only directory) is a harness failure, not a
verdict: every write here raises `StoreError` with one line saying what happened, to which file,
and what to do (`describe`), and the run exits 4. So that a run which fills the disk can still
say so, each run sets aside `RESERVE_BYTES` in `RUN/.reserve` when it starts
(`reserve_space`) and gives it back just before it writes its last documents (`release_space`):
room for `results.json` and `run.json` with the exit code and the reason. (Only a run killed
with `kill -9` leaves its `.reserve` behind.)
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESERVE_NAME = ".reserve"
RESERVE_BYTES = 64 * 1024  # run.json (twice, while it is renamed) and a results.json
FULL_BYTES = 16 * 1024  # less free than this as a run ends: the store is full
_FULL = (errno.ENOSPC, errno.EDQUOT)
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class StoreError(OSError):
    """The run store cannot be written: a harness failure (exit 4). Its text is one line:
    what happened, to which file, and what to do. An `OSError` (with the cause's `errno`), so
    that code which handles a failed write as an `OSError` still does."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


def describe(e: OSError, path: Path | str, *, otherwise: str = "or pass --store DIR") -> str:
    """One line for a failed write of `path`: what happened and what to do (`otherwise`: the
    way out besides fixing the disk, for the command at hand)."""
    where = f"{e.strerror or e} writing {'into ' if Path(path).is_dir() else ''}{path}"
    if e.errno in _FULL:
        return f"the run store is full ({where}); free space {otherwise}"
    if e.errno in _UNWRITABLE:
        return f"the run store is not writable ({where}); make it writable {otherwise}"
    return f"cannot write the run store ({where}); check the disk {otherwise}"


_STORE_REASONS = ("the run store", "cannot write the run store")  # what `describe` says


def is_full(e: OSError) -> bool:
    """Whether `e` says the disk (or the user's quota) is full."""
    return e.errno in _FULL


def is_store_problem(e: OSError) -> bool:
    """Whether `e` says the disk is full or read-only, whichever file it was."""
    return e.errno in _FULL or e.errno in _UNWRITABLE


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an `OSError` raised while writing `path` into a `StoreError` that names it."""
    try:
        yield
    except StoreError:
        raise
    except OSError as e:
        raise StoreError(describe(e, path), errno=e.errno) from e


def make_run_dir(store: Path, scenario_name: str, seed: int) -> Path:
    """`store/<scenario>/<UTC time>-s<seed>/`, unique even for two runs started at once."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    parent = store / scenario_name
    with writing(parent):
        parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        suffix = "" if attempt == 0 else f"-{attempt}"
        run_dir = parent / f"{stamp}-s{seed}{suffix}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise StoreError(describe(e, run_dir), errno=e.errno) from e
        with writing(store / "latest"):
            link_latest(store, run_dir)
        return run_dir
    raise StoreError(f"could not create a run directory under {parent}; pass --store DIR")


def link_latest(store: Path, run_dir: Path) -> None:
    """Point `store/latest` at `run_dir`, atomically (a rename over the old link)."""
    link = store / "latest"
    tmp = store / f".latest-{os.getpid()}-{id(run_dir)}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(run_dir, store), tmp)
    os.replace(tmp, link)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to: renamed over `path` when the block
    ends, removed if it fails. Failures are `StoreError`s naming `path`."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with writing(path):
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path`: a reader sees the old document or the new, never half.

    A failed write (a full disk) raises `StoreError` and leaves no temporary file behind."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_text_atomic(path: Path, text: str) -> None:
    """`write_json_atomic` for text that is already rendered (a report page)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def whole_or_none(path: Path) -> Iterator[None]:
    """Around a writer of `path` that is not atomic (the report page): if the block fails, a
    `path` it changed is removed, since half a page is no page; one it did not touch stays."""
    before = _stamp(path)
    try:
        yield
    except BaseException:
        if _stamp(path) not in (before, None):
            with contextlib.suppress(OSError):
                path.unlink()
        raise


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def reserve_space(run_dir: Path) -> None:
    """Set aside `RESERVE_BYTES` in `run_dir` for the run's last documents."""
    path = run_dir / RESERVE_NAME
    fallocate = getattr(os, "posix_fallocate", None)  # not on macOS
    with writing(run_dir), open(path, "wb") as fh:  # named by the run: .reserve is ours
        try:
            if fallocate is None:
                raise OSError(errno.EOPNOTSUPP, "no posix_fallocate")
            fallocate(fh.fileno(), 0, RESERVE_BYTES)
        except OSError as e:  # a file system without fallocate: write the bytes instead
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            fh.write(bytes(RESERVE_BYTES))


def release_space(run_dir: Path) -> None:
    """Give back what `reserve_space` set aside (nothing happens if there is none)."""
    with contextlib.suppress(OSError):
        (run_dir / RESERVE_NAME).unlink()


def free_bytes(path: Path) -> int | None:
    """The bytes free on `path`'s file system for us, or None if that cannot be told."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may use the reserve
    return blocks * st.f_frsize


def full_store_reason(error: str | None, run_dir: Path, *, store: Path) -> str | None:
    """The reason a run ends with, saying first that the store is full when it is (call it
    before `release_space`). A full store is a harness failure even if no write of ours
    failed: a node's log or the proxy's messages.jsonl lost lines. A process of ours that died
    of it is only its consequence, so its reason is cut to its first line."""
    free = free_bytes(run_dir)
    if free is None or free >= FULL_BYTES or (error or "").startswith(_STORE_REASONS):
        return error
    full = (f"the run store is full ({free} bytes free in {store} as the run ended; logs may "
            f"have lost lines); free space or pass --store DIR")
    return full if error is None else f"{full}; and so: {error.splitlines()[0].rstrip(':')}"


def trim_partial_line(path: Path) -> int:
    """Cut what follows the last newline of `path` (half a line left by a failed append) and
    return how many bytes were cut. Complete lines are never touched; a missing or unreadable
    file is left alone. Truncating needs no free space, so this works on a full disk."""
    try:
        with open(path, "r+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            pos = end
            while pos > 0:
                start = max(0, pos - 65536)
                fh.seek(start)
                newline = fh.read(pos - start).rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                pos = start
            else:
                keep = 0
            if keep < end:
                fh.truncate(keep)
            return end - keep
    except OSError:
        return 0
