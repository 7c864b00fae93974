"""Reading the proxy's `messages.jsonl` for the message diagram, within a budget.

The log (chaos/proxy.py) has one line per copy of a message, written at its outcome:
`{"time": ns, "src", "dest", "type"?, "msg_id"?, "fate", "delay_ms"?}` (other writers may add
`in_reply_to`). A run may log millions, so the file is read twice, in blocks, and never held:

1. `count(path, end_ns=...)`: messages per time bin (by outcome time; the bins double in width
   to stay under `BINS_MAX`), per fate, lost ones per bin, and where each block of the file is
   and which times it spans. Only each line's time and fate are picked out.
2. `choose(hist, focus, budget)`: which bins to keep, None when everything fits; otherwise the
   bins around each focus time (the failure, the faults' starts and ends, the start), grown
   one bin at a time in turns while the budget lasts.
3. `keep(path, hist, chosen, budget)`: the kept messages as compact columns (`Kept`), read
   from the blocks that hold a chosen bin only, sorted by send time (µs): a copy was sent at
   `time - delay_ms` and arrived, or was lost, at `time`.

The proxy's own lines are matched by a regular expression over a whole block (a million small
tuples, no JSON parse); a block with any other line (a `malformed` record, a line from another
tool) is read line by line, that line as JSON. Lines that are neither are counted
(`Histogram.unreadable`) and skipped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BINS_MAX = 4096  # time bins of the first pass (they double in width to stay under this)
ARRIVES = ("delivered", "delayed", "duplicated")
LOST = ("dropped", "partitioned", "unroutable", "overflow", "forbidden")


@dataclass
class Histogram:
    """Messages per time bin over the whole log, by outcome time; bins double in width to
    stay under `BINS_MAX`."""

    width_ns: int
    total: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    count: int = 0
    lost_count: int = 0
    unreadable: int = 0
    fates: dict[str, int] = field(default_factory=dict)
    last_ns: int = 0
    # Where the file's blocks are, and the times they span: (offset, length, first, last).
    blocks: list[tuple[int, int, int, int]] = field(default_factory=list)

    def add(self, time_ns: int, is_lost: bool) -> None:
        b = time_ns // self.width_ns
        while b >= BINS_MAX:
            self._coarsen()
            b = time_ns // self.width_ns
        if b >= len(self.total):
            grow = b + 1 - len(self.total)
            self.total.extend([0] * grow)
            self.lost.extend([0] * grow)
        self.total[b] += 1
        self.count += 1
        self.last_ns = max(self.last_ns, time_ns)
        if is_lost:
            self.lost[b] += 1
            self.lost_count += 1

    def _coarsen(self) -> None:
        self.width_ns *= 2
        for name in ("total", "lost"):
            old = getattr(self, name)
            setattr(self, name, [sum(old[i:i + 2]) for i in range(0, len(old), 2)])

    def bin_of(self, time_ns: int) -> int:
        return time_ns // self.width_ns


_TIME_FATE = re.compile(rb'^\{"time":(\d+),.*"fate":"([a-z]+)"', re.M)
_PROXY_LINE = re.compile(
    rb'^\{"time":(\d+),"src":"([^"\\\n]*)","dest":"([^"\\\n]*)",(?:"type":"([^"\\\n]*)",)?'
    rb'(?:"msg_id":(\d+),)?"fate":"([a-z]+)"(?:,"delay_ms":([0-9.]+))?',
    re.M,
)
_BLOCK_BYTES = 1 << 20
# A record: (time, src, dest, type, msg_id, fate, delay_ms[, in_reply_to]) as bytes, b"" when
# absent (the proxy's lines carry no in_reply_to: only records from elsewhere may).
Record = tuple[bytes, ...]
_LOST_BYTES = frozenset(f.encode() for f in LOST)


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file as (offset, block of whole lines); a last line with no newline (a record cut
    short, or a whole one) is a block of its own."""
    with open(path, "rb") as fh:
        offset, rest = 0, b""
        while chunk := fh.read(_BLOCK_BYTES):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            rest = chunk[cut:]
            if cut:
                yield offset, chunk[:cut]
                offset += cut
        if rest.strip():
            yield offset, rest


