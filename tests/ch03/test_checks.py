"""The chapter 3 checks: stubs are not started, known-wrong code fails, correct code passes."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authcourse.checks import Status, run_exercise
from authcourse.checks.core import ExerciseResult, get_exercise
from authcourse.clock import FrozenClock, SystemClock
from clouddocs.tokens import (
    InvalidToken,
    KeyRing,
    TokenService,
    TokenSettings,
    new_hs256_key,
)

from . import wrong


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


async def _async_stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


STUBS = {
    "03.1": {"issue_access_token": _stub, "verify_access_token": _stub},
    "03.2": {"forge_with_public_key": _stub, "verify_rs256_token": _stub},
    "03.3": {"rotate_refresh": _async_stub},
    "03.4": {
        "deny_token": _async_stub,
        "authenticate_request": _async_stub,
        "prune_denylist": _async_stub,
    },
    "03.5": {
        "issue_for_user": _async_stub,
        "log_out_everywhere": _async_stub,
        "token_is_current": _async_stub,
    },
    "03.6": {"verify_with_jwks": _stub},
}


def run(exercise_id: str, namespace: dict[str, Any]) -> ExerciseResult:
    return run_exercise(get_exercise(exercise_id), namespace)


def status_of(result: ExerciseResult, case_start: str) -> Status:
    matches = [case for case in result.cases if case.description.startswith(case_start)]
    assert len(matches) == 1, f"no single case starts with {case_start!r}"
    return matches[0].status


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_stubs_are_not_started(exercise_id: str) -> None:
    result = run(exercise_id, STUBS[exercise_id])
    assert {case.status for case in result.cases} == {Status.NOT_STARTED}, result.cases


# (exercise, namespace overrides on top of a correct-ish base, case that must catch it)
KNOWN_WRONG = [
    ("03.1", {"verify_access_token": wrong.verify_without_algorithms}, "a fresh token"),
    (
        "03.1",
        {"verify_access_token": wrong.verify_signature_off},
        "a token signed with another key",
    ),
    ("03.1", {"verify_access_token": wrong.verify_accepting_none}, "a token with alg none"),
    ("03.1", {"verify_access_token": wrong.verify_no_exp_check}, "an expired token"),
    ("03.1", {"verify_access_token": wrong.verify_no_aud_check}, "a token for another audience"),
    ("03.1", {"verify_access_token": wrong.verify_no_type_check}, "a refresh token"),
    ("03.1", {"verify_access_token": wrong.verify_no_required_claims}, "a token without exp"),
    ("03.1", {"issue_access_token": wrong.issue_one_hour}, "a fresh token"),
    ("03.2", {"forge_with_public_key": wrong.forge_keeping_rs256_header}, "your forged token"),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_trusting_header},
        "your verifier refuses an HS256",
    ),
    ("03.2", {"verify_rs256_token": wrong.verify_rs256_no_exp}, "your verifier refuses alg none"),
    ("03.3", {"rotate_refresh": wrong.rotate_without_reuse_detection}, "replaying a spent token"),
    (
        "03.3",
        {"rotate_refresh": wrong.rotate_refusing_reuse_without_revoking},
        "replaying a spent token",
    ),
    ("03.3", {"rotate_refresh": wrong.rotate_revoking_without_commit}, "replaying a spent token"),
    (
        "03.3",
        {"rotate_refresh": wrong.rotate_ignoring_token_expiry},
        "a refresh token past its own",
    ),
    (
        "03.3",
        {"rotate_refresh": wrong.rotate_ignoring_family_lifetime},
        "a family past its absolute",
    ),
    (
        "03.4",
        {"authenticate_request": wrong.authenticate_checking_denylist_only_at_refresh},
        "a logged-out token is refused",
    ),
    ("03.4", {"deny_token": wrong.deny_without_commit}, "a logged-out token is refused"),
    ("03.4", {"deny_token": wrong.deny_failing_twice}, "denying the same token twice"),
    ("03.4", {"authenticate_request": wrong.authenticate_without_challenge}, "no token"),
    ("03.4", {"authenticate_request": wrong.authenticate_with_403}, "a refresh token or garbage"),
    ("03.4", {"prune_denylist": wrong.prune_never}, "pruning forgets"),
    ("03.4", {"prune_denylist": wrong.prune_at_exp}, "pruning forgets"),
    ("03.4", {"prune_denylist": wrong.prune_everything}, "pruning forgets"),
    ("03.5", {"issue_for_user": wrong.issue_without_version}, "a token carries"),
    ("03.5", {"token_is_current": wrong.token_is_current_wrong_way}, "after log out everywhere"),
    ("03.5", {"token_is_current": wrong.token_is_current_strictly_newer}, "a token carries"),
    (
        "03.5",
        {"token_is_current": wrong.token_is_current_ignoring_missing_claim},
        "a token without a ver claim",
    ),
    (
        "03.5",
        {"token_is_current": wrong.token_is_current_one_version_for_all},
        "log out everywhere for one user",
    ),
    (
        "03.5",
        {"log_out_everywhere": wrong.log_out_everywhere_without_commit},
        "after log out everywhere",
    ),
    (
        "03.5",
        {"log_out_everywhere": wrong.log_out_everywhere_setting_one},
        "logging out everywhere twice",
    ),
    ("03.6", {"verify_with_jwks": wrong.jwks_trusting_jku}, "a token whose jku header"),
    (
        "03.6",
        {"verify_with_jwks": wrong.jwks_trusting_embedded_jwk},
        "a token carrying its own key",
    ),
    ("03.6", {"verify_with_jwks": wrong.jwks_unverified_for_unknown_kid}, "unknown kid"),
]

# Correct companions, so that each known-wrong entry differs from a passing namespace only
# in the one function under test.
CORRECT_PARTS: dict[str, dict[str, Any]] = {
    "03.1": {"issue_access_token": wrong.issue_ok, "verify_access_token": wrong.verify_ok},
    "03.2": {"forge_with_public_key": lambda pem, claims: _forge(pem, claims)},
    "03.4": {
        "deny_token": wrong.deny_ok,
        "authenticate_request": wrong.authenticate_ok,
        "prune_denylist": wrong.prune_ok,
    },
    "03.5": {
        "issue_for_user": wrong.issue_for_user_ok,
        "log_out_everywhere": wrong.log_out_everywhere_ok,
        "token_is_current": wrong.token_is_current_ok,
    },
}


def _forge(public_pem: bytes, claims: dict[str, Any]) -> str:
    import hashlib
    import hmac

    from authcourse.checks.ch03 import _hand_made

    return _hand_made(
        {"alg": "HS256", "typ": "at+jwt"},
        claims,
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )


@pytest.mark.parametrize(("exercise_id", "overrides", "catching_case"), KNOWN_WRONG)
def test_known_wrong_is_caught(
    exercise_id: str, overrides: dict[str, Any], catching_case: str
) -> None:
    namespace = {**STUBS[exercise_id], **CORRECT_PARTS.get(exercise_id, {}), **overrides}
    result = run(exercise_id, namespace)
    assert status_of(result, catching_case) is Status.FAILED, result.cases


@pytest.mark.parametrize("exercise_id", ["03.1", "03.4", "03.5"])
def test_correct_companions_pass(exercise_id: str) -> None:
    # Otherwise a known-wrong entry could "fail" only because its companions are broken.
    result = run(exercise_id, CORRECT_PARTS[exercise_id])
    assert result.status is Status.PASSED, result.cases


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_each_check_answers_within_a_second(exercise_id: str) -> None:
    # With working code where the tests have it, so every case runs to its end.
    namespace = {**STUBS[exercise_id], **CORRECT_PARTS.get(exercise_id, {})}
    start = time.perf_counter()
    run(exercise_id, namespace)
    assert time.perf_counter() - start < 1.0, exercise_id


# --- the reference verifier's own regression tests ---------------------------------------
def _service(clock: Any) -> TokenService:
    return TokenService(
        KeyRing(new_hs256_key("k")), TokenSettings("https://iss.test", "https://aud.test"), clock
    )


def test_expired_token_is_refused_with_the_system_clock() -> None:
    # Issued 20 minutes ago by the real clock's standards: PyJWT's own exp check is off, so
    # this proves our clock-based check runs in production too.
    issued_at = datetime.now(UTC) - timedelta(minutes=20)
    issuer = _service(FrozenClock(issued_at))
    token = issuer.issue("1")
    verifier = TokenService(issuer.keys, issuer.settings, SystemClock())
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_expired_token_is_refused_with_a_frozen_clock() -> None:
    clock = FrozenClock()
    service = _service(clock)
    token = service.issue("1")
    clock.advance(minutes=10, seconds=31)
    with pytest.raises(InvalidToken, match="expired"):
        service.verify(token)


def test_fresh_token_verifies_with_the_system_clock() -> None:
    service = _service(SystemClock())
    assert service.verify(service.issue("1"))["sub"] == "1"


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 5000])
def test_malformed_tokens_are_invalid_not_errors(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        _service(FrozenClock()).verify(garbage)
