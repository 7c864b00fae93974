"""`chaos check`: judge stored histories (linearizability, or a run's own checkers).

    chaos check RUN_DIR|FILE... [--model M] [--format F] [--init V] [--time-limit S] [--json]
    python -m checker FILE...          (the same command, without the chaos group's hooks)

Each argument is a history file, or a run directory meaning `RUN_DIR/history.jsonl`. All are
checked in one process; the output is one line per file (with an explanation under an invalid
one) and a summary, or with `--json` one JSON object `{"valid": ..., "files": {path: result}}`.

A run directory (or a history beside its `run.json`) checked with neither `--model` nor
`--init` is judged exactly as `chaos run` judged it: by its workload's checkers (set-full for
broadcast, linearizability per key for lin-kv, ...), composed into one verdict.

`--model counter` and `--model set-full` judge any history (ours, or one recorded by Jepsen,
EDN or JSON) with those checkers instead of linearizability, as elle-cli's models of the same
names do: `checker.counter` (every read between the acknowledged adds completed before it began
and every add that might have happened by its end, decrements counted the other way; final
reads, `:final? true`, also agree and lie in the final window) and `checker.setfull` (`:add`
of an element, `:read` of the whole set). Both take `:f :add` and `:f :read`; `--init` does
not apply to them. Without reads the verdict is unknown (elle-cli says valid).
`--model total-queue` judges a queue history (`:f :enqueue`, `:dequeue`, `:drain`) with
Jepsen's total-queue checker (`checker.total_queue`: every acknowledged enqueue dequeued,
nothing dequeued that was never enqueued); `--model fifo-queue` checks the same histories for
linearizability against a FIFO queue.
`--model list-append` and `--model rw-register` judge transactional histories (`:f :txn`,
values `[[:append k v] [:r k [v...]]]` or `[[:w k v] [:r k v]]`) as Elle does
(`checker.elle`): anomalies, dependency cycles, and the consistency models they rule out;
`--consistency-models M,...` names the models the history must satisfy (default
strict-serializable; Elle's names, `checker.elle.models`), and applies to these two only.
`--model bank` and `--model long-fork` are Jepsen's checkers of those names (`checker.bank`:
every read of all accounts sums to the total of the first read, no negative balance;
`checker.long_fork`: no two reads see two writes in opposite orders).
`--model kafka`, `--model broadcast` and `--model unique-ids` judge the histories Maelstrom
records for those workloads (its `history.edn`, or the same as JSON) as Maelstrom does:
`checker.kafka_jepsen` (Jepsen's kafka analysis, `checker.kafka`, of `:f :send`, `:poll`,
`:assign` and `:crash` operations, `[[:send k v]]` and `[[:poll]]`; transactional histories
are refused), `checker.maelstrom.broadcast` (set-full with `:f :broadcast` as the add, and no
final-read rule) and `checker.maelstrom.unique_ids` (no id acknowledged twice).

Otherwise the history is checked for linearizability against a model, chosen, first match
wins: `--model` (one of `checker.models.MODEL_NAMES`); the format's own (Porcupine's etcd logs
are a cas-register starting at nil, its kv logs a kv store of strings starting empty); the
model the run's `run.json` "workload" declares (lin-kv: kv, a cas-register per key, absent at
start); otherwise it is a usage error that says to pass `--model`.
`--init` is the initial value (per key for kv), read as JSON and else taken as a string.
(For lin-kv, `chaos run`'s judgement treats a read answered "key does not exist" as an
observation that the key was absent; `--model kv` uses plain Knossos semantics instead.)

Knowing workloads is not this package's business (checker/ imports nothing of scenarios/), so
the command takes two hooks, which `chaos` passes and `python -m checker` does not:

    make_check_command(judge_run=..., model_for_workload=...)

- `judge_run(history_path, ops, run_info) -> dict`: the composed result of judging a run
  directory as `chaos run` did (`run_info` is its run.json), fault guard included. For a run
  it cannot rebuild it raises `ValueError` whose message is the one line to show (naming the
  file and what to do); a `KeyError` or `TypeError` is reported as such a line too.
- `model_for_workload(workload) -> str | None`: the model name a workload's histories are
  checked against, None when that workload is not judged by linearizability.

Without them, a run directory checked without `--model` is a usage error that says to judge it
with `chaos check`, or to pass `--model`.

Exit codes (DESIGN.md): 0 every file valid, 1 any invalid, 3 any unknown (budget ran out, or
nothing to judge), 2 usage error: a bad option, or a file that cannot be read or parsed, named
with its line and what to do; any line, the last one too (a file of one garbage line is a
format error, not an empty history). Usage errors win over verdicts.

One exception, ours: a `history.jsonl` whose last line was cut short by a run that stopped
mid-write (`checker.history`, "A torn last line") is checked without that line, and a warning
naming the file and the line goes to stderr (with `--json`, the file's `"warnings"` too).

Imports stay lazy: `chaos` imports this module at start-up, and whole-process time is measured.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from checker.formats import Loaded

JudgeRun = Callable[[Path, list[Any], dict[str, Any]], dict[str, Any]]
ModelForWorkload = Callable[[str], str | None]

NO_RUN_JUDGE = "judge a run directory with `chaos check`, or pass --model"


class _RegistryChoice(click.Choice):
    """A `click.Choice` whose names are read from a registry when first needed (click reads
    `choices` only to validate, complete and print help), so importing this module, which
    `chaos` does at start-up, imports neither the models nor the formats."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        # click.Choice.__init__ would read the names now: set what it sets, lazily.
        self._load = load
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[Any, ...]:  # type: ignore[override]
        return tuple(self._load())


