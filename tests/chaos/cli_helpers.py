"""What the `chaos run` option tests share: a RunConfig from options, and from a reproduce
command (as `chaos run` would parse it)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from chaos.cli import UsageProblem, build_config
from chaos.cli import run as run_command


def run_config(store: Path, scenario: str, **options: Any) -> Any:
    """`build_config` with every option unset but seed 7 and those given."""
    values: dict[str, Any] = {"seed": 7, "time_limit_s": None, "nodes": None, "workload": None,
                              "service": None, "node_cmd": None, "bug": None, "rate": None,
                              "concurrency": None}
    values.update(options)
    return build_config(scenario, store=store, **values)


def reproduced(store: Path, command: str) -> Any:
    """The config `chaos run` builds from a reproduce command's options."""
    args = shlex.split(command)[2:]  # past `chaos run`
    params = dict(run_command.make_context("run", args).params)
    params.pop("as_json")
    params["store"] = store
    return build_config(params.pop("scenario"), **params)


def refusal(make: Any, store: Path, **options: Any) -> str:
    """The one line `make(store, **options)` (a test's `config`) is refused with (exit 2)."""
    with pytest.raises(UsageProblem) as info:
        make(store, **options)
    text: str = info.value.format_message()
    assert "\n" not in text, text
    return text
