"""`chaos check`: judge stored histories (linearizability, or a run's own checkers).

    chaos check RUN_DIR|FILE... [--model M] [--format F] [--init V] [--time-limit S] [--json]
    python -m checker RUN_DIR|FILE...          (the same command, without the chaos group)

Each argument is a history file, or a run directory meaning `RUN_DIR/history.jsonl`. All are
checked in one process; the output is one line per file (with an explanation under an invalid
one) and a summary, or with `--json` one JSON object `{"valid": ..., "files": {path: result}}`.

A run directory (or a history beside its `run.json`) checked with neither `--model` nor
`--init` is judged exactly as `chaos run` judged it: by its workload's checkers (set-full for
broadcast, linearizability per key for lin-kv, ...), composed into one verdict.

Otherwise the history is checked for linearizability against a model, chosen, first match
wins: `--model`; the format's own (Porcupine's etcd logs
are a cas-register starting at nil, its kv logs a kv store of strings starting empty); the run's
`run.json` "workload" next to the history (`lin-kv` and `quorum-kv`: kv, a cas-register per
key, absent at start); otherwise it is a usage error that says to pass `--model`.
`--init` is the initial value (per key for kv), read as JSON and else taken as a string.
(For lin-kv, `chaos run`'s judgement treats a read answered "key does not exist" as an
observation that the key was absent; `--model kv` uses plain Knossos semantics instead.)

Exit codes (DESIGN.md): 0 every file valid, 1 any invalid, 3 any unknown (budget ran out, or
nothing to judge), 2 usage error: a bad option, or a file that cannot be read or parsed, named
with its line and what to do. Usage errors win over verdicts.

Imports stay lazy: `chaos` imports this module at start-up, and whole-process time is measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

MODEL_NAMES = ("register", "cas-register", "kv", "mutex", "fifo-queue", "set")
FORMAT_NAMES = ("jsonl", "json", "edn", "porcupine-etcd", "porcupine-kv")
WORKLOAD_MODELS = {"lin-kv": "kv", "quorum-kv": "kv"}


class UsageProblem(Exception):
    """A file or option the user must fix; the message is the one line to show."""


def history_path(arg: str) -> Path:
    path = Path(arg)
    if path.is_dir():
        history = path / "history.jsonl"
        if not history.exists():
            raise UsageProblem(
                f"{path}: a directory without history.jsonl; pass a run directory or a file"
            )
        return history
    return path


def run_info(history: Path) -> dict[str, Any] | None:
    """The run.json of the run that wrote `history`, if there is one."""
    run_json = history.parent / "run.json"
    if not run_json.exists():
        return None
    try:
        info = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageProblem(f"{run_json}: cannot read it ({e}); pass --model instead") from None
    if not isinstance(info, dict):
        raise UsageProblem(f"{run_json}: expected a JSON object; pass --model instead")
    return info


def run_workload(history: Path) -> Any:
    """run.json's "workload" for the run that wrote `history`, if there is a run.json."""
    info = run_info(history)
    return None if info is None else info.get("workload")


def check_as_run(history: Path, ops: list[Any], info: dict[str, Any]) -> dict[str, Any]:
    """Judge a run's history with its workload's checkers, exactly as `chaos run` did.

    The workloads live in `scenarios.workloads` (pure, like this package); the import is
    here, in the command's shell, so the checker core does not depend on them.
    """
    from checker.basic import faults_effective
    from checker.result import compose
    from scenarios.workloads import get_workload

    try:
        workload = get_workload(info["workload"], **dict(info.get("workload_params") or {}))
        checked = workload.check(ops, node_ids=list(info.get("nodes") or []))
    except (KeyError, TypeError, ValueError) as e:
        raise UsageProblem(
            f"{history.parent / 'run.json'}: cannot rebuild the run's workload ({e}); "
            "pass --model to check linearizability against a model instead"
        ) from None
    named = dict(checked["results"])
    # The fault guard needs the proxy's counters, which only the run's results.json keeps.
    results_json = history.parent / "results.json"
    if results_json.exists():
        try:
            proxy_stats = json.loads(results_json.read_text(encoding="utf-8")).get("proxy")
        except (OSError, ValueError, AttributeError):
            proxy_stats = None
        if isinstance(proxy_stats, dict):
            named["faults"] = faults_effective(ops, proxy_stats)
    return compose(named)


def workload_model(history: Path) -> str | None:
    """The model for the run that wrote `history`, from run.json's "workload", if any."""
    run_json = history.parent / "run.json"
    workload = run_workload(history)
    if workload is None:
        return None
    if workload not in WORKLOAD_MODELS:
        raise UsageProblem(
            f"{run_json}: workload {workload!r} is not judged by linearizability; pass --model "
            "to check it against a model anyway"
        )
    return WORKLOAD_MODELS[workload]