# Models that are checkers of their own rather than sequential specifications for the
# linearizability search (module docstring): elle-cli's names, `:f :add` and `:f :read`,
# Jepsen's total-queue, `:f :enqueue` and `:f :dequeue`, and Maelstrom's workloads' checkers.
HISTORY_MODELS = (
    "counter", "set-full", "total-queue", "list-append", "rw-register", "bank", "long-fork",
    "kafka", "broadcast", "unique-ids",
)
# The history models judged under consistency models (`--consistency-models`): Elle's.
TXN_MODELS = ("list-append", "rw-register")


def _model_names() -> Sequence[str]:
    from checker.models import MODEL_NAMES

    return (*MODEL_NAMES, *(m for m in HISTORY_MODELS if m not in MODEL_NAMES))


def judge_history_model(
    name: str, ops: list[Any], *, consistency_models: Sequence[str] | None = None
) -> dict[str, Any]:
    """Judge `ops` with the checker a history model names (`HISTORY_MODELS`);
    `consistency_models` is for the `TXN_MODELS`."""
    if name in TXN_MODELS:
        from checker.elle import list_append, rw_register

        judge = list_append.check if name == "list-append" else rw_register.check
        return judge(ops, consistency_models=consistency_models)
    if name == "bank":
        from checker.bank import bank

        return bank(ops)
    if name == "long-fork":
        from checker.long_fork import long_fork

        return long_fork(ops)
    if name == "counter":
        from checker.counter import counter

        return counter(ops, add_f="add", read_f="read")
    if name == "total-queue":
        from checker.total_queue import total_queue

        return total_queue(ops)
    if name == "kafka":
        from checker.kafka_jepsen import kafka_jepsen

        return kafka_jepsen(ops)
    if name == "broadcast":
        from checker.maelstrom import broadcast

        return broadcast(ops)
    if name == "unique-ids":
        from checker.maelstrom import unique_ids

        return unique_ids(ops)
    assert name == "set-full", name
    from checker.setfull import set_full

    return set_full(ops, add_f="add", read_f="read")


def _format_names() -> Sequence[str]:
    from checker.formats import FORMATS

    return FORMATS




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


def judge_as_run(
    history: Path, ops: list[Any], info: dict[str, Any], judge_run: JudgeRun | None
) -> dict[str, Any]:
    """Judge a run's history with its workload's checkers, through the `judge_run` hook."""
    if judge_run is None:
        raise UsageProblem(f"{history.parent}: {NO_RUN_JUDGE}")
    try:
        return judge_run(history, ops, info)
    except ValueError as e:  # the hook's own line, naming the file and what to do
        raise UsageProblem(str(e)) from None
    except (KeyError, TypeError) as e:
        raise UsageProblem(
            f"{history.parent / 'run.json'}: cannot rebuild the run's workload ({e!r}); "
            "pass --model to check linearizability against a model instead"
        ) from None


