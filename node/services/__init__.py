"""The registry of built-in services, found from the packages in this folder.

    from node.services import SERVICES, get_service, check
    SERVICES["broadcast"].bugs          # {"no-retry": "..."}
    get_service("broadcast").machine    # Boot -> machine (node.machine)

A service is a package `node/services/<package>/` whose `__init__.py` defines `SERVICE`, a
`node.service.ServiceSpec`: adding the package is the whole registration (see
docs/mechanisms.md). A package whose one machine serves several workloads, each under its own
name (`crdt`: one replica, generic over the CRDT type), defines `SERVICES` instead, a tuple of
them, each declared by a sub-package of its own. Importing a service package is cheap: its core
is a pure state machine with no trio and no zmq, so the CLI validates `--service` and `--bug`
without starting anything.
"""

from __future__ import annotations

import importlib
import pkgutil

from node.service import ServiceSpec


def _discover() -> dict[str, ServiceSpec]:
    found: dict[str, ServiceSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        specs = getattr(module, "SERVICES", None) or (getattr(module, "SERVICE", None),)
        for spec in specs:
            assert isinstance(spec, ServiceSpec), f"{module.__name__} must define SERVICE"
            assert spec.name not in found, f"two services named {spec.name!r}"
            found[spec.name] = spec
    return found


SERVICES: dict[str, ServiceSpec] = _discover()


class UnknownServiceError(ValueError):
    """A service or bug name that is not in the registry."""


def get_service(name: str) -> ServiceSpec:
    """The service's declaration; raises `UnknownServiceError` naming the valid ones."""
    if name not in SERVICES:
        raise UnknownServiceError(
            f"unknown service {name!r}; use one of {', '.join(sorted(SERVICES))}"
        )
    return SERVICES[name]


def bugs(service: str) -> list[str]:
    """The bug names `service` accepts."""
    return list(get_service(service).bugs)


def check(service: str, bug: str | None) -> None:
    """Raise `UnknownServiceError` with a one-line fix for a bad service or bug name."""
    valid = bugs(service)
    if bug is not None and bug not in valid:
        hint = f"use one of {', '.join(valid)}" if valid else "it has no bugs to plant"
        raise UnknownServiceError(f"unknown bug {bug!r} for service {service!r}; {hint}")
