"""Three-valued checker results, as Jepsen's checkers return them.

`valid` is `True`, `False` or the string `"unknown"`. Results combine with
false > unknown > true: one anomaly makes the whole run invalid, and a checker that ran out of
budget, or had nothing to judge, makes it unknown rather than valid. A checker with nothing to
judge must say unknown, never true: a green run that checked nothing is a failure.

A result is a plain JSON-able dict so that it can be written to `results.json` as it is:
`{"checker": NAME, "valid": ..., "headline": [FIELD, ...], ...details}`. Each checker declares
its own `headline`: the few detail fields that tell a person what happened (`lost_count` for
set-full, `ok_fraction` for availability), which `brief` prints on one line, with any `reason`
(why the verdict is unknown). A new checker brings its headline with it; nothing else lists
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

Validity = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

_RANK = {False: 0, UNKNOWN: 1, True: 2}
LIST_LIMIT = 20  # examples a small checker lists in a result; counts are always exact
REASON = "reason"  # the detail that says why a result is unknown: every brief shows it


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


def result(
    checker: str, valid: Validity, *, headline: Sequence[str] = (), **details: Any
) -> dict[str, Any]:
    """Build one checker's result dict.

    `headline` names the detail fields `brief` shows for it (each may be absent from
    `details` when it does not apply, as `failed_keys` of a valid linearizability result).
    """
    if valid not in _RANK:
        raise ValueError(f"validity must be True, False or 'unknown', not {valid!r}")
    if isinstance(headline, str) or not all(isinstance(k, str) for k in headline):
        raise ValueError(f"headline must be a sequence of field names, not {headline!r}")
    return {"checker": checker, "valid": valid, "headline": list(headline), **details}


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


def brief(res: Mapping[str, Any]) -> str:
    """The result's headline fields, `key=value` on one line, for terminal output.

    Fields that are absent, None, zero or empty are left out: `lost_count=0` tells nothing.
    A `reason` (why a verdict is unknown, or was made unknown after the fact, as for a run
    that did not finish) is shown for every result, after the headline.
    """
    keys = [*(res.get("headline") or ()), REASON]
    shown = dict.fromkeys(k for k in keys if res.get(k) not in (None, 0, [], ""))
    return " ".join(f"{k}={res[k]}" for k in shown)
