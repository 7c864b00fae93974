"""The registry of workloads, found from the modules in this folder.

    from scenarios.workloads import WORKLOADS, get_workload, get_spec
    WORKLOADS                          # ("broadcast", "echo", "lin-kv", "unique-ids")
    w = get_workload("broadcast", topology="line")   # a fresh workload object for one run
    get_spec("broadcast").service      # "broadcast": the built-in service that implements it

Each module here defines one workload and declares it as `WORKLOAD`, a
`scenarios.workload.WorkloadSpec`: adding the module is the whole registration (the checklist is
in docs/mechanisms.md). `scenarios.workload` documents how a run drives a workload.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from scenarios.workload import Workload, WorkloadSpec


def _discover() -> dict[str, WorkloadSpec]:
    found: dict[str, WorkloadSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "WORKLOAD", None)
        assert isinstance(spec, WorkloadSpec), f"{module.__name__} must define WORKLOAD"
        assert spec.name not in found, f"two workloads named {spec.name!r}"
        found[spec.name] = spec
    return dict(sorted(found.items()))


SPECS: dict[str, WorkloadSpec] = _discover()
WORKLOADS: tuple[str, ...] = tuple(SPECS)


def get_spec(name: str) -> WorkloadSpec:
    """The workload's declaration; raises ValueError naming the valid workloads."""
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown workload {name!r}; use one of {', '.join(WORKLOADS)}")
    return spec


def settle_s(scenario: Any) -> float:
    """The quiet before a run's final reads: the scenario's `settle_s`, at least its
    workload's `settle_min_s`."""
    return max(float(scenario.settle_s), get_spec(scenario.workload).settle_min_s)


def get_workload(name: str, **params: Any) -> Workload:
    """A fresh workload by name. Raises ValueError naming the valid workloads or parameters."""
    factory = get_spec(name).make
    try:
        return factory(**params)
    except TypeError:
        accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
        takes = ", ".join(accepted) or "no parameters"
        unknown = sorted(set(params) - set(accepted)) or sorted(params)  # else: a wrong type
        raise ValueError(
            f"workload {name!r}: unknown parameter(s) {', '.join(unknown)}; it takes {takes}"
        ) from None


def model_for(workload: str) -> str | None:
    """The linearizability model a workload's histories are checked against, if any."""
    spec = SPECS.get(workload)
    return spec.model if spec is not None else None


__all__ = ["SPECS", "WORKLOADS", "Workload", "WorkloadSpec", "get_spec", "get_workload",
           "model_for"]
