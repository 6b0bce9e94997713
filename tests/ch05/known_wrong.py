"""Chapter 5's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

from . import wrong

SLUG = "05_oauth2"
EXERCISES = ["05.1", "05.2", "05.3", "05.4", "05.5", "05.6"]

KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("05.1", {"make_verifier": wrong.verifier_from_random}, "verifiers come from `secrets`"),
    ("05.1", {"challenge_for": wrong.plain_challenge}, "the challenge is a hash"),
    ("05.2", {"build_authorize_url": wrong.url_without_method}, "the URL asks for code_challenge"),
    ("05.2", {"build_authorize_url": wrong.url_by_concatenation}, "every value is URL-encoded"),
    ("05.3", {"finish_login": wrong.finish_without_state}, "a callback carrying another login"),
    ("05.3", {"finish_login": wrong.finish_with_equals}, "state is compared in constant time"),
    ("05.3", {"finish_login": wrong.finish_only_if_state_present}, "a callback without state"),
    ("05.3", {"finish_login": wrong.finish_ignoring_errors}, "an error callback"),
    ("05.3", {"finish_login": wrong.finish_trusting_any_answer}, "a token endpoint that says no"),
    ("05.3", {"finish_login": wrong.finish_refusing_every_callback}, "a genuine callback"),
    ("05.4", {"TokenCache": wrong.CacheWithoutSkew}, "a token is never used within"),
    ("05.4", {"TokenCache": wrong.CacheWithoutLock}, "50 concurrent callers"),
    ("05.4", {"TokenCache": wrong.CacheLockWithoutSecondLook}, "50 concurrent callers"),
    ("05.4", {"TokenCache": wrong.CacheIgnoringInvalidate}, "invalidate(token) makes"),
    ("05.4", {"TokenCache": wrong.CacheForgettingAnyToken}, "invalidate(token) makes"),
    ("05.5", {"make_scope_guard": wrong.scope_by_substring}, "scopes match as whole words"),
    ("05.5", {"make_scope_guard": wrong.scope_any_of}, "a route asking for two scopes"),
    ("05.5", {"make_scope_guard": wrong.scope_401}, "a token without the scope gets 403"),
    ("05.5", {"make_scope_guard": wrong.scope_403_without_challenge}, "a token without the scope"),
    ("05.5", {"make_scope_guard": wrong.scope_refusing_everyone}, "a token with the route's"),
    ("05.6", {"check_access_token": wrong.access_without_aud}, "a token minted for another API"),
    ("05.6", {"check_access_token": wrong.access_without_iss}, "a token from another issuer"),
    ("05.6", {"check_access_token": wrong.access_without_typ}, "an ID token (typ JWT)"),
    ("05.6", {"check_access_token": wrong.access_with_wall_clock}, "an expired token is refused"),
    ("05.6", {"check_access_token": wrong.access_without_required_claims}, "a token missing"),
    ("05.6", {"check_access_token": wrong.access_without_signature}, "only RS256 signatures"),
    ("05.6", {"check_access_token": wrong.access_raising_on_junk}, "malformed input gives None"),
    ("05.6", {"check_access_token": wrong.refuse_every_token}, "a valid access token"),
]
