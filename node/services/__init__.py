"""The registry of built-in services: name -> module and the bugs it can plant.

This module is import-light on purpose (no trio, no zmq): the CLI and the orchestrator import
it to validate `--service` and `--bug` before anything starts.

    from node.services import SERVICES, bugs
    bugs("broadcast")            # ["no-retry"]
    load("broadcast").install(node, bug="no-retry")

Each service is one module with a docstring that documents its messages and its bugs, and an
`install(node, *, bug)` that registers its handlers and timers on a `node.runtime.Node`.
A test checks that every module's `BUGS` matches this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    summary: str
    bugs: dict[str, str]  # name -> the defect it plants


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            name="echo",
            module="node.services.echo",
            summary="echo -> echo_ok: a smoke test of the harness",
            bugs={},
        ),
        ServiceSpec(
            name="unique-ids",
            module="node.services.unique_ids",
            summary="generate -> generate_ok{id}: ids unique across nodes and restarts",
            bugs={
                "unsynced-boot-counter": "the boot counter is written but not fsynced, so a "
                "node killed and restarted hands out ids again",
            },
        ),
        ServiceSpec(
            name="broadcast",
            module="node.services.broadcast",
            summary="gossip dissemination with acknowledged retries and anti-entropy",
            bugs={
                "no-retry": "gossip is sent once to each neighbour, never retried, no "
                "anti-entropy: messages dropped in a partition never reach some nodes",
            },
        ),
    )
}


class UnknownServiceError(ValueError):
    """A service or bug name that is not in the registry."""


def bugs(service: str) -> list[str]:
    """The bug names `service` accepts (raises `UnknownServiceError` for an unknown service)."""
    if service not in SERVICES:
        raise UnknownServiceError(
            f"unknown service {service!r}; use one of {', '.join(sorted(SERVICES))}"
        )
    return list(SERVICES[service].bugs)


def check(service: str, bug: str | None) -> None:
    """Raise `UnknownServiceError` with a one-line fix for a bad service or bug name."""
    valid = bugs(service)
    if bug is not None and bug not in valid:
        hint = f"use one of {', '.join(valid)}" if valid else "it has no bugs to plant"
        raise UnknownServiceError(f"unknown bug {bug!r} for service {service!r}; {hint}")


def load(service: str) -> ModuleType:
    """The service's module (imported now: this pulls in trio)."""
    bugs(service)
    return importlib.import_module(SERVICES[service].module)
