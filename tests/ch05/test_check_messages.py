"""Chapter 5's checks answer common slips in plain words (no library internals, no warnings)."""

from __future__ import annotations

import warnings
from typing import Any

from lab_support import solution_namespace

from authcourse.checks.core import Status, get_exercise, run_exercise


def _run(exercise_id: str, **swapped: Any) -> list[tuple[Status, str]]:
    namespace = {**solution_namespace("05_oauth2"), **swapped}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited coroutine would be a RuntimeWarning
        result = run_exercise(get_exercise(exercise_id), namespace)
    return [(case.status, case.message) for case in result.cases]


def test_an_async_verifier_maker_is_told_to_be_a_plain_function() -> None:
    async def make_verifier() -> str:
        return "x" * 43

    results = _run("05.1", make_verifier=make_verifier)
    assert any("plain function (no `async`)" in message for _, message in results)
    assert all(status is not Status.CRASHED for status, _ in results)


def test_an_async_token_validator_is_told_to_be_a_plain_function() -> None:
    async def check_access_token(*args: Any, **kwargs: Any) -> None:
        return None

    results = _run("05.6", check_access_token=check_access_token)
    assert results[0][0] is Status.FAILED and "plain function" in results[0][1]


def test_a_plain_finish_login_is_told_to_be_async() -> None:
    def finish_login(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {}

    results = _run("05.3", finish_login=finish_login)
    assert results[0][0] is Status.FAILED and "async def finish_login" in results[0][1]


def test_a_plain_get_is_told_to_be_async() -> None:
    class TokenCache:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def get(self) -> str:
            return "token"

        def invalidate(self, token: str) -> None:
            pass

    results = _run("05.4", TokenCache=TokenCache)
    assert results[0][0] is Status.FAILED and "async def get" in results[0][1]
