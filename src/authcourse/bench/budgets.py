"""The budgets of DESIGN.md §12 ("Budgets"), as numbers: nothing else lives here.

Throughput budgets are ratios of medians measured in one run, never absolute times: the
machine changes, the ratio of two things measured side by side much less. "Session ≥ 20%"
means a request to a route behind the session check keeps at least 20% of the throughput
of the same route unprotected (its median is at most five times the unprotected one's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from authcourse.bench.timing import format_duration

#: ``ratio``: a share shown as a percentage; ``times``: a factor (``1.0×``); ``s``: seconds.
Unit = Literal["ratio", "times", "s"]


@dataclass(frozen=True)
class Budget:
    """A limit: ``value >= limit`` when ``at_least``, else ``value <= limit``."""

    limit: float
    unit: Unit
    at_least: bool = False

    def holds(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def __str__(self) -> str:
        if self.unit == "ratio":
            amount = f"{self.limit:.0%}"
        elif self.unit == "times":
            amount = f"{self.limit:g}×"
        elif self.limit >= 1:
            amount = f"{self.limit:g} s"
        else:
            amount = format_duration(self.limit * 1e9)
        return f"{'≥' if self.at_least else '≤'} {amount}"


# In-process throughput against the same route unprotected, lean checks (one statement).
SESSION = Budget(0.20, "ratio", at_least=True)
API_KEY = Budget(0.18, "ratio", at_least=True)
JWT_WITH_REVOCATION = Budget(0.16, "ratio", at_least=True)
JWT_SIGNATURE_ONLY = Budget(0.50, "ratio", at_least=True)

# The same with the opt-in credential cache, on its hit path.
SESSION_CACHED = Budget(0.80, "ratio", at_least=True)
API_KEY_CACHED = Budget(0.65, "ratio", at_least=True)
JWT_CACHED = Budget(0.50, "ratio", at_least=True)

#: Ours over fastapi-users' throughput for the equivalent check, in the same run: ours ≥ peer.
PEER = Budget(1.0, "times", at_least=True)

# The course itself.
CHECK = Budget(1.0, "s")  # one check(...) answer
GRADE = Budget(15.0, "s")  # grading one submission
NOTEBOOK = Budget(10.0, "s")  # any one notebook under nbval
SUITE = Budget(300.0, "s")  # make test, install excluded
SUITE_FAST = Budget(60.0, "s")  # make test-fast

# ReBAC (chapter 7) at 1M tuples.
REBAC_P99 = Budget(25e-6, "s")
REBAC_VS_NAIVE = Budget(10.0, "times", at_least=True)  # naive p99 / closure-index p99
