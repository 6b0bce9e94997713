"""Chapter 1's checks, beyond the shared contract: what the issue-11 findings must now show.

- answers that refuse everyone (or do nothing) score 0 on their exercise;
- ``async def`` where a plain function is expected is named as such, with no
  "coroutine was never awaited" warning leaking into the learner's notebook;
- messages read as sentences and say whose data a case uses.
"""

import gc
import warnings
from typing import Any

import pytest
from lab_support import case_result, solution_namespace

from authcourse.checks.core import Status, get_exercise, run_exercise

from . import wrong
from .known_wrong import SLUG


def _run(exercise_id: str, **entries: Any) -> Any:
    return run_exercise(get_exercise(exercise_id), {**solution_namespace(SLUG), **entries})


@pytest.mark.parametrize(
    ("exercise_id", "entries"),
    [
        ("01.1", {"require_scope": wrong.scope_refuses_everything}),
        ("01.2", {"fetch_document": wrong.fetch_refuses_everything}),
        ("01.3", {"security_headers": wrong.headers_pass_through}),
        ("01.4", {"find_unprotected_routes": wrong.inventory_reports_everything}),
        (
            "01.5",
            {
                "impersonation_headers": wrong.attack_with_email_as_token,
                "build_fixed_app": wrong.fix_refuses_everyone,
            },
        ),
    ],
    ids=["01.1", "01.2", "01.3", "01.4", "01.5"],
)
def test_refusing_everything_or_doing_nothing_scores_zero(
    exercise_id: str, entries: dict[str, Any]
) -> None:
    result = _run(exercise_id, **entries)
    assert result.score == 0, [(c.description, c.status, c.message) for c in result.cases]
    gated = [c for c in result.cases if c.message.startswith("not counted until")]
    assert gated, "the refusal cases this answer passes are shown as not counted"


def test_no_store_on_every_response_loses_marks() -> None:
    # Issue 11: 01.3 gave 2/2 to no-store everywhere although public responses stay cacheable.
    result = _run("01.3", security_headers=wrong.headers_no_store_everywhere)
    assert result.score < get_exercise("01.3").points
    (failed,) = [c for c in result.cases if c.status is Status.FAILED]
    assert failed.description.startswith("anonymous responses stay cacheable")
    assert "public responses stay cacheable" in failed.message


@pytest.mark.parametrize(
    ("exercise_id", "entries", "case"),
    [
        ("01.1", {"require_scope": wrong.scope_factory_is_async}, "a valid token with the"),
        ("01.4", {"find_unprotected_routes": wrong.inventory_async}, "the inventory lists"),
        ("01.5", {"build_fixed_app": wrong.fix_built_by_async_factory}, "the fix: a valid"),
    ],
    ids=["01.1", "01.4", "01.5"],
)
def test_async_def_where_a_plain_function_is_expected_is_said_plainly(
    exercise_id: str, entries: dict[str, Any], case: str
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = case_result(exercise_id, {**solution_namespace(SLUG), **entries}, case)
        gc.collect()  # an unawaited coroutine warns when it is collected
    assert result.status is Status.FAILED
    assert "this must be a plain function (no `async`)" in result.message
    assert "TypeError" not in result.message and "coroutine" not in result.message
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_a_plain_def_where_async_is_expected_is_said_plainly() -> None:
    result = case_result(
        "01.2", {**solution_namespace(SLUG), "fetch_document": wrong.fetch_not_async}, "the owner"
    )
    assert result.status is Status.FAILED
    assert "expected `async def fetch_document(...)`" in result.message


def test_the_inventory_messages_read_as_sentences() -> None:
    # Issue 11: "expected GET /documents not reported, but got it was reported: [...]".
    result = case_result(
        "01.4",
        {**solution_namespace(SLUG), "find_unprotected_routes": wrong.inventory_top_level_only},
        "routes whose dependency tree",
    )
    assert "but got it was" not in result.message
    assert "left out, but got a list that includes it: [" in result.message


def test_owner_check_messages_say_the_users_are_the_checks() -> None:
    # Issue 11: 01.2 named Alice and Bob as if they were in the learner's notebook.
    result = case_result(
        "01.2",
        {**solution_namespace(SLUG), "fetch_document": wrong.fetch_without_owner_check},
        "same tenant, not the owner",
    )
    assert "in the check's own demo database (not your notebook's)" in result.message
    assert "Bob (Acme, not the owner of document 1)" in result.message
