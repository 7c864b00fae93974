"""What the benchmarks share about a running `chaos run`: each process's role, and CPU samples.

    from runprocs import CpuSamples, role     # bench/ is the script's directory, on sys.path
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

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
