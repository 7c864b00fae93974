"""A set of integers held as ranges, and a read as a delta: how a history records reads compactly.

A broadcast (or g-set) read returns every element the node holds, so a run's reads are
quadratic in size if each is written out: ten minutes at 200 operations per second is gigabytes
of JSON, and no checker can even parse that in a minute. The workloads add consecutive
integers, so a read is nearly always a handful of runs of consecutive integers (the holes are
the messages still in flight). `IntRanges` is such a set as sorted, disjoint, non-adjacent
inclusive ranges, and the history records it as

    {"index": 9, ..., "f": "read", "value": [[0, 4999], [5001, 5120]],
     "value_encoding": "int-ranges"}

That is not enough during a partition: a minority node lacks every message the other side
took, and those interleave with its own, so its reads have thousands of holes, each one a range
written again by every read (a real 10-minute soak still wrote 282 MB, 23 million ranges). So a
read may instead be recorded as what changed since the same node's previous read
(`IntRangesDelta`, `"value_encoding": "int-ranges-delta"`):

    {"index": 12, ..., "f": "read", "value": {"base": 9, "add": [[5121, 5123]], "remove": [],
     "count": 5123}, "value_encoding": "int-ranges-delta", "node": "n1"}

`base` is the `index` of that previous read (an `ok` read of the same `f` from the same `node`,
itself ranges or a delta); the read's set is the base's, less `remove` (elements the base held),
plus `add` (elements it did not hold), and `count` is its size. A history then grows with what
the nodes learn, not with what they hold. `checker.history` says which read a delta is against,
writes them (`ValueEncoder`) and resolves them; `checker.setfull` judges them without ever
resolving every read.

The `value_encoding` field says how to read `value`; a history without it is plain Jepsen JSON.
`IntRanges.encode` encodes a read only when it loses nothing a checker judges: every element a
distinct integer (not a bool) that fits in 64 bits. The order the node listed them in is not
kept (a read of a set has none); a read with repeats or other values stays a plain list, so its
duplicates are still counted.

`IntRanges` is a `Sequence[int]` in ascending order (len, iteration, `in`, indexing), so code
written for lists of elements reads it as one. It holds its bounds in two `array("q")`s (16
bytes a range), and what it does in bulk it does with C-speed built-ins (`map`, `sorted`,
`itertools`) rather than a Python loop per range or per element: building one from a sorted
list, validating a history's pairs, iterating, and comparing two sets by a sweep over their
bounds (`changes`, `IntRangesDelta.apply`), which skips the ranges two sets share at the start
(a node's successive reads mostly differ at their end).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, islice, repeat
from operator import gt, le, lt, ne, sub
from typing import Any, NoReturn, overload

ENCODING = "int-ranges"  # the history's `value_encoding` for an `IntRanges` value
DELTA_ENCODING = "int-ranges-delta"  # and for an `IntRangesDelta`
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SUCC = (1).__add__
_PRED = (-1).__add__


class IntRanges(Sequence[int]):
    """Sorted, disjoint, non-adjacent inclusive ranges `[lo, hi]` of integers (immutable)."""

    __slots__ = ("_his", "_len", "_los", "_offsets")

    _los: array[int]
    _his: array[int]
    _len: int
    _offsets: array[int] | None

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        """From ranges already sorted, disjoint and non-adjacent (`from_json` checks them)."""
        bounds = array("q", chain.from_iterable(pairs))
        self._set(bounds[0::2], bounds[1::2])

    def _set(self, los: array[int], his: array[int]) -> None:
        self._los = los
        self._his = his
        self._len = len(los) + sum(map(sub, his, los))
        self._offsets = None  # built when first indexed: most sets never are

    @classmethod
    def _of(cls, los: array[int], his: array[int]) -> IntRanges:
        """From bounds known to be valid (no checks)."""
        if not los:
            return EMPTY
        self = cls.__new__(cls)
        self._set(los, his)
        return self

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def encode(cls, values: Sequence[Any]) -> IntRanges | None:
        """`values`, as JSON decodes them, as ranges when they are distinct integers (bools are
        not) of 64 bits at most; else None. Costs a sort and a few passes in C, no Python loop
        per element: the workload encodes every read."""
        try:
            ordered = sorted(values)
            array("q", ordered)  # refuses what is not an integer, and integers beyond 64 bits
        except (TypeError, OverflowError):
            return None
        # bools sort, and are stored, as 0 and 1: look where they would be
        if not set(map(type, between(ordered, 0, 1))) <= {int}:
            return None
        return cls._runs(ordered)

    @classmethod
    def from_sorted(cls, ordered: Sequence[int]) -> IntRanges:
        """From distinct 64-bit integers in ascending order (not checked)."""
        ranges = cls._runs(ordered)
        assert ranges is not None, "from_sorted takes distinct integers"
        return ranges

    @classmethod
    def _runs(cls, ordered: Sequence[int]) -> IntRanges | None:
        """The runs of consecutive integers of the ascending `ordered`; None if it repeats one
        (a read with repeats stays a list, so that they are counted)."""
        n = len(ordered)
        if not n:
            return EMPTY
        if ordered[-1] - ordered[0] == n - 1:  # one run, if they are distinct
            if not all(map(lt, ordered, islice(ordered, 1, None))):
                return None
            return cls._of(array("q", ordered[:1]), array("q", ordered[-1:]))
        steps = list(map(sub, islice(ordered, 1, None), ordered))
        if min(steps) < 1:
            return None
        # A run starts at position i when ordered[i] is not ordered[i - 1] + 1.
        starts = list(compress(range(1, n), map(ne, steps, repeat(1))))
        los = array("q", ordered[:1])
        los.extend(map(ordered.__getitem__, starts))
        his = array("q", map(ordered.__getitem__, map(_PRED, starts)))
        his.append(ordered[-1])
        return cls._of(los, his)

    @classmethod
    def from_json(cls, value: Any, *, what: str = ENCODING) -> IntRanges:
        """From the history's `[[lo, hi], ...]`; raises ValueError saying what is wrong (`what`
        names the value in the message)."""
        if not isinstance(value, list):
            raise ValueError(f"an {what} value must be a list of [lo, hi] pairs, "
                             f"not {type(value).__name__}")
        if not value:
            return EMPTY
        # Checked in bulk; `_explain` finds the first fault when there is one.
        if set(map(type, value)) != {list} or set(map(len, value)) != {2}:
            _explain(value, what)
        flat = list(chain.from_iterable(value))
        if set(map(type, flat)) != {int}:
            _explain(value, what)
        try:
            bounds = array("q", flat)
        except OverflowError:
            _explain(value, what)
        los, his = bounds[0::2], bounds[1::2]
        if not (all(map(le, los, his))
                and all(map(lt, map(_SUCC, his), islice(los, 1, None)))):
            _explain(value, what)
        return cls._of(los, his)

    def to_json(self) -> list[list[int]]:
        return list(map(list, zip(self._los, self._his, strict=True)))

    # -- as a sequence -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        return chain.from_iterable(map(range, self._los, map(_SUCC, self._his)))

    def __reversed__(self) -> Iterator[int]:
        return chain.from_iterable(map(range, reversed(self._his),
                                       map(_PRED, reversed(self._los)), repeat(-1)))

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
        if self._offsets is None:
            # _offsets[i]: how many elements the ranges before range i hold
            sizes = map(_SUCC, map(sub, self._his, self._los))
            self._offsets = array("q", accumulate(sizes, initial=0))
        r = bisect_right(self._offsets, index) - 1
        return self._los[r] + index - self._offsets[r]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IntRanges):
            return self._los == other._los and self._his == other._his
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._los.tobytes(), self._his.tobytes()))

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

    def union(self, other: IntRanges) -> IntRanges:
        """The elements of either. Costs the ranges of `self` from `other`'s least element on
        (a node's set mostly gains elements at its end)."""
        start = self._below(other)
        points, states = _sweep(self._after(start), other)
        return _concat(self._before(start), _select(points, states, {1, 2, 3}))

    def _below(self, other: IntRanges) -> int:
        """How many of the ranges lie below every element of `other`, with a gap."""
        return bisect_left(self._his, other._los[0] - 1) if other._los else len(self._los)

    def _before(self, i: int) -> IntRanges:
        return self if i >= len(self._los) else IntRanges._of(self._los[:i], self._his[:i])

    def _after(self, i: int) -> IntRanges:
        return self if i <= 0 else IntRanges._of(self._los[i:], self._his[i:])


EMPTY: IntRanges = IntRanges.__new__(IntRanges)
EMPTY._set(array("q"), array("q"))


def _explain(value: list[Any], what: str) -> NoReturn:
    """Raise the ValueError that says what is wrong with the first bad pair of `value`."""
    previous_hi: int | None = None
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2
                and all(type(x) is int for x in pair)):
            raise ValueError(f"{what} range {i} is {pair!r}, not a [lo, hi] pair of integers")
        lo, hi = pair
        if not (INT64_MIN <= lo <= INT64_MAX and INT64_MIN <= hi <= INT64_MAX):
            raise ValueError(f"{what} range {i} [{lo}, {hi}] is beyond 64-bit integers")
        if lo > hi:
            raise ValueError(f"{what} range {i} is [{lo}, {hi}]: lo is above hi")
        if previous_hi is not None and lo <= previous_hi + 1:
            raise ValueError(f"{what} range {i} [{lo}, {hi}] does not start after the one "
                             f"before it ends ({previous_hi}) with a gap: ranges must be "
                             "sorted, disjoint and not adjacent")
        previous_hi = hi
    raise AssertionError(f"{what} {value!r} was refused but _explain finds nothing wrong")


