"""Three-valued checker results, as Jepsen's checkers return them.

`valid` is `True`, `False` or the string `"unknown"`. Results combine with
false > unknown > true: one anomaly makes the whole run invalid, and a checker that ran out of
budget, or had nothing to judge, makes it unknown rather than valid. A checker with nothing to
judge must say unknown, never true: a green run that checked nothing is a failure.

A result is a plain JSON-able dict so that it can be written to `results.json` as it is:
`{"valid": ..., "checker": NAME, ...details}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

Validity = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

_RANK = {False: 0, UNKNOWN: 1, True: 2}


def merge_valid(values: Iterable[Validity]) -> Validity:
    """Combine validities: any false is false, else any unknown is unknown, else true.

    An empty iterable is unknown: nothing was judged.
    """
    worst: Validity | None = None
    for value in values:
        if value not in _RANK:
            raise ValueError(f"validity must be True, False or 'unknown', not {value!r}")
        if worst is None or _RANK[value] < _RANK[worst]:
            worst = value
    return UNKNOWN if worst is None else worst


def result(checker: str, valid: Validity, **details: Any) -> dict[str, Any]:
    """Build one checker's result dict."""
    if valid not in _RANK:
        raise ValueError(f"validity must be True, False or 'unknown', not {valid!r}")
    return {"checker": checker, "valid": valid, **details}


def compose(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Combine named results into one, as Jepsen's `compose` checker does."""
    return {
        "valid": merge_valid(r["valid"] for r in results.values()),
        "results": {name: dict(r) for name, r in results.items()},
    }


def exit_code(valid: Validity) -> int:
    """The command-line exit code for a verdict (DESIGN.md): 0 valid, 1 invalid, 3 unknown."""
    if valid is True:
        return 0
    if valid is False:
        return 1
    return 3


_BRIEF_KEYS = ("lost_count", "unexpected_count", "stale_count", "duplicated_count",
               "mismatched_count", "malformed_count", "nodes_missing", "ok_fraction", "reason")


def brief(res: Mapping[str, Any]) -> str:
    """A few telling fields of one result, `key=value` on one line, for terminal output."""
    parts = [f"{k}={res[k]}" for k in _BRIEF_KEYS if res.get(k) not in (None, 0, [], "")]
    return " ".join(parts)
