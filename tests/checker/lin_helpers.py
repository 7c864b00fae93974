"""Helpers for the checker tests: write histories as short literal lists."""

from __future__ import annotations

from typing import Any

from checker.history import Op


def history(*events: tuple[Any, ...]) -> list[Op]:
    """Build a history from `(process, type, f, value)` tuples, in order; time is the index."""
    return [
        Op(type=t, process=p, f=f, value=v, time=i, index=i)
        for i, (p, t, f, v) in enumerate(events)
    ]


def inv(p: Any, f: str, v: Any = None) -> tuple[Any, ...]:
    return (p, "invoke", f, v)


def ok(p: Any, f: str, v: Any = None) -> tuple[Any, ...]:
    return (p, "ok", f, v)


def fail(p: Any, f: str, v: Any = None) -> tuple[Any, ...]:
    return (p, "fail", f, v)


def info(p: Any, f: str, v: Any = None) -> tuple[Any, ...]:
    return (p, "info", f, v)