def workload_model(
    history: Path, info: dict[str, Any] | None, model_for_workload: ModelForWorkload | None
) -> str | None:
    """The model for the run that wrote `history`, from run.json's "workload", if any."""
    workload = None if info is None else info.get("workload")
    if workload is None:
        return None
    if model_for_workload is None:
        raise UsageProblem(f"{history.parent}: {NO_RUN_JUDGE}")
    name = model_for_workload(str(workload))
    if name is None:
        raise UsageProblem(
            f"{history.parent / 'run.json'}: workload {workload!r} is not judged by "
            "linearizability; pass --model to check it against a model anyway"
        )
    return name


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
    judge_run: JudgeRun | None = None,
    model_for_workload: ModelForWorkload | None = None,
    consistency_models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Load and check one history; raises `UsageProblem` with the line to show."""
    from checker.formats import load
    from checker.history import HistoryError

    path = history_path(arg)
    try:
        loaded = load(path, fmt)
    except HistoryError as e:
        raise UsageProblem(str(e)) from None
    res = _check_loaded(
        path,
        loaded,
        model_name=model_name,
        init_text=init_text,
        time_limit_s=time_limit_s,
        judge_run=judge_run,
        model_for_workload=model_for_workload,
        consistency_models=consistency_models,
    )
    if loaded.warnings:
        res = {**res, "warnings": list(loaded.warnings)}
    return res


def _check_loaded(
    path: Path,
    loaded: Loaded,
    *,
    model_name: str | None,
    init_text: str | None,
    time_limit_s: float | None,
    judge_run: JudgeRun | None,
    model_for_workload: ModelForWorkload | None,
    consistency_models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Judge one loaded history (`checker.formats.Loaded`) as `check_file` says."""
    from checker.history import HistoryError
    from checker.linearizability import HEADLINE
    from checker.linearizability import check as check_history
    from checker.models import ModelError, make

    info = run_info(path)
    if (
        info is not None
        and info.get("workload")
        and model_name is None
        and loaded.default_model is None
        and init_text is None
    ):
        return judge_as_run(path, loaded.ops, info, judge_run)
    if model_name in HISTORY_MODELS:
        if init_text is not None:
            raise UsageProblem(f"--init does not apply to --model {model_name}; leave it out")
        try:
            return judge_history_model(
                model_name, loaded.ops, consistency_models=consistency_models
            )
        except HistoryError as e:
            raise UsageProblem(f"{path}: {e}") from None
    name = model_name or loaded.default_model or workload_model(path, info, model_for_workload)
    if not loaded.ops:
        from checker.result import UNKNOWN, result

        return result(
            "linearizability",
            UNKNOWN,
            headline=HEADLINE,
            model=name,
            op_count=0,
            key_count=0,
            unknown={"reason": "nothing to judge: the history is empty"},
        )
    if name is None:
        raise UsageProblem(
            f"{path}: no model for this history; pass --model with one of "
            f"{', '.join(_model_names())} (a run directory's run.json workload picks one)"
        )
    init = parse_init(init_text) if init_text is not None else loaded.default_init
    try:
        return check_history(
            loaded.ops, make(name, init), time_limit_s=time_limit_s, semantics=loaded.semantics
        )
    except (HistoryError, ModelError) as e:
        raise UsageProblem(f"{path}: {e}") from None