def parse_init(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_file(
    arg: str,
    *,
    model_name: str | None,
    fmt: str | None,
    init_text: str | None,
    time_limit_s: float | None,
) -> dict[str, Any]:
    """Load and check one history; raises `UsageProblem` with the line to show."""
    from checker.formats import load
    from checker.history import HistoryError
    from checker.linearizability import check as check_history
    from checker.models import ModelError, make

    path = history_path(arg)
    try:
        loaded = load(path, fmt)
    except HistoryError as e:
        raise UsageProblem(str(e)) from None
    info = run_info(path)
    if (
        info is not None
        and info.get("workload")
        and model_name is None
        and loaded.default_model is None
        and init_text is None
    ):
        return check_as_run(path, loaded.ops, info)
    name = model_name or loaded.default_model or workload_model(path)
    if not loaded.ops:
        from checker.result import UNKNOWN, result

        return result(
            "linearizability",
            UNKNOWN,
            model=name,
            op_count=0,
            key_count=0,
            unknown={"reason": "nothing to judge: the history is empty"},
        )
    if name is None:
        raise UsageProblem(
            f"{path}: no model for this history; pass --model with one of "
            f"{', '.join(MODEL_NAMES)} (a run directory's run.json workload picks one)"
        )
    init = parse_init(init_text) if init_text is not None else loaded.default_init
    try:
        return check_history(
            loaded.ops, make(name, init), time_limit_s=time_limit_s, semantics=loaded.semantics
        )
    except (HistoryError, ModelError) as e:
        raise UsageProblem(f"{path}: {e}") from None


@click.command(name="check")
@click.argument("paths", nargs=-1, required=True, metavar="RUN_DIR|FILE...")
@click.option(
    "--model",
    "model_name",
    type=click.Choice(MODEL_NAMES),
    default=None,
    help="Sequential model (default: from the format or the run's workload).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_NAMES),
    default=None,
    help="History format (default: detected from the file).",
)
@click.option(
    "--init",
    "init_text",
    default=None,
    metavar="V",
    help="Initial value, as JSON (else a string); per key for kv.",
)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Search budget per file, in seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def check(
    paths: tuple[str, ...],
    model_name: str | None,
    fmt: str | None,
    init_text: str | None,
    time_limit_s: float,
    as_json: bool,
) -> None:
    """Judge histories: a run directory by its own checkers, any history for linearizability.

    Exit 0 all valid, 1 any invalid, 3 any unknown, 2 usage error.
    """
    from checker.result import exit_code, merge_valid

    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    out: list[str] = []
    for arg in paths:
        try:
            res = check_file(
                arg, model_name=model_name, fmt=fmt, init_text=init_text, time_limit_s=time_limit_s
            )
        except UsageProblem as e:
            errors[arg] = str(e)
            click.echo(f"error: {e}", err=True)
            continue
        results[arg] = res
        if not as_json:
            out.append(_line(arg, res))
    valid = merge_valid(r["valid"] for r in results.values())
    if as_json:
        doc = {"valid": valid, "files": results}
        if errors:
            doc["errors"] = errors
        click.echo(json.dumps(doc, indent=1, default=str))
    else:
        counts = {
            k: sum(1 for r in results.values() if r["valid"] == k) for k in (True, False, "unknown")
        }
        out.append(
            f"{len(paths)} file(s): {counts[True]} valid, {counts[False]} invalid, "
            f"{counts['unknown']} unknown" + (f", {len(errors)} unreadable" if errors else "")
        )
        click.echo("\n".join(out))
    sys.exit(2 if errors else exit_code(valid))


def _line(arg: str, res: dict[str, Any]) -> str:
    from checker.explain import render
    from checker.result import brief

    if "results" in res and "checker" not in res:  # a run's composed verdict
        word = {True: "valid  ", False: "INVALID"}.get(res["valid"], "unknown")
        lines = [f"{word} {arg}"]
        for name, sub in res["results"].items():
            sub_word = {True: "valid", False: "INVALID"}.get(sub.get("valid"), "unknown")
            details = brief(sub) if sub.get("valid") is not True else ""
            lines.append(f"  {name}: {sub_word}" + (f"  {details}" if details else ""))
            if sub.get("checker") == "linearizability" and sub.get("valid") is not True:
                lines.extend("    " + line for line in render(sub).split("\n")[1:])
        return "\n".join(lines)

    text = render(res).split("\n")
    word = {True: "valid  ", False: "INVALID"}.get(res["valid"], "unknown")
    rest = text[0].split(" (", 1)[1] if " (" in text[0] else ""
    return "\n".join([f"{word} {arg} ({rest}", *text[1:]])
