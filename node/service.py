"""What a built-in service declares about itself: the one registration of a service.

Each service is a package `node/services/<name>/` whose `__init__.py` defines

    SERVICE = ServiceSpec(
        name="broadcast",
        summary="gossip dissemination with acknowledged retries and anti-entropy",
        bugs={"no-retry": "gossip is sent once ..."},     # declared beside the code
        machine=Broadcast,                               # Boot -> a node.machine machine
        canaries={"no-retry": Canary("partition-heal")},  # the run that must catch each bug
    )

`node.services` finds the packages; the node program, the simulator, the CLI's choices,
`chaos list` and the README's table all read these declarations. This module imports nothing
heavy (no trio, no zmq), so validating `--service` and `--bug` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from node.machine import Boot, StepMachine


@dataclass(frozen=True)
class Canary:
    """A run that must catch a planted bug: a shipped scenario (by name), with another
    workload when the scenario's own is not the one the service serves. The simulation tests
    run every canary over many seeds, and `pytest -m nightly` on real processes."""

    scenario: str
    workload: str | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    summary: str
    machine: Callable[[Boot], StepMachine]
    bugs: Mapping[str, str] = field(default_factory=dict)  # bug name -> the defect it plants
    needs_storage: bool = False  # a durable data directory is required (unique-ids' boots)
    canaries: Mapping[str, Canary] = field(default_factory=dict)  # bug -> the run catching it