def make_check_command(
    *,
    judge_run: JudgeRun | None = None,
    model_for_workload: ModelForWorkload | None = None,
) -> click.Command:
    """The `check` command, judging run directories through the given hooks (module doc)."""

    @click.command(name="check")
    @click.argument("paths", nargs=-1, required=True, metavar="RUN_DIR|FILE...")
    @click.option(
        "--model",
        "model_name",
        type=_RegistryChoice(_model_names),
        default=None,
        help="Sequential model (default: from the format or the run's workload), or "
        "counter / set-full / total-queue / list-append / rw-register / bank / long-fork to "
        "judge with those checkers, as Jepsen does, or kafka / broadcast / unique-ids to judge "
        "a Maelstrom workload's history as Maelstrom does.",
    )
    @click.option(
        "--format",
        "fmt",
        type=_RegistryChoice(_format_names),
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
    @click.option(
        "--consistency-models",
        "consistency_text",
        default=None,
        metavar="M,...",
        help="With --model list-append or rw-register: the consistency models the history "
        "must satisfy, as Elle names them (default strict-serializable).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
    def check(
        paths: tuple[str, ...],
        model_name: str | None,
        fmt: str | None,
        init_text: str | None,
        time_limit_s: float,
        consistency_text: str | None,
        as_json: bool,
    ) -> None:
        """Judge histories: a run directory by its own checkers, any history for linearizability.

        Exit 0 all valid, 1 any invalid, 3 any unknown, 2 usage error.
        """
        from checker.result import exit_code, merge_valid

        consistency_models = _consistency_models(consistency_text, model_name)
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        out: list[str] = []
        for arg in paths:
            try:
                res = check_file(
                    arg,
                    model_name=model_name,
                    fmt=fmt,
                    init_text=init_text,
                    time_limit_s=time_limit_s,
                    judge_run=judge_run,
                    model_for_workload=model_for_workload,
                    consistency_models=consistency_models,
                )
            except UsageProblem as e:
                errors[arg] = str(e)
                click.echo(f"error: {e}", err=True)
                continue
            results[arg] = res
            for warning in res.get("warnings", ()):
                click.echo(f"warning: {warning}", err=True)
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
                k: sum(1 for r in results.values() if r["valid"] == k)
                for k in (True, False, "unknown")
            }
            out.append(
                f"{len(paths)} file(s): {counts[True]} valid, {counts[False]} invalid, "
                f"{counts['unknown']} unknown" + (f", {len(errors)} unreadable" if errors else "")
            )
            click.echo("\n".join(out))
        sys.exit(2 if errors else exit_code(valid))

    return check


check = make_check_command()  # `python -m checker`: no workloads, so no run-directory judging


def _consistency_models(text: str | None, model_name: str | None) -> list[str] | None:
    """The `--consistency-models` list, or exit 2 with one line when it does not apply or
    names an unknown model."""
    if text is None:
        return None
    if model_name not in TXN_MODELS:
        click.echo(
            "error: --consistency-models applies to --model list-append or rw-register only; "
            "leave it out or pass one of those",
            err=True,
        )
        sys.exit(2)
    from checker.elle.models import ModelError, canonical

    names = [m.strip() for m in text.split(",") if m.strip()]
    try:
        return [canonical(m) for m in names] or None
    except ModelError as e:
        click.echo(f"error: --consistency-models: {e}", err=True)
        sys.exit(2)


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

    word = {True: "valid  ", False: "INVALID"}.get(res["valid"], "unknown")
    if res.get("checker") not in (None, "linearizability"):  # --model counter, set-full, ...
        details = brief(res)
        lines = [f"{word} {arg} ({res['checker']}" + (f": {details})" if details else ")")]
        lines.extend(f"  {v['text']}" for v in res.get("violations", ())[:3])
        if res.get("checker") == "kafka":
            lines.extend(_kafka_lines(res))
        elif res.get("lost"):
            lines.append(f"  lost: {res['lost'][:10]}")
        return "\n".join(lines)
    text = render(res).split("\n")
    rest = text[0].split(" (", 1)[1] if " (" in text[0] else ""
    return "\n".join([f"{word} {arg} ({rest}", *text[1:]])


def _kafka_lines(res: dict[str, Any]) -> list[str]:
    """Each anomaly a kafka result names (Jepsen's words), with its count and the history
    indexes of the operations its first case quotes."""
    from checker.kafka import ANOMALIES
    from checker.results_schema import counterexamples

    lines = []
    for name in res.get("error_types", ()):
        prefix = ANOMALIES[name]
        cases = res.get(prefix) or [{}]
        case = cases[0]
        ops = counterexamples({name: {"valid": False, "case": case}})[0]["operations"]
        where = f"key {case['key']!r}, " if "key" in case else ""
        lines.append(f"  {name}: {res.get(f'{prefix}_count')} case(s); the first: {where}"
                     "operations " + ", ".join(map(str, ops)))
    return lines
