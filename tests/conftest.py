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


# The one real run per shipped scenario, and the whole runs of test_run.py: a group of their own,
# beside the other real-cluster tests (the two groups' tests took 213 and 191 s when last
# measured with `pytest -m cluster --durations=0`; keep them about even).
SCENARIO_RUNS = ("tests/system/test_scenarios.py::", "tests/system/test_run.py::")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Real-cluster tests in two xdist groups, each run by one worker one test after another:
    the shipped scenarios' runs with test_run.py's, and every other test that starts
    processes. So at most two
    clusters share the two cores, each mostly waiting on its scenario's clock (rate 100: a few
    tenths of a core), and the default run stays within CI's 6 minutes; the unit and
    simulation tests fill the gaps. (One group alone took 5 min 16 s of pytest's time once the
    CRDT, log, txn and cluster-service tests arrived; the runs' stall detector, which makes a
    slip of a second exit 4, has not fired in suites run at a load average of 7.)"""
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            group = "cluster-scenarios" if item.nodeid.startswith(SCENARIO_RUNS) else "cluster"
            item.add_marker(pytest.mark.xdist_group(group))
