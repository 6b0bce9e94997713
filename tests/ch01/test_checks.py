"""The chapter 1 checks reject the generated lab's stubs and every known-wrong implementation,
and accept the solution notebook's code.
"""

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

from . import wrong

SLUG = "01_mental_model"
EXERCISES = ["01.1", "01.2", "01.3", "01.4", "01.5"]

# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    (
        "01.1",
        {"require_scope": wrong.scope_401_for_missing_scope},
        "a valid token without the scope",
    ),
    (
        "01.1",
        {"require_scope": wrong.scope_403_without_challenge},
        "a valid token without the scope",
    ),
    ("01.1", {"require_scope": wrong.scope_substring_match}, "a valid token without the scope"),
    ("01.1", {"require_scope": wrong.scope_403_when_no_token}, "no credentials"),
    ("01.1", {"require_scope": wrong.scope_bare_401}, "no credentials"),
    ("01.2", {"fetch_document": wrong.fetch_case_insensitive_email}, "a user whose email differs"),
    ("01.2", {"fetch_document": wrong.fetch_403_across_tenants}, "another tenant's document"),
    (
        "01.2",
        {"fetch_document": wrong.fetch_hidden_404_with_other_body},
        "same tenant, not the owner",
    ),
    ("01.2", {"fetch_document": wrong.fetch_without_owner_check}, "same tenant, not the owner"),
    ("01.3", {"security_headers": wrong.headers_short_hsts}, "HSTS with max-age"),
    ("01.3", {"security_headers": wrong.headers_only_on_success}, "HSTS with max-age"),
    ("01.3", {"security_headers": wrong.headers_no_store_only_with_authorization}, "Cache-Control"),
    ("01.3", {"security_headers": wrong.headers_no_store_skips_403}, "Cache-Control"),
    ("01.3", {"security_headers": wrong.headers_cors_wildcard}, "no CORS wildcard"),
    ("01.3", {"security_headers": wrong.headers_reflect_origin}, "no CORS wildcard"),
    (
        "01.4",
        {"find_unprotected_routes": wrong.inventory_skips_included_routers},
        "included routers are inspected",
    ),
    (
        "01.4",
        {"find_unprotected_routes": wrong.inventory_top_level_only},
        "routes whose dependency tree",
    ),
    (
        "01.4",
        {"find_unprotected_routes": wrong.inventory_path_prefix},
        "paths are judged one route",
    ),
    (
        "01.4",
        {"find_unprotected_routes": wrong.inventory_any_dependency},
        "a dependency that reads",
    ),
    (
        "01.4",
        {"find_unprotected_routes": wrong.inventory_allowlist_by_path},
        "the allow-list is exact",
    ),
    ("01.5", {"impersonation_headers": wrong.attack_with_email_as_token}, "the attack"),
    (
        "01.5",
        {"build_fixed_app": wrong.fix_that_prefers_x_user},
        "the fix: identity comes from the token",
    ),
    (
        "01.5",
        {"build_fixed_app": wrong.fix_token_required_identity_from_header},
        "the fix: identity comes from the token",
    ),
    (
        "01.5",
        {"build_fixed_app": wrong.fix_checked_in_handler_body},
        "the fix: every route is guarded",
    ),
]


def test_the_chapter_registers_its_exercises() -> None:
    assert exercise_ids("01") == EXERCISES


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_stub_is_not_started_in_every_case(exercise_id: str) -> None:
    assert_not_started(exercise_id, lab_namespace(SLUG))


@pytest.mark.parametrize(
    ("exercise_id", "entries", "catching_case"),
    KNOWN_WRONG,
    ids=[wrong_id(exercise_id, entries) for exercise_id, entries, _ in KNOWN_WRONG],
)
def test_every_known_wrong_implementation_fails_its_case(
    exercise_id: str, entries: dict[str, Any], catching_case: str
) -> None:
    assert_rejected(exercise_id, {**solution_namespace(SLUG), **entries}, catching_case)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_solution_notebook_passes_every_case(exercise_id: str) -> None:
    assert_passes(exercise_id, solution_namespace(SLUG))


def test_every_known_wrong_implementation_is_tested() -> None:
    assert defined_in(wrong) == names_of(entries for _, entries, _ in KNOWN_WRONG)
