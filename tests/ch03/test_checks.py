"""The chapter 3 checks: the generated lab's stubs are not started, known-wrong code fails the
case that targets its mistake, and the solution notebook's code passes every case in time."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lab_support import (
    assert_not_started,
    assert_passes,
    assert_rejected,
    defined_in,
    exercise_ids,
    lab_namespace,
    names_of,
    solution_namespace,
    wrong_id,
)

from authcourse.clock import FrozenClock, SystemClock
from clouddocs.tokens import (
    InvalidToken,
    KeyRing,
    TokenService,
    TokenSettings,
    new_hs256_key,
)

from . import wrong

SLUG = "03_jwt"
EXERCISES = ["03.1", "03.2", "03.3", "03.4", "03.5", "03.6"]


def test_the_chapter_registers_its_exercises() -> None:
    assert exercise_ids("03") == EXERCISES


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stubs_are_not_started(exercise_id: str) -> None:
    assert_not_started(exercise_id, lab_namespace(SLUG))


# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
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


@pytest.mark.parametrize(
    ("exercise_id", "overrides", "catching_case"),
    KNOWN_WRONG,
    ids=[wrong_id(exercise_id, overrides) for exercise_id, overrides, _ in KNOWN_WRONG],
)
def test_known_wrong_is_caught(
    exercise_id: str, overrides: dict[str, Any], catching_case: str
) -> None:
    # On top of the solution, so the case can only fail because of the one mistake.
    assert_rejected(exercise_id, {**solution_namespace(SLUG), **overrides}, catching_case)


def test_every_known_wrong_implementation_is_tested() -> None:
    tested = names_of(overrides for _, overrides, _ in KNOWN_WRONG)
    assert defined_in(wrong) == tested


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_solution_notebook_passes_every_case(exercise_id: str) -> None:
    assert_passes(exercise_id, solution_namespace(SLUG))


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
