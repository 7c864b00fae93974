"""Test-wide settings.

Hypothesis: no per-example deadline (a 2-core CI machine running whole clusters next door
makes wall-clock deadlines a source of flakes, not of findings). Under CI (`CI` set) the
examples are derandomized, so a CI run is repeatable; locally they vary, to keep finding new
cases.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")
