"""What the benchmarks share about a running `chaos run`: each process's role, CPU samples,
and the frame of a benchmark's main (the machine line, a work directory, the JSON figures).

    from runprocs import CpuSamples, role     # bench/ is the script's directory, on sys.path
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class CpuSamples:
    """CPU seconds (user + system) of one process or role, sampled over the run:
    (monotonic ns, s)."""

    points: list[tuple[int, float]] = field(default_factory=list)

    def at(self, t_ns: int) -> float:
        """The CPU time at `t_ns`, linearly interpolated between samples."""
        pts = self.points
        if not pts:
            return 0.0
        if t_ns <= pts[0][0]:
            return pts[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(pts):
            if t0 <= t_ns <= t1:
                return c0 + (c1 - c0) * (t_ns - t0) / max(1, t1 - t0)
        return pts[-1][1]


def role(proc: psutil.Process, orchestrator_pid: int) -> str:
    """`orchestrator`, `proxy`, a node's id (`n1`...), or the process's name and pid."""
    if proc.pid == orchestrator_pid:
        return "orchestrator"
    cmdline = proc.cmdline()
    if "chaos.proxy" in cmdline:
        return "proxy"
    if "--id" in cmdline:
        return cmdline[cmdline.index("--id") + 1]
    return f"{proc.name()}:{proc.pid}"


IO_THREAD_PREFIX = "ZMQbg/IO"  # the name libzmq gives its I/O threads (Linux)
IO_SUFFIX = ":zmq-io"  # `threads=True`: the CPU seconds of a process's libzmq I/O threads
SWITCHES_SUFFIX = ":switches"  # `threads=True`: its threads' context switches (a count)


def sample(root: psutil.Process, samples: dict[str, CpuSamples], *,
           by_pid: bool = False, threads: bool = False) -> None:
    """One CPU sample of `root` and its children, by role (`role`); `by_pid` keeps each
    process apart (`n1@1234`: a restarted node is a new process under the same role).
    `threads` also samples, under `<role>:zmq-io` and `<role>:switches`, the CPU time of
    each process's libzmq I/O threads and the context switches of all its threads (read
    from /proc: Linux only, nothing elsewhere)."""
    now_ns = time.monotonic_ns()
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            name = role(proc, root.pid)
            t = proc.cpu_times()
        except psutil.Error:
            continue
        key = f"{name}@{proc.pid}" if by_pid else name
        samples.setdefault(key, CpuSamples()).points.append((now_ns, t.user + t.system))
        if threads:
            split = _thread_split(proc.pid)
            if split is not None:
                io_s, switches = split
                samples.setdefault(key + IO_SUFFIX, CpuSamples()).points.append((now_ns, io_s))
                samples.setdefault(key + SWITCHES_SUFFIX, CpuSamples()).points.append(
                    (now_ns, switches))


def _thread_split(pid: int) -> tuple[float, float] | None:
    """(CPU seconds of the process's libzmq I/O threads, context switches of all its
    threads), from /proc; None when it cannot be read (gone, or not Linux)."""
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    io_s = 0.0
    switches = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            task = Path(f"/proc/{pid}/task/{tid}")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            if (task / "comm").read_text().startswith(IO_THREAD_PREFIX):
                io_s += (int(fields[11]) + int(fields[12])) * tick_s  # utime, stime
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return io_s, float(switches)


@dataclass
class SampledRun:
    returncode: int
    run_dir: Path
    samples: dict[str, CpuSamples]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def run_sampled(argv: list[str], *, cwd: Path, limit_s: float, interval_s: float,
                by_pid: bool = False, threads: bool = False) -> SampledRun:
    """Run a `chaos run ... --json` command, sampling its CPU (`sample`) every `interval_s`
    while it runs; stop it (SIGTERM) past `limit_s`. Exits with the output when it printed no
    summary."""
    load_before = os.getloadavg()
    samples: dict[str, CpuSamples] = {}
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        sample(root, samples, by_pid=by_pid, threads=threads)
        if time.monotonic() - started > limit_s:
            proc.terminate()
        time.sleep(interval_s)  # a benchmark's sampling period, not synchronisation
    out, err = proc.communicate()
    load_after = os.getloadavg()
    try:
        summary = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        sys.exit(f"chaos run printed no summary (exit {proc.returncode}):\n{out}\n{err}")
    return SampledRun(proc.returncode, Path(summary["run_dir"]), samples, load_before,
                      load_after)


def print_cpu(r: dict[str, Any], *, ok_count: int) -> None:
    """A run's CPU figures (`cpu_s` per process over `window_s`) and the load around it."""
    window_s = r["window_s"]
    cpu = ", ".join(f"{k} {v:.2f} s ({v / window_s * 100:.0f}%)" for k, v in r["cpu_s"].items())
    print(f"  CPU in the window (share of one core): {cpu}")
    total = sum(r["cpu_s"].values())
    print(f"  all processes {total:.2f} s = {total / window_s:.2f} cores; "
          f"{total / max(1, ok_count) * 1e6:,.0f} µs CPU per ok operation")
    print(f"  load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}")


def machine_line() -> str:
    """What the figures below it ran on: cores, Python, the load average before."""
    return (f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


@contextmanager
def bench_workdir(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A temporary directory for a benchmark's run store: removed afterwards unless `keep`,
    then its path is printed."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"run directories kept under {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def write_figures(path: Path | None, results: Any) -> None:
    """The figures as JSON at `path` (`--json`), if one was given."""
    if path is not None:
        path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