# -- comparing sets by their bounds ------------------------------------------------------------
#
# A sweep: each set i adds 2**i to a running state where one of its ranges starts and takes it
# away just after it ends. Between two consecutive points where the state changes, every
# integer is in exactly the sets the state's bits say. Sorting the points and summing the
# changes is done by `sorted` and `accumulate`, with a point and its change packed in one int.

_SHIFT = 4  # bits for a change (+-1, +-2, +-4, stored plus 8)


def _sweep(*sets: IntRanges) -> tuple[list[int], list[int]]:
    """The points where membership in any of `sets` changes, ascending, and the state from each
    point up to the next (bit i: `sets[i]` holds those integers); the last state is 0."""
    scale = 1 << _SHIFT
    events: list[Iterable[int]] = []
    for i, s in enumerate(sets):
        weight = 1 << i
        events.append(map((8 + weight).__add__, map(scale.__mul__, s._los)))
        events.append(map((8 - weight).__add__, map(scale.__mul__, map(_SUCC, s._his))))
    ordered = sorted(chain.from_iterable(events))
    points = map(_SHIFT.__rrshift__, ordered)
    states = accumulate(map((-8).__add__, map((scale - 1).__and__, ordered)))
    final = dict(zip(points, states, strict=True))  # the state after every change at a point
    return list(final), list(final.values())


