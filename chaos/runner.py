"""One `chaos run` as a subprocess, stopped with everything it started, and judged.

`chaos suite` and the pytest plugin both run scenarios this way:

    spec = RunSpec(scenario="partition-heal", seed=1, service="raft", bug="stale-read",
                   expect="invalid", time_limit_s=3, simulate=True)
    outcome = run_one(spec, store=Path("logs"))   # `python -m chaos run ... --json`
    outcome.status            # passed | failed | error | skipped (against `spec.expect`)
    outcome.describe()        # the failing checkers, the anomaly, run directory, reproduce

A run is its own process in a session of its own, so that a crash cannot take the caller down
and a stop reaches all of it. Over its timeout, or on Ctrl-C of the caller (re-raised once the
run is stopped), `stop_process` sends the run's group SIGTERM, so that the run stops its nodes
and records in run.json how it ended, then SIGKILL after `STOP_GRACE_S`, then kills whatever
the run started that left its group (nodes and the proxy have sessions of their own, and watch
their parent besides). The Ctrl-C comes back as `Interrupted`, carrying the stopped run's
judgement. The kernel sends the run SIGTERM if the caller dies first (`PR_SET_PDEATHSIG`), even
by SIGKILL. Nothing outlives the caller.

Judging (`judge`, pure but for reading results.json): a run passes when its verdict is the one
expected, valid or, for a planted bug, invalid. `counted_exit_code` is what the run adds to a
suite's exit code: 0 when it went as expected, 1 an unexpected anomaly, 3 unknown, 2 a run that
refused its options, 4 a harness problem: a run that died or was stopped over its timeout, and
also a planted bug not caught (the harness failed to see a known failure: the point of a
canary), 130 interrupted. `worst_exit_code` orders them by `SEVERITY`: an interruption first,
then an anomaly (false > unknown > true, DESIGN.md), a harness problem, a refused run, unknown.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_UNKNOWN, EXIT_HARNESS = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
# From best to worst: a suite exits with the worst code among its runs (see the docstring).
SEVERITY = (EXIT_VALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_HARNESS, EXIT_INVALID, EXIT_INTERRUPTED)

RUN_TIMEOUT_SLACK_S = 120.0  # a run's default timeout: this, plus twice the run's own length
STOP_GRACE_S = 15.0  # SIGTERM to SIGKILL: a run stops its nodes (3 s each way) and writes run.json
STDERR_TAIL_BYTES = 8_192
TAIL_LINES = 20
PR_SET_PDEATHSIG = 1

Expect = Literal["valid", "invalid"]
Status = Literal["passed", "failed", "error", "skipped"]

_RUN_DIR_RE = re.compile(r"run directory (\S.*)$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run: everything `chaos run` is given, and what its verdict must be. A value left
    None is the scenario's (or the workload's) own."""

    scenario: str  # a packaged name, or a scenario file's path
    seed: int
    workload: str | None = None
    service: str | None = None  # None: the workload's built-in service
    node_cmd: str | None = None
    bug: str | None = None
    expect: Expect = "valid"
    time_limit_s: float | None = None
    simulate: bool = False
    options: tuple[tuple[str, Any], ...] = ()  # (nodes|rate|concurrency|nemesis..., value)
    timeout_s: float | None = None  # None: no limit
    index: int = 0  # position in a suite's whole matrix (before sharding)

    @property
    def scenario_name(self) -> str:
        return Path(self.scenario).stem if self.scenario.endswith(".toml") else self.scenario

    @property
    def target(self) -> str:
        """What runs as the nodes: a program, or a service (and its planted bug)."""
        if self.node_cmd is not None:
            return f"node-cmd={shlex.quote(self.node_cmd)}"
        bug = f"bug={self.bug}" if self.bug else ""
        return " ".join(part for part in (self.service, bug) if part)

    @property
    def case_name(self) -> str:
        """The JUnit test name: unique within the scenario."""
        simulated = "simulated" if self.simulate else ""
        parts = (self.workload, self.target, f"seed={self.seed}", simulated)
        return " ".join(part for part in parts if part)

    def argv(self, store: Path) -> list[str]:
        """`chaos run`'s arguments (after `chaos`)."""
        args = ["run", self.scenario, "--seed", str(self.seed)]
        if self.workload is not None:
            args += ["--workload", self.workload]
        if self.time_limit_s is not None:
            args += ["--time-limit", f"{self.time_limit_s:g}"]
        if self.node_cmd is not None:
            args += ["--node-cmd", self.node_cmd]
        elif self.service is not None:
            args += ["--service", self.service]
        if self.bug is not None:
            args += ["--bug", self.bug]
        for key, value in self.options:
            if key == "params":  # ((name, value as JSON), ...)
                for name, text in value:
                    args += ["--param", f"{name}={text}"]
                continue
            flag = OPTION_FLAGS.get(key, f"--{key}")
            if isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = value if isinstance(value, str) else f"{value:g}"
            args += [flag, text]
        if self.simulate:
            args.append("--simulate")
        return [*args, "--store", str(store), "--json"]

    def command(self, store: Path) -> str:
        return shlex.join(["chaos", *self.argv(store)[:-1]])


