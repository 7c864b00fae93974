"""What the tests of the report sections (checker/views) share.

The helpers (`context`, `svgs`, `marks`, `words`) build a `SectionContext` from literal
data and read a section's markup back: every SVG a section draws is well-formed XML, so the
geometry is checked on parsed elements, not on strings.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from checker.history import Op
from checker.sections import FaultWindow, SectionContext

SVG_NS = "{http://www.w3.org/2000/svg}"


def context(
    ops: Iterable[Op] = (),
    *,
    faults: Sequence[FaultWindow] = (),
    results: dict[str, Any] | None = None,
    run_dir: Path | None = None,
    end_ns: int | None = None,
) -> SectionContext:
    history = list(ops)
    end = end_ns if end_ns is not None else max([1, *(op.time for op in history)])
    return SectionContext(run_dir, {}, results or {}, tuple(faults), end, lambda: iter(history))


def svgs(fragment: str) -> list[ET.Element]:
    """Every top-level SVG of a fragment, parsed (so: well-formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", fragment, re.S)]


def marks(svg: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    """The `tag` elements of `svg` whose class list holds `cls`."""
    return [
        e for e in svg.iter(SVG_NS + tag)
        if cls is None or cls in (e.get("class") or "").split()
    ]  # fmt: skip


def words(fragment: str) -> str:
    """The fragment's text as a reader sees it (no tags, no SVG, entities decoded, spaces
    collapsed)."""
    text = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", fragment, flags=re.S)
    text = re.sub(r"</?(b|i|code|span)\b[^>]*>", "", text)  # inline: no space
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()
