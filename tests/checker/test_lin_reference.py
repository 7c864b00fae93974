"""Porcupine's recorded histories get Porcupine's verdicts (Porcupine semantics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.formats import load
from checker.linearizability import check
from checker.models import make

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PORCUPINE = SHARED / "data" / "porcupine"
LOCAL = Path(__file__).resolve().parent / "data"


def _manifest(folder: Path) -> list[tuple[str, bool]]:
    path = folder / "verdicts.json"
    if not path.exists():
        return [("MISSING", False)]
    return sorted(json.loads(path.read_text()).items())


def _check(path: Path) -> dict:
    loaded = load(path)
    assert loaded.default_model is not None
    model = make(loaded.default_model, loaded.default_init)
    return check(loaded.ops, model, semantics=loaded.semantics, time_limit_s=30, explain=False)


@pytest.mark.parametrize(("name", "expected"), _manifest(PORCUPINE))
def test_porcupine_reference_verdicts(name: str, expected: bool) -> None:
    assert name != "MISSING", (
        f"{PORCUPINE}/verdicts.json is missing: the checker's reference histories live in "
        "../shared/data/porcupine beside the clone; put them there"
    )
    assert _check(PORCUPINE / name)["valid"] is expected


@pytest.mark.parametrize(("name", "expected"), _manifest(LOCAL))
def test_local_copies_get_their_verdicts(name: str, expected: bool) -> None:
    result = _check(LOCAL / name)
    assert result["valid"] is expected
    assert result["op_count"] > 0


def test_porcupine_semantics_differ_from_knossos_on_failed_cas() -> None:
    # etcd_000 read 2 near the end is what no linearization allows; under Knossos semantics the
    # failed cas operations are dropped, so fewer constraints remain: the verdict can only stay
    # invalid or become valid, never the reverse. Check that the semantics switch is real.
    loaded = load(LOCAL / "etcd_000.log")
    model = make("cas-register")
    porcupine = check(loaded.ops, model, semantics="porcupine")
    knossos = check(loaded.ops, model, semantics="knossos")
    assert porcupine["op_count"] > knossos["op_count"]  # failed cas ops count under porcupine
    assert porcupine["valid"] is False
