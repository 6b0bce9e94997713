"""Chapter 1's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

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