def _lines_of(block: bytes) -> int:
    return block.count(b"\n") + (not block.endswith(b"\n"))


def _time_fates(block: bytes, unreadable: list[int]) -> list[tuple[bytes, bytes]]:
    found = _TIME_FATE.findall(block)
    if len(found) == _lines_of(block):
        return found
    return [(r[0], r[5]) for r in _records(block, unreadable)]


def _records(block: bytes, unreadable: list[int]) -> list[Record]:
    """The block's records; lines that are not records are counted in `unreadable[0]`."""
    found = _PROXY_LINE.findall(block)
    if len(found) == _lines_of(block):
        return found
    out: list[Record] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        m = _PROXY_LINE.match(line)
        record = m.groups(b"") if m is not None else _json_record(line)
        if record is None:
            unreadable[0] += 1
        else:
            out.append(record)
    return out


def _json_record(line: bytes) -> Record | None:
    try:
        d = json.loads(line)
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    time_ns = d.get("time")
    if not isinstance(time_ns, int) or isinstance(time_ns, bool):
        return None

    def text(key: str) -> bytes:
        value = d.get(key)
        if value is None or isinstance(value, bool):
            return b""
        return str(value).encode("utf-8", "replace")

    return (str(max(0, time_ns)).encode(), text("src"), text("dest"), text("type"),
            text("msg_id"), text("fate") or b"?", text("delay_ms"), text("in_reply_to"))


def count(path: Path, *, end_ns: int) -> Histogram:
    """The first pass: messages per bin, per fate, and where each block of the file is."""
    hist = Histogram(width_ns=max(1, math.ceil(max(end_ns, 1_000_000_000) / 1000)))
    unreadable = [0]
    fates: dict[bytes, int] = {}
    width, total, lost = hist.width_ns, hist.total, hist.lost
    for offset, block in _blocks(path):
        low, high = None, 0
        for t, fate in _time_fates(block, unreadable):
            time_ns = int(t)
            fates[fate] = fates.get(fate, 0) + 1
            if low is None or time_ns < low:
                low = time_ns
            high = max(high, time_ns)
            b = time_ns // width
            if b >= len(total):  # past the bins so far: grow (or coarsen) them
                hist.add(time_ns, fate in _LOST_BYTES)
                width, total, lost = hist.width_ns, hist.total, hist.lost
                continue
            total[b] += 1
            if fate in _LOST_BYTES:
                lost[b] += 1
        if low is not None:
            hist.blocks.append((offset, len(block), low, high))
            hist.last_ns = max(hist.last_ns, high)
    hist.count = sum(fates.values())
    hist.lost_count = sum(lost)
    hist.unreadable = unreadable[0]
    hist.fates = {f.decode("utf-8", "replace"): n for f, n in fates.items()}
    return hist


def choose(hist: Histogram, focus: list[int], budget: int) -> set[int] | None:
    """The bins whose messages to keep (None: all of them fit), grown around the focus
    times in turns, one bin at a time, while the budget lasts."""
    if hist.count <= budget:
        return None
    last = len(hist.total) - 1
    totals = hist.total

    def around(b: int) -> Iterator[int]:
        yield b
        for d in range(1, last + 1):
            if b + d > last and b - d < 0:
                return
            if b + d <= last:
                yield b + d
            if b - d >= 0:
                yield b - d

    growing = [around(min(last, hist.bin_of(t))) for t in focus]
    chosen: set[int] = set()
    used = 0
    while growing:
        still = []
        for it in growing:
            for b in it:
                if b in chosen:
                    continue
                if used + totals[b] > budget:
                    break  # this focus is done; the others may still grow
                chosen.add(b)
                used += totals[b]
                still.append(it)
                break
        growing = still
    if not chosen and focus:  # one bin alone is over budget: keep its first messages
        chosen.add(min(last, hist.bin_of(focus[0])))
    return chosen


