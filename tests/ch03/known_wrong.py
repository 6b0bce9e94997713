"""Chapter 3's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

from . import wrong

SLUG = "03_jwt"
EXERCISES = ["03.1", "03.2", "03.3", "03.4", "03.5", "03.6"]

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
    ("03.1", {"verify_access_token": wrong.verify_refusing_everything}, "a fresh token"),
    ("03.1", {"verify_access_token": wrong.verify_on_the_wall_clock}, "a fresh token"),
    ("03.1", {"verify_access_token": wrong.verify_no_issuer_check}, "a token from another issuer"),
    ("03.1", {"verify_access_token": wrong.verify_typ_exact}, "a token typed application/at+jwt"),
    (
        "03.1",
        {"verify_access_token": wrong.verify_requiring_only_exp},
        "a token without sub, iat or jti",
    ),
    ("03.2", {"forge_with_public_key": wrong.forge_keeping_rs256_header}, "your forged token"),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_trusting_header},
        "your verifier refuses an HS256",
    ),
    ("03.2", {"verify_rs256_token": wrong.verify_rs256_no_exp}, "your verifier refuses alg none"),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_refusing_everything},
        "your verifier accepts a genuine",
    ),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_allowing_hs256},
        "your verifier refuses an HS256",
    ),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_no_typ},
        "your verifier refuses an RS256 refresh",
    ),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_no_aud},
        "your verifier refuses an RS256 token for another audience",
    ),
    (
        "03.2",
        {"verify_rs256_token": wrong.verify_rs256_no_iss},
        "your verifier refuses an RS256 token from another issuer",
    ),
    ("03.3", {"rotate_refresh": wrong.rotate_without_reuse_detection}, "replaying a spent token"),
    (
        "03.3",
        {"rotate_refresh": wrong.rotate_refusing_reuse_without_revoking},
        "replaying a spent token",
    ),
    ("03.3", {"rotate_refresh": wrong.rotate_revoking_without_commit}, "replaying a spent token"),
    ("03.3", {"rotate_refresh": wrong.rotate_read_then_set}, "two rotations of one token"),
    ("03.3", {"rotate_refresh": wrong.rotate_unknown_raises_lookup_error}, "an unknown token"),
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
    ("03.4", {"authenticate_request": wrong.authenticate_refusing_everything}, "a valid token"),
    (
        "03.4",
        {"authenticate_request": wrong.authenticate_denied_as_403},
        "a logged-out token is refused",
    ),
    ("03.4", {"deny_token": wrong.deny_checking_first}, "two logouts of the same token"),
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
    (
        "03.5",
        {"log_out_everywhere": wrong.log_out_everywhere_racy},
        "two first log-outs-everywhere at once",
    ),
    ("03.6", {"verify_with_jwks": wrong.jwks_trusting_jku}, "a token whose jku header"),
    (
        "03.6",
        {"verify_with_jwks": wrong.jwks_trusting_embedded_jwk},
        "a token carrying its own key",
    ),
    ("03.6", {"verify_with_jwks": wrong.jwks_unverified_for_unknown_kid}, "unknown kid"),
    ("03.6", {"verify_with_jwks": wrong.jwks_refusing_everything}, "tokens signed by the issuer"),
    ("03.6", {"verify_with_jwks": wrong.jwks_ignoring_key_headers}, "a token naming a key source"),
    ("03.6", {"verify_with_jwks": wrong.jwks_no_typ_check}, "a token that is not an access token"),
    (
        "03.6",
        {"verify_with_jwks": wrong.jwks_allowing_both_algorithms},
        "each key verifies only with its own alg",
    ),
]
