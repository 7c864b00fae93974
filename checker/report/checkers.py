"""Each checker's section of the page, by the contract in `checker.sections`, and the message
diagram.

For each result in `results.json` (in its order) the page shows a heading (verdict, name, the
`brief` headline) and a body: the fragment of the renderer registered for the result's
`"checker"`, or the generic body: the headline fields as a small table, then the whole result
as JSON in a collapsible block (open unless the result is valid), cut at `DETAILS_CHARS`. A
renderer that raises, or returns something other than a string, gets the generic body with
the error above it: a report shows what it can. So does a `checker` module that cannot be
imported when the report looks for renderers (`discover`): every section is then generic and
the page says why.

The message diagram is `checker.views.messages.message_diagram(ctx)`, drawn from
`messages.jsonl`; until that module exists the page says the diagram is not available.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from checker.report.limits import DETAILS_CHARS, TITLE_CHARS
from checker.report.summary import brief_value, cut
from checker.result import REASON, brief
from checker.sections import SectionContext, discover, renderer_for

ERROR_CHARS = 4000  # characters of a failed section's traceback


@dataclass(frozen=True)
class CheckerSection:
    name: str  # its key in results.json
    checker: str  # its result's "checker": the renderer it was looked up by
    valid: Any
    brief: str
    anchor: str
    body: Markup
    error: str | None  # why the registered section could not be shown


def verdict_word(valid: Any) -> str:
    if valid is True:
        return "valid"
    if valid is False:
        return "INVALID"
    return "unknown"


def verdict_class(valid: Any) -> str:
    """The CSS class of a verdict: valid, invalid or unknown."""
    return verdict_word(valid).lower()


def headline_rows(res: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The fields `checker.result.brief` would show, each as (name, short value)."""
    keys = [*(res.get("headline") or ()), REASON]
    shown = dict.fromkeys(k for k in keys if isinstance(k, str)
                          and res.get(k) not in (None, 0, [], ""))
    return [(k, brief_value(res[k])) for k in shown]


def generic_body(env: Environment, res: Mapping[str, Any]) -> Markup:
    details = cut(json.dumps(res, indent=2, default=str), DETAILS_CHARS, "; see results.json")
    return Markup(env.get_template("generic.html.j2").render(
        headline=headline_rows(res), details=details, is_open=res.get("valid") is not True))


def load_renderers() -> str | None:
    """Import the `checker` package's modules so that their sections register; why not, if
    one cannot be imported."""
    try:
        discover()
    except Exception as e:  # a broken module must not cost the page: generic sections
        return f"{type(e).__name__}: {e}"
    return None


def checker_sections(
    env: Environment, results: Mapping[str, Any], ctx: SectionContext
) -> list[CheckerSection]:
    """A section per result in `results["results"]`, in order."""
    out = []
    named = results.get("results")
    for i, (name, res) in enumerate((named if isinstance(named, dict) else {}).items()):
        if not isinstance(res, Mapping):
            res = {"checker": str(name), "valid": "unknown", "result": res}
        checker = str(res.get("checker", name))
        body: Markup | None = None
        error = None
        render = renderer_for(checker)
        if render is not None:
            try:
                fragment = render(res, ctx)
                if not isinstance(fragment, str):
                    raise TypeError(f"the section returned {type(fragment).__name__}, not str")
                body = Markup(fragment)
            except Exception as e:  # the renderer's bug: the generic section and the error
                error = cut("".join(traceback.format_exception(e)), ERROR_CHARS)
        if body is None:
            body = generic_body(env, res)
        anchor = f"checker-{i}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", str(name))[:40]
        out.append(CheckerSection(cut(str(name), TITLE_CHARS), checker, res.get("valid"),
                                  cut(brief(res), TITLE_CHARS), anchor, body, error))
    return out


def message_diagram(ctx: SectionContext) -> tuple[Markup | None, str | None]:
    """The message diagram's markup, or why there is none."""
    from checker.views.messages import message_diagram as draw

    try:
        fragment = draw(ctx)
        if not isinstance(fragment, str):
            raise TypeError(f"message_diagram returned {type(fragment).__name__}, not str")
        return Markup(fragment), None
    except Exception as e:  # its bug must not cost the page
        return None, "the message diagram failed: " + cut(
            "".join(traceback.format_exception(e)), ERROR_CHARS)
