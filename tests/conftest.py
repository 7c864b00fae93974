"""Test-wide settings.

Hypothesis: no per-example deadline (a 2-core CI machine running whole clusters next door
makes wall-clock deadlines a source of flakes, not of findings). Under CI (`CI` set) the
examples are derandomized, so a CI run is repeatable; locally they vary, to keep finding new
cases.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every real-cluster test in one xdist group: one worker runs them one after another, so
    two clusters never compete for the two cores (their stall detector would notice), while the
    other worker runs the unit and simulation tests."""
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(pytest.mark.xdist_group("cluster"))