@dataclass
class Kept:
    """The embedded messages as columns, sorted by send time (µs)."""

    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    fates: list[str] = field(default_factory=list)
    send: list[int] = field(default_factory=list)
    dur: list[int] = field(default_factory=list)
    src: list[int] = field(default_factory=list)
    dst: list[int] = field(default_factory=list)
    typ: list[int] = field(default_factory=list)
    mid: list[int] = field(default_factory=list)  # msg_id; 0: none (ids start at 1)
    rid: list[int] = field(default_factory=list)  # in_reply_to; 0: none
    fate: list[int] = field(default_factory=list)
    windows_us: list[tuple[int, int]] = field(default_factory=list)  # what is embedded
    cut_at_budget: bool = False
    all_kept: bool = True


def keep(path: Path, hist: Histogram, chosen: set[int] | None, budget: int) -> Kept:
    kept = Kept(all_kept=chosen is None)
    tables: dict[str, dict[bytes, int]] = {"names": {}, "types": {}, "fates": {}}

    def idx(kind: str, name: bytes) -> int:
        table = tables[kind]
        found = table.get(name)
        if found is None:
            found = table[name] = len(table)
            getattr(kept, kind).append(name.decode("utf-8", "replace") or "?")
        return found

    rows: list[tuple[int, int, int, int, int, int, int, int]] = []
    width = hist.width_ns
    for r in _wanted(path, hist, chosen):
        time_ns = int(r[0])
        if chosen is not None and time_ns // width not in chosen:
            continue
        if not r[1] or not r[2]:
            continue  # a malformed frame: counted, not drawn
        if len(rows) >= budget:
            kept.cut_at_budget = True
            break
        try:
            delay_ms = float(r[6]) if r[6] else 0.0
        except ValueError:
            delay_ms = 0.0
        at_us = time_ns // 1000
        sent_us = max(0, at_us - round(delay_ms * 1000))
        rows.append((
            sent_us, at_us - sent_us, idx("names", r[1]), idx("names", r[2]),
            idx("types", r[3] or b"?"), _int(r[4]), _int(r[7] if len(r) > 7 else b""),
            idx("fates", r[5]),
        ))
    rows.sort()
    cols: list[list[int]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 8
    kept.send, kept.dur, kept.src, kept.dst, kept.typ, kept.mid, kept.rid, kept.fate = (
        list(c) for c in cols
    )
    if chosen is None:
        kept.windows_us = [(0, hist.last_ns // 1000 + 1)]
    else:
        kept.windows_us = _runs(sorted(chosen), hist.width_ns)
    return kept


def _wanted(path: Path, hist: Histogram, chosen: set[int] | None) -> Iterator[Record]:
    """The records of the blocks that hold a chosen bin (all, when `chosen` is None), read
    from where the first pass found them."""
    width = hist.width_ns
    with open(path, "rb") as fh:
        for offset, length, low, high in hist.blocks:
            if chosen is not None and not any(
                b in chosen for b in range(low // width, high // width + 1)
            ):
                continue
            fh.seek(offset)
            yield from _records(fh.read(length), [0])


def _int(value: bytes) -> int:
    """A msg_id or in_reply_to: a positive integer, else 0 (none)."""
    return int(value) if value.isdigit() else 0


def _runs(bins: list[int], width_ns: int) -> list[tuple[int, int]]:
    """Contiguous runs of bins as [start, end) in µs."""
    runs: list[tuple[int, int]] = []
    for b in bins:
        if runs and runs[-1][1] == b:
            runs[-1] = (runs[-1][0], b + 1)
        else:
            runs.append((b, b + 1))
    return [(a * width_ns // 1000, z * width_ns // 1000) for a, z in runs]