def _select(points: list[int], states: list[int], keep: set[int]) -> IntRanges:
    """The integers whose state (`_sweep`) is in `keep`, as ranges (adjacent runs merged)."""
    chosen = list(map(keep.__contains__, states))
    starts = compress(points, map(gt, chosen, [False, *chosen]))
    ends = compress(islice(points, 1, None), map(gt, chosen, islice(chosen, 1, None)))
    return IntRanges._of(array("q", starts), array("q", map(_PRED, ends)))


def _shared_start(a: IntRanges, b: IntRanges) -> int:
    """How many ranges `a` and `b` share at their start: a bisection on slice equality, which
    arrays compare in C (a node's successive reads mostly differ only at their end)."""
    def shared(k: int) -> bool:
        return a._los[:k] == b._los[:k] and a._his[:k] == b._his[:k]

    lo, hi = 0, min(len(a._los), len(b._los))  # they share lo ranges, and not more than hi
    if shared(hi):
        return hi
    hi -= 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if shared(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _concat(head: IntRanges, tail: IntRanges) -> IntRanges:
    """`head` then `tail`, every range of `tail` above every range of `head` with a gap."""
    if not tail._los:
        return head
    if not head._los:
        return tail
    return IntRanges._of(head._los + tail._los, head._his + tail._his)


def changes(old: IntRanges, new: IntRanges) -> tuple[IntRanges, IntRanges]:
    """(added, removed): what `new` holds and `old` does not, and what `old` holds and `new`
    does not. Costs the ranges after the ones they share at their start, not their elements."""
    start = _shared_start(old, new)
    points, states = _sweep(old._after(start), new._after(start))
    return _select(points, states, {2}), _select(points, states, {1})


@dataclass(frozen=True, slots=True)
class IntRangesDelta:
    """A read as the change since its node's previous read (module docstring): the set is the
    base read's, less `remove`, plus `add`; `count` is its size."""

    base: int  # the `index` of the base read in the history
    add: IntRanges
    remove: IntRanges
    count: int

    @classmethod
    def between(cls, base: int, old: IntRanges, new: IntRanges) -> IntRangesDelta:
        """`new` as a delta against `old`, the set of the read at index `base`."""
        added, removed = changes(old, new)
        return cls(base, added, removed, len(new))

    @classmethod
    def from_json(cls, value: Any) -> IntRangesDelta:
        """From the history's `{"base": ..., "add": ..., "remove": ..., "count": ...}`; raises
        ValueError saying what is wrong. What needs the base's set (whether `add` is new to it,
        `remove` in it, `count` right) is checked by `apply` and `apply_to`."""
        if not isinstance(value, dict):
            raise ValueError(f"an {DELTA_ENCODING} value must be an object with base, add, "
                             f"remove and count, not {type(value).__name__}")
        if value.keys() != _DELTA_KEYS:
            missing = sorted(_DELTA_KEYS - value.keys())
            unknown = sorted(value.keys() - _DELTA_KEYS)
            raise ValueError(f"an {DELTA_ENCODING} value has exactly the fields base, add, "
                             f"remove and count; this one lacks {missing} and has {unknown}")
        base, count = value["base"], value["count"]
        for name, number in (("base", base), ("count", count)):
            if type(number) is not int or number < 0:
                raise ValueError(f"an {DELTA_ENCODING} {name} is an integer from 0, not "
                                 f"{number!r}")
        add = IntRanges.from_json(value["add"], what=f"{DELTA_ENCODING} add")
        remove = IntRanges.from_json(value["remove"], what=f"{DELTA_ENCODING} remove")
        if len(add) > count:
            raise ValueError(f"an {DELTA_ENCODING} that adds {len(add)} elements cannot "
                             f"hold only {count}")
        return cls(base, add, remove, count)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "add": self.add.to_json(), "remove": self.remove.to_json(),
                "count": self.count}

    def apply(self, old: IntRanges) -> IntRanges:
        """The set this delta makes of its base's set `old`; ValueError if it does not apply
        (adds an element `old` holds, removes one it does not, or the count is wrong)."""
        start = min(old._below(self.add), old._below(self.remove))
        points, states = _sweep(old._after(start), self.add, self.remove)
        bad = next(compress(range(len(states)), map(_INVALID.__contains__, states)), None)
        if bad is not None:
            element, state = points[bad], states[bad]
            if state & 1:  # the base holds it: added twice
                raise ValueError(f"its delta adds {element}, which its base (operation "
                                 f"{self.base}) already holds")
            raise ValueError(f"its delta removes {element}, which its base (operation "
                             f"{self.base}) does not hold")
        new = _concat(old._before(start), _select(points, states, {1, 2}))
        self._check_count(len(new))
        return new

    def apply_to(self, held: set[int]) -> tuple[list[int], list[int]]:
        """Apply this delta to `held`, the base's set, in place: (the elements added, the
        elements removed); ValueError, leaving `held` as it was, if it does not apply."""
        added, removed = list(self.add), list(self.remove)
        if not held.isdisjoint(added):
            element = next(filter(held.__contains__, added))
            raise ValueError(f"its delta adds {element}, which its base (operation "
                             f"{self.base}) already holds")
        if not held.issuperset(removed):
            element = next(e for e in removed if e not in held)
            raise ValueError(f"its delta removes {element}, which its base (operation "
                             f"{self.base}) does not hold")
        self._check_count(len(held) + len(added) - len(removed))
        held.difference_update(removed)
        held.update(added)
        return added, removed

    def _check_count(self, size: int) -> None:
        if size != self.count:
            raise ValueError(f"its delta says count {self.count}, but applied to its base "
                             f"(operation {self.base}) it makes {size} elements")


_DELTA_KEYS = {"base", "add", "remove", "count"}
# States of a sweep over (base, add, remove) that make no sense: an added element the base
# holds (bit 2 with bit 1), or a removed one it does not (bit 4 without bit 1).
_INVALID = frozenset({3, 4, 6, 7})


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
