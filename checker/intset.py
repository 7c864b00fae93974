"""A set of integers held as ranges: how a history records a read of a growing set compactly.

A broadcast (or g-set) read returns every element the node holds, so a run's reads are
quadratic in size if each is written out: ten minutes at 200 operations per second is gigabytes
of JSON, and no checker can even parse that in a minute. The workloads add consecutive
integers, so a read is nearly always a handful of runs of consecutive integers (the holes are
the messages still in flight). `IntRanges` is such a set as sorted, disjoint, non-adjacent
inclusive ranges, and the history records it as

    {"index": 9, ..., "f": "read", "value": [[0, 4999], [5001, 5120]],
     "value_encoding": "int-ranges"}

The `value_encoding` field says how to read `value`; a history without it is plain Jepsen JSON,
and the loader (`checker.history`) turns such a value back into an `IntRanges`, refusing pairs
that are not sorted, disjoint integer ranges. `IntRanges.encode` encodes a read only when it
loses nothing a checker judges: every element a distinct integer (not a bool). The order the
node listed them in is not kept (a read of a set has none); a read with repeats or other
values stays a plain list, so its duplicates are still counted.

It is a `Sequence[int]` in ascending order (len, iteration, `in`, indexing), so code written
for lists of elements reads it as one; `checker.setfull` also uses its ranges directly, which
is what keeps judging a long run linear (`count_between`, `gaps`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any, overload

ENCODING = "int-ranges"  # the history's `value_encoding` for an `IntRanges` value


class IntRanges(Sequence[int]):
    """Sorted, disjoint, non-adjacent inclusive ranges `[lo, hi]` of integers (immutable)."""

    __slots__ = ("_his", "_los", "_offsets")

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        """From ranges already sorted, disjoint and non-adjacent (`from_json` checks them)."""
        los: list[int] = []
        his: list[int] = []
        for lo, hi in pairs:
            los.append(lo)
            his.append(hi)
        self._los = los
        self._his = his
        # _offsets[i]: how many elements the ranges before range i hold
        self._offsets = [0, *accumulate(h - lo + 1 for lo, h in zip(los, his, strict=True))]

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def encode(cls, values: Sequence[Any]) -> IntRanges | None:
        """`values` as ranges when they are distinct integers (bools are not), else None."""
        if not all(type(v) is int for v in values):
            return None
        ordered = sorted(values)
        pairs: list[tuple[int, int]] = []
        for v in ordered:
            if pairs and v <= pairs[-1][1]:
                return None  # a repeat: keep the list, so that it is counted
            if pairs and v == pairs[-1][1] + 1:
                pairs[-1] = (pairs[-1][0], v)
            else:
                pairs.append((v, v))
        return cls(pairs)

    @classmethod
    def from_json(cls, value: Any) -> IntRanges:
        """From the history's `[[lo, hi], ...]`; raises ValueError saying what is wrong."""
        if not isinstance(value, list):
            raise ValueError(f"an {ENCODING} value must be a list of [lo, hi] pairs, "
                             f"not {type(value).__name__}")
        pairs: list[tuple[int, int]] = []
        for i, pair in enumerate(value):
            if not (isinstance(pair, list) and len(pair) == 2
                    and all(type(x) is int for x in pair)):
                raise ValueError(f"{ENCODING} range {i} is {pair!r}, not a [lo, hi] pair of "
                                 "integers")
            lo, hi = pair
            if lo > hi:
                raise ValueError(f"{ENCODING} range {i} is [{lo}, {hi}]: lo is above hi")
            if pairs and lo <= pairs[-1][1] + 1:
                raise ValueError(f"{ENCODING} range {i} [{lo}, {hi}] does not start after the "
                                 f"one before it ends ({pairs[-1][1]}) with a gap: ranges "
                                 "must be sorted, disjoint and not adjacent")
            pairs.append((lo, hi))
        return cls(pairs)

    def to_json(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in zip(self._los, self._his, strict=True)]

    # -- as a sequence -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._offsets[-1]

    def __iter__(self) -> Iterator[int]:
        for lo, hi in zip(self._los, self._his, strict=True):
            yield from range(lo, hi + 1)

    def __reversed__(self) -> Iterator[int]:
        for lo, hi in zip(reversed(self._los), reversed(self._his), strict=True):
            yield from range(hi, lo - 1, -1)

    def __contains__(self, value: object) -> bool:
        if type(value) is not int:
            return False
        i = bisect_right(self._los, value) - 1
        return i >= 0 and value <= self._his[i]

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("IntRanges index out of range")
        r = bisect_right(self._offsets, index) - 1
        return self._los[r] + index - self._offsets[r]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IntRanges):
            return self._los == other._los and self._his == other._his
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self._los), tuple(self._his)))

    def __repr__(self) -> str:
        return f"IntRanges({self.to_json()!r})"

    # -- as ranges -----------------------------------------------------------------------------

    @property
    def range_count(self) -> int:
        return len(self._los)

    def ranges(self) -> Iterator[tuple[int, int]]:
        return zip(self._los, self._his, strict=True)

    def gaps(self) -> Iterator[tuple[float, float]]:
        """The complement, as inclusive bounds (`-inf`/`inf` at the ends)."""
        below: float = float("-inf")
        for lo, hi in self.ranges():
            if lo - 1 >= below:
                yield below, lo - 1
            below = hi + 1
        yield below, float("inf")


def count_between(ordered: Sequence[int], lo: float, hi: float) -> int:
    """How many elements of the sorted `ordered` lie in `[lo, hi]`."""
    return bisect_right(ordered, hi) - bisect_left(ordered, lo)


def between(ordered: Sequence[int], lo: float, hi: float) -> Sequence[int]:
    """The elements of the sorted `ordered` that lie in `[lo, hi]`."""
    return ordered[bisect_left(ordered, lo): bisect_right(ordered, hi)]


def absent_from(ordered: Sequence[int], lo: int, hi: int) -> Iterator[int]:
    """The integers of `[lo, hi]` that the sorted, distinct `ordered` lacks, by bisection on
    counts: O(m log(hi - lo)) for m of them, however wide the range."""
    present = count_between(ordered, lo, hi)
    if present == hi - lo + 1:
        return
    if present == 0:
        yield from range(lo, hi + 1)
        return
    mid = (lo + hi) // 2
    yield from absent_from(ordered, lo, mid)
    yield from absent_from(ordered, mid + 1, hi)
