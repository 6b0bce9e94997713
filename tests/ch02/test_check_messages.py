"""Chapter 2's check messages in the cases a learner meets most (issue 11)."""

import warnings
from typing import Any

from lab_support import solution_namespace

from authcourse.checks.core import Status, get_exercise, run_exercise

SLUG = "02_passwords_sessions"


async def async_password_problems(password: str, email: str) -> list[str]:
    return []


async def async_hash_password(password: str) -> str:
    return "$argon2id$"


def _messages(exercise_id: str, **entries: Any) -> list[str]:
    namespace = {**solution_namespace(SLUG), **entries}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        result = run_exercise(get_exercise(exercise_id), namespace)
    assert result.score == 0
    return [case.message for case in result.cases if case.status is not Status.PASSED]


def test_async_def_where_a_plain_function_is_asked_for_is_named_as_such() -> None:
    for exercise_id, entries in [
        ("02.2", {"password_problems": async_password_problems}),
        ("02.1", {"hash_password": async_hash_password}),
    ]:
        messages = _messages(exercise_id, **entries)
        assert any("a plain function (no `async`)" in message for message in messages), messages
        assert not any("coroutine" in message for message in messages), messages
