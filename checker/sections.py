"""How a checker renders itself in `report.html`: the contract between checkers and the report.

    @section("linearizability")
    def render_linearizability(result: Mapping[str, Any], ctx: SectionContext) -> str:
        return "<p>...</p>"          # an HTML fragment; escape everything from the run

A checker's result (`checker.result.result`) carries its name in `"checker"`. The report
builds one section per result: the renderer registered for that name when there is one, a
generic section (headline fields and the details) otherwise. So a new mechanism's checker brings
its own section by registering a renderer in one of the `checker` package's modules, and the
report, which imports every module of the package once (`discover`), never has to be touched.

A renderer gets the run's context, `SectionContext`: the run directory, `run.json`,
`results.json`, the fault windows, the history's time span, and `iter_ops()`, which reads the
history again from the start each time it is called (a history may be larger than memory
allows to keep whole twice; a renderer takes what it needs, e.g. the operations on one key). It
returns markup: self-contained HTML, inline SVG and, if it must, an inline `<script>` (no
network, no external file), with every value from the run escaped. A renderer that raises is
caught by the report, which shows the generic section and the error instead: a report shows
what it can.

Pure: no trio, no zmq, no processes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.fault_kinds import FaultWindow, fault_windows
from checker.history import Op

__all__ = [
    "FaultWindow",
    "SectionContext",
    "SectionRenderer",
    "discover",
    "fault_windows",
    "renderer_for",
    "section",
]


@dataclass(frozen=True)
class SectionContext:
    """What a section may read about the run. Times are the history's: ns since the run
    started; `end_ns` is the last operation's time (at least 1)."""

    run_dir: Path | None
    run_info: Mapping[str, Any]
    results: Mapping[str, Any]
    faults: Sequence[FaultWindow]
    end_ns: int
    iter_ops: Callable[[], Iterator[Op]]


SectionRenderer = Callable[[Mapping[str, Any], SectionContext], str]

_RENDERERS: dict[str, SectionRenderer] = {}


def section(checker: str) -> Callable[[SectionRenderer], SectionRenderer]:
    """Register the decorated function as the report section of the checker named `checker`
    (its results' `"checker"` field). One renderer per name: a second is a programming error."""

    def register(render: SectionRenderer) -> SectionRenderer:
        existing = _RENDERERS.get(checker)
        if existing is not None and existing is not render:
            raise ValueError(f"checker {checker!r} already has a report section: {existing!r}")
        _RENDERERS[checker] = render
        return render

    return register


def renderer_for(checker: str) -> SectionRenderer | None:
    """The registered section of `checker`, after `discover()`; None for the generic one."""
    return _RENDERERS.get(checker)


_discovered = False


def discover() -> None:
    """Import every module of the `checker` package once, so that their `@section`s register."""
    global _discovered
    if _discovered:
        return
    import checker

    for info in pkgutil.walk_packages(checker.__path__, prefix="checker."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    _discovered = True
