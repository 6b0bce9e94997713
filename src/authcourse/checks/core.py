"""The checks' public machinery in one place: the registry and the case runner.

The registry (exercises, cases, ``expect``) lives in :mod:`authcourse.checks.registry` and
the runner (statuses, results and their one schema, timeouts) in
:mod:`authcourse.checks.runner`; this module re-exports both, so chapter modules and tests
keep importing from ``authcourse.checks.core``.
"""

from __future__ import annotations

from authcourse.checks.registry import (
    Case,
    CaseFunction,
    CheckFailed,
    Exercise,
    Namespace,
    all_exercises,
    chapter_exercises,
    exercise,
    expect,
    expect_equal,
    get_exercise,
)
from authcourse.checks.runner import (
    CAN_ISOLATE,
    CASE_TIMEOUT_SECONDS,
    MESSAGE_LIMIT,
    CaseResult,
    ExerciseResult,
    Status,
    count_refusals_only_after_positives,
    describe_crash,
    run_case,
    run_exercise,
    run_exercise_isolated,
    shorten,
)

# The name the positive-case rule had before the runner was split out.
_count_refusals_only_after_positives = count_refusals_only_after_positives

__all__ = [
    "CAN_ISOLATE",
    "CASE_TIMEOUT_SECONDS",
    "MESSAGE_LIMIT",
    "Case",
    "CaseFunction",
    "CaseResult",
    "CheckFailed",
    "Exercise",
    "ExerciseResult",
    "Namespace",
    "Status",
    "all_exercises",
    "chapter_exercises",
    "count_refusals_only_after_positives",
    "describe_crash",
    "exercise",
    "expect",
    "expect_equal",
    "get_exercise",
    "run_case",
    "run_exercise",
    "run_exercise_isolated",
    "shorten",
]
