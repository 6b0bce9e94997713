"""Chapter 3's checks: refusing everything scores nothing, and the usual mix-ups are named
in plain words (issue 11)."""

import warnings
from typing import Any

import pytest
from lab_support import case_result, solution_namespace

from authcourse.checks.core import Status, get_exercise, run_exercise
from clouddocs.jwt_tokens import InvalidToken

from . import wrong
from .known_wrong import SLUG

# (exercise, a verifier whose body is only a refusal, the cases that do not use it)
REFUSE_EVERYTHING = [
    ("03.1", {"verify_access_token": wrong.verify_refusing_everything}, set()),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_refusing_everything},
        {"your forged token fools the naive verifier into accepting an admin"},  # the attack
    ),
    ("03.4", {"authenticate_request": wrong.authenticate_refusing_everything}, set()),
    ("03.6", {"verify_with_jwks": wrong.jwks_refusing_everything}, set()),
]


@pytest.mark.parametrize(("exercise_id", "entries", "other_work"), REFUSE_EVERYTHING)
def test_a_verifier_that_refuses_everything_earns_nothing(
    exercise_id: str, entries: dict[str, Any], other_work: set[str]
) -> None:
    result = run_exercise(get_exercise(exercise_id), {**solution_namespace(SLUG), **entries})
    passed = {case.description for case in result.cases if case.status is Status.PASSED}
    assert passed == other_work, passed


def _message(exercise_id: str, entries: dict[str, Any], case: str) -> str:
    result = case_result(exercise_id, {**solution_namespace(SLUG), **entries}, case)
    assert result.status is Status.FAILED, result
    return result.message


def test_pyjwts_wall_clock_is_explained() -> None:
    entries = {"verify_access_token": wrong.verify_on_the_wall_clock}
    message = _message("03.1", entries, "a fresh token")
    assert "computer's clock" in message and "clock.time()" in message


def test_a_logged_out_token_answered_403_is_told_to_be_401() -> None:
    entries = {"authenticate_request": wrong.authenticate_denied_as_403}
    message = _message("03.4", entries, "a logged-out token is refused")
    assert "403" in message and "401" in message and "still works" not in message


@pytest.mark.parametrize(
    ("exercise_id", "entries", "case"),
    [
        (
            "03.2",
            {"verify_rs256_token": wrong.verify_rs256_allowing_hs256},
            "your verifier refuses an HS256",
        ),
    ],
)
def test_a_typeerror_from_hmac_says_hs256_must_not_be_allowed(
    exercise_id: str, entries: dict[str, Any], case: str
) -> None:
    assert "HS256 must not be allowed" in _message(exercise_id, entries, case)


def test_an_hs256_typeerror_in_the_jwks_verifier_is_named_too() -> None:
    def jwks_trusting_header_alg(token: str, *, fetch_jwks: Any, clock: Any) -> Any:
        import jwt

        header = jwt.get_unverified_header(token)
        keys = {key["kid"]: key for key in fetch_jwks(wrong.JWKS_URL)["keys"]}
        if header.get("kid") not in keys or "jku" in header or "jwk" in header:
            raise InvalidToken("unknown kid")
        key = jwt.PyJWK.from_dict(keys[header["kid"]]).key
        return jwt.decode(token, key, algorithms=[header["alg"]], audience=wrong.AUDIENCE)

    entries = {"verify_with_jwks": jwks_trusting_header_alg}
    assert "HS256 must not be allowed" in _message("03.6", entries, "unknown kid, alg none")


def test_async_def_where_a_plain_function_is_expected_is_named_without_a_warning() -> None:
    async def verify_access_token(token: str, *, secret: bytes, clock: Any) -> Any:
        return {}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited coroutine would warn
        message = _message("03.1", {"verify_access_token": verify_access_token}, "a fresh token")
    assert "plain function (no `async`)" in message
