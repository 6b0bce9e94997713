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
    # 01.1 require_scope
    ("01.1", {"require_scope": wrong.scope_refuses_everything}, "a valid token with the scope"),
    ("01.1", {"require_scope": wrong.scope_factory_is_async}, "a valid token with the scope"),
    ("01.1", {"require_scope": wrong.scope_403_when_no_token}, "no credentials"),
    ("01.1", {"require_scope": wrong.scope_bare_401}, "no credentials"),
    ("01.1", {"require_scope": wrong.scope_unknown_token_without_error}, "a token that does not"),
    ("01.1", {"require_scope": wrong.scope_other_schemes_answered_400}, "a Basic credential"),
    ("01.1", {"require_scope": wrong.scope_401_for_missing_scope}, "a valid token without"),
    ("01.1", {"require_scope": wrong.scope_403_without_challenge}, "a valid token without"),
    ("01.1", {"require_scope": wrong.scope_substring_match}, "a valid token without"),
    # 01.2 fetch_document
    ("01.2", {"fetch_document": wrong.fetch_refuses_everything}, "the owner gets"),
    ("01.2", {"fetch_document": wrong.fetch_not_async}, "the owner gets"),
    ("01.2", {"fetch_document": wrong.fetch_missing_by_policy}, "a document that does not exist"),
    ("01.2", {"fetch_document": wrong.fetch_without_owner_check}, "same tenant, not the owner"),
    ("01.2", {"fetch_document": wrong.fetch_hidden_404_with_other_body}, "same tenant, not"),
    ("01.2", {"fetch_document": wrong.fetch_403_across_tenants}, "another tenant's document"),
    ("01.2", {"fetch_document": wrong.fetch_case_insensitive_email}, "a user whose email"),
    # 01.3 security_headers
    ("01.3", {"security_headers": wrong.headers_pass_through}, "HSTS with max-age"),
    ("01.3", {"security_headers": wrong.headers_short_hsts}, "HSTS with max-age"),
    ("01.3", {"security_headers": wrong.headers_only_on_success}, "HSTS with max-age"),
    ("01.3", {"security_headers": wrong.headers_only_on_success}, "X-Content-Type-Options"),
    ("01.3", {"security_headers": wrong.headers_no_store_only_with_authorization}, "Cache-Control"),
    ("01.3", {"security_headers": wrong.headers_no_store_skips_403}, "Cache-Control"),
    ("01.3", {"security_headers": wrong.headers_hsts_over_http}, "no HSTS over plain HTTP"),
    ("01.3", {"security_headers": wrong.headers_no_store_everywhere}, "anonymous responses"),
    ("01.3", {"security_headers": wrong.headers_cors_wildcard}, "no CORS wildcard"),
    ("01.3", {"security_headers": wrong.headers_reflect_origin}, "no CORS wildcard"),
    ("01.3", {"security_headers": wrong.headers_rebuild_error_responses}, "responses are other"),
    # 01.4 find_unprotected_routes
    ("01.4", {"find_unprotected_routes": wrong.inventory_async}, "the inventory lists exactly"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_reports_everything}, "routes whose"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_top_level_only}, "routes whose"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_skips_included_routers}, "included"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_any_dependency}, "a dependency that"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_path_prefix}, "paths are judged"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_allowlist_by_path}, "the allow-list"),
    ("01.4", {"find_unprotected_routes": wrong.inventory_skips_docs_routes}, "FastAPI's own"),
    # 01.5 impersonation_headers, build_fixed_app
    ("01.5", {"impersonation_headers": wrong.attack_with_email_as_token}, "the attack"),
    ("01.5", {"build_fixed_app": wrong.fix_refuses_everyone}, "the fix: a valid token"),
    ("01.5", {"build_fixed_app": wrong.fix_built_by_async_factory}, "the fix: a valid token"),
    ("01.5", {"build_fixed_app": wrong.fix_anonymous_gets_empty_list}, "the fix: X-User alone"),
    ("01.5", {"build_fixed_app": wrong.fix_that_prefers_x_user}, "the fix: identity comes"),
    (
        "01.5",
        {"build_fixed_app": wrong.fix_token_required_identity_from_header},
        "the fix: identity comes",
    ),
    ("01.5", {"build_fixed_app": wrong.fix_checked_in_handler_body}, "the fix: every route"),
]