# A suite's [options] key -> the `chaos run` option, where the two differ.
OPTION_FLAGS = {"nemesis_interval_s": "--nemesis-interval", "latency_ms": "--latency",
                "latency_dist": "--latency-dist"}


def default_timeout_s(duration_s: float) -> float:
    """How long a run of a scenario `duration_s` long (warm-up, faults, recovery, settling)
    may take, start-up and checking included, before it counts as stuck."""
    return RUN_TIMEOUT_SLACK_S + 2 * duration_s


@dataclass(frozen=True)
class Finished:
    """How a `chaos run` process ended (`returncode` < 0: killed by that signal)."""

    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a SIGTERM made one) stopped a run: `finished` is how the run ended once
    stopped, and `outcome` its judgement where `run_one` could make one."""

    def __init__(self, finished: Finished) -> None:
        super().__init__()
        self.finished = finished
        self.outcome: RunOutcome | None = None


def run_process(argv: Sequence[str], *, timeout_s: float | None,
                grace_s: float = STOP_GRACE_S) -> Finished:
    """Run `argv` in a session of its own; over `timeout_s`, or on Ctrl-C (raised again as
    `Interrupted` once the run is stopped), stop its group and every process it started."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, preexec_fn=_death_signal(signal.SIGTERM),
        )

        def ended(*, timed_out: bool) -> Finished:
            out.seek(0)
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - STDERR_TAIL_BYTES))
            return Finished(
                returncode=proc.returncode, stdout=out.read().decode(errors="replace"),
                stderr=err.read().decode(errors="replace"),
                duration_s=time.monotonic() - started, timed_out=timed_out,
            )

        try:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                stop_process(proc, grace_s=grace_s)
                return ended(timed_out=True)
        except KeyboardInterrupt as e:
            # Stop the run with further signals held until it is stopped: a second Ctrl-C
            # must not leave it half-stopped.
            with _signals_held():
                stop_process(proc, grace_s=grace_s)
                interrupted = Interrupted(ended(timed_out=False))
            raise interrupted from e
        except BaseException:
            with _signals_held():
                stop_process(proc, grace_s=grace_s)
            raise
        finally:
            _kill_group(proc.pid, signal.SIGKILL)  # whatever of the group outlived its leader
        return ended(timed_out=False)


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM the run's group (the run stops its nodes and records how it ended), SIGKILL
    after `grace_s`, then kill whatever it started that left its group (nodes have sessions
    of their own), as `chaos.processes.reap` does for a run's nodes."""
    from chaos.processes import descendants, reap  # psutil and trio: only when stopping

    family = descendants([proc.pid])  # before any signal, while the tree is whole
    _kill_group(proc.pid, signal.SIGCONT)
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
    _kill_group(proc.pid, signal.SIGKILL)
    reap(family)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _death_signal(sig: int) -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send the child `sig` when we die (Linux), so a run
    does not outlive a suite killed with SIGKILL. `prctl` is found here, before the fork: the
    child may only make the one call. (The parent *thread* counts: we start runs from the
    thread that waits for them.)"""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm


@dataclass(frozen=True)
class Anomaly:
    """A checker that said invalid, and its headline (`checker.result.brief`)."""

    checker: str
    headline: str
    detail: str = ""  # the checker's own explanation, when it gives one (`failure.text`)


@dataclass(frozen=True)
class RunOutcome:
    """A run judged against its expectation: what JUnit, the summary and the exit code read."""

    spec: RunSpec
    status: Status
    exit_code: int | None  # the run's own exit code; None if not started (or killed)
    counted_exit_code: int  # what it adds to the suite's: 0 when it went as expected
    reason: str  # one line: why it failed, errored or was skipped ("" when it passed)
    duration_s: float = 0.0
    valid: Any = None  # True, False, "unknown", or None when no verdict was given
    run_dir: str | None = None
    reproduce: str = ""
    checkers: Mapping[str, Any] = field(default_factory=dict)
    counts: Mapping[str, Any] = field(default_factory=dict)
    anomalies: tuple[Anomaly, ...] = ()
    log_tail: str = ""  # the run's stderr, last lines, for a failure or error

    def describe(self) -> str:
        """A few lines for a person: what happened, where, how to reproduce it."""
        lines = [f"{self.spec.scenario_name} {self.spec.case_name}: {self.reason or 'passed'}"]
        for a in self.anomalies:
            lines.append(f"  {a.checker}: INVALID {a.headline}".rstrip())
            lines.extend(f"    {line}" for line in a.detail.splitlines())
        unknown = [name for name, valid in self.checkers.items() if valid == "unknown"]
        if unknown:
            lines.append(f"  unknown: {', '.join(unknown)}")
        if self.run_dir:
            lines.append(f"  run directory: {self.run_dir}")
        if self.reproduce:
            lines.append(f"  reproduce with: {self.reproduce}")
        return "\n".join(lines)


def skipped(spec: RunSpec, reason: str, *, counted_exit_code: int = EXIT_UNKNOWN) -> RunOutcome:
    return RunOutcome(spec=spec, status="skipped", exit_code=None,
                      counted_exit_code=counted_exit_code, reason=reason)


def judge(spec: RunSpec, finished: Finished, *, store: Path,
          results: Mapping[str, Any] | None = None) -> RunOutcome:
    """What the run's ending means, against its expectation. `results` is its results.json
    (read from the run directory, for a verdict of invalid or unknown, when not given)."""
    summary = _summary(finished.stdout)
    run_dir = summary.get("run_dir") or _stderr_run_dir(finished.stderr)
    code = finished.returncode
    if results is None and run_dir and code in (EXIT_INVALID, EXIT_UNKNOWN):
        results = _read_json(Path(run_dir) / "results.json")
    checker_results = {name: r for name, r in ((results or {}).get("results") or {}).items()
                       if isinstance(r, dict)}
    anomalies = _anomalies(checker_results)
    invalid = ", ".join(a.checker for a in anomalies) or "a checker"
    status: Status = "error"
    counted = EXIT_HARNESS
    if finished.timed_out:
        reason = (f"harness: stopped after {spec.timeout_s:g} s, over its run timeout; raise "
                  "the timeout, or look for a stall in its run directory")
    elif code == EXIT_INTERRUPTED:
        counted, reason = EXIT_INTERRUPTED, "interrupted"
    elif code == EXIT_VALID and spec.expect == "valid":
        status, counted, reason = "passed", EXIT_VALID, ""
    elif code == EXIT_VALID:  # a canary not caught: the harness did not see a known failure
        what = f"planted bug {spec.bug}" if spec.bug else f"faulty program {spec.node_cmd}"
        status, counted = "failed", EXIT_HARNESS
        reason = f"{what} not caught: every checker said valid"
    elif code == EXIT_INVALID and spec.expect == "invalid":
        status, counted, reason = "passed", EXIT_VALID, f"caught as expected by {invalid}"
    elif code == EXIT_INVALID:
        status, counted = "failed", EXIT_INVALID
        headline = anomalies[0].headline if anomalies else ""
        reason = f"INVALID: {invalid}" + (f" ({headline})" if headline else "")
    elif code == EXIT_UNKNOWN:
        unknown = [f"{name} ({r['reason']})" if r.get("reason") else name
                   for name, r in checker_results.items() if r.get("valid") == "unknown"]
        counted = EXIT_UNKNOWN
        reason = ("unknown: " + "; ".join(unknown) if unknown
                  else "unknown: nothing to judge, or a checker's budget ran out")
    elif code == EXIT_USAGE:
        counted = EXIT_USAGE
        reason = f"the run refused its options: {_last_line(finished.stderr)}"
    elif code == EXIT_HARNESS:
        reason = f"harness: {summary.get('error') or _harness_line(finished.stderr)}"
    elif code < 0:
        reason = f"harness: the run was killed by signal {-code}"
    else:
        reason = f"harness: the run exited {code}: {_last_line(finished.stderr)}"
    tail = "" if status == "passed" else "\n".join(finished.stderr.splitlines()[-TAIL_LINES:])
    return RunOutcome(
        spec=spec, status=status, exit_code=None if finished.timed_out or code < 0 else code,
        counted_exit_code=counted, reason=reason, duration_s=finished.duration_s,
        valid=summary.get("valid"), run_dir=str(run_dir) if run_dir else None,
        reproduce=str(summary.get("reproduce") or spec.command(store)),
        checkers=dict(summary.get("checkers") or {}), counts=dict(summary.get("counts") or {}),
        anomalies=anomalies, log_tail=tail,
    )


def run_one(spec: RunSpec, store: Path) -> RunOutcome:
    """Run `spec` as `python -m chaos run ... --json`, within `spec.timeout_s`, and judge it."""
    argv = [sys.executable, "-m", "chaos", *spec.argv(store)]
    try:
        finished = run_process(argv, timeout_s=spec.timeout_s)
    except Interrupted as e:
        e.outcome = judge(spec, e.finished, store=store)
        raise
    return judge(spec, finished, store=store)


def _anomalies(results: Mapping[str, Mapping[str, Any]]) -> tuple[Anomaly, ...]:
    """Each checker that said invalid, its headline, and its explanation where it gives one."""
    from checker.result import brief

    found = []
    for name, r in results.items():
        if r.get("valid") is not False:
            continue
        failure = r.get("failure")
        detail = failure.get("text") if isinstance(failure, dict) else None
        found.append(Anomaly(name, brief(r), detail if isinstance(detail, str) else ""))
    return tuple(found)


def _harness_line(stderr: str) -> str:
    """The reason `chaos run` gave for exit 4 (`chaos: harness failed: REASON`)."""
    for line in reversed(stderr.splitlines()):
        if "harness failed: " in line:
            return line.split("harness failed: ", 1)[1].strip()
    return _last_line(stderr)


def _summary(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict):
                return doc
    return {}


def _stderr_run_dir(stderr: str) -> str | None:
    m = _RUN_DIR_RE.search(stderr)
    return m.group(1).strip() if m else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def worst_exit_code(outcomes: Iterable[RunOutcome]) -> int:
    """The worst counted exit code, by `SEVERITY`; 0 for no runs."""
    return max((o.counted_exit_code for o in outcomes), key=SEVERITY.index, default=EXIT_VALID)

