"""Chapter 8's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``.
"""

from typing import Any

from . import wrong

SLUG = "08_decision_framework"
EXERCISES = ["08.1", "08.2", "08.3", "08.4"]

# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("08.1", {"recommend": wrong.recommend_people_only}, "machines: public API"),
    ("08.1", {"recommend": wrong.recommend_ignoring_identity_source}, "customer IdPs"),
    ("08.1", {"recommend": wrong.recommend_ignoring_identity_source}, "the people rows"),
    ("08.1", {"recommend": wrong.recommend_by_table_lookup}, "combinations in no table"),
    ("08.1", {"recommend": wrong.recommend_always_denylist}, "instant revocation adds"),
    ("08.1", {"recommend": wrong.recommend_without_reasons}, "every part of the stack"),
    ("08.1", {"recommend": wrong.recommend_never_refusing}, "no actors"),
    ("08.2", {"session_or_jwt": wrong.dual_falling_back_to_cookie}, "a bad token next to a good cookie"),
    ("08.2", {"session_or_jwt": wrong.dual_skipping_revocation}, "a revoked token"),
    ("08.2", {"session_or_jwt": wrong.dual_with_bearer_challenge_only}, "with neither"),
    ("08.3", {"service_identity": wrong.identity_trusting_any_header}, "the forged header"),
    ("08.3", {"service_identity": wrong.identity_preferring_the_header}, "the connection's certificate wins"),
    ("08.3", {"service_identity": wrong.identity_crashing_on_garbage}, "no certificate, or garbage"),
    ("08.3", {"service_identity": wrong.identity_401_without_challenge}, "the forged header"),
    ("08.4", {"build_fixed_app": wrong.fixed_without_harden}, "HSTS and nosniff"),
    ("08.4", {"build_fixed_app": wrong.fixed_without_harden}, "no-store on credentialed"),
    ("08.4", {"build_fixed_app": wrong.fixed_without_harden}, "a body past 1 MiB"),
    ("08.4", {"build_fixed_app": wrong.fixed_with_cors_wildcard}, "CORS never"),
    ("08.4", {"build_fixed_app": wrong.fixed_still_reading_the_url}, "the token is refused in the URL"),
]
