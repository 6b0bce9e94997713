"""The chapter 1 checks reject the unfinished stub and every known-wrong implementation,
and accept the solution notebook's code.
"""

from pathlib import Path
from typing import Any

import pytest

from authcourse import notebooks
from authcourse.checks.core import Status, get_exercise, run_exercise

from . import wrong

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "01_mental_model.ipynb"


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


async def _async_stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


STUBS: dict[str, dict[str, Any]] = {
    "01.1": {"require_scope": _stub},
    "01.2": {"fetch_document": _async_stub},
    "01.3": {"security_headers": _async_stub},
    "01.4": {"find_unprotected_routes": _stub},
    "01.5": {"impersonation_headers": _stub, "build_fixed_app": _stub},
}


def _solution_namespace() -> dict[str, Any]:
    """Run the solution notebook's setup cell and exercise cells (not its demos)."""
    namespace: dict[str, Any] = {}
    code_cells = [c for c in notebooks.read(SOLUTION).cells if c.cell_type == "code"]
    for cell in [code_cells[0], *(c for c in code_cells if "### BEGIN SOLUTION" in c.source)]:
        exec(compile(cell.source, f"<solution {SOLUTION.name}>", "exec"), namespace)
    return namespace


# (exercise, known-wrong implementation as namespace entries, the case that must catch it)
KNOWN_WRONG = [
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
    (
        "01.5",
        {"impersonation_headers": wrong.attack_with_email_as_token, "build_fixed_app": _stub},
        "the attack",
    ),
    (
        "01.5",
        {"impersonation_headers": _stub, "build_fixed_app": wrong.fix_that_prefers_x_user},
        "the fix: identity comes from the token",
    ),
    (
        "01.5",
        {
            "impersonation_headers": _stub,
            "build_fixed_app": wrong.fix_token_required_identity_from_header,
        },
        "the fix: identity comes from the token",
    ),
    (
        "01.5",
        {"impersonation_headers": _stub, "build_fixed_app": wrong.fix_checked_in_handler_body},
        "the fix: every route is guarded",
    ),
]


def _wrong_name(namespace: dict[str, Any]) -> str:
    return next(value.__name__ for value in namespace.values() if value is not _stub)


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_the_stub_is_not_started_in_every_case(exercise_id: str) -> None:
    result = run_exercise(get_exercise(exercise_id), STUBS[exercise_id])
    statuses = {case.description: case.status for case in result.cases}
    assert set(statuses.values()) == {Status.NOT_STARTED}, statuses


@pytest.mark.parametrize(
    ("exercise_id", "namespace", "catching_case"),
    KNOWN_WRONG,
    ids=[f"{exercise_id}-{_wrong_name(namespace)}" for exercise_id, namespace, _ in KNOWN_WRONG],
)
def test_every_known_wrong_implementation_fails_its_case(
    exercise_id: str, namespace: dict[str, Any], catching_case: str
) -> None:
    result = run_exercise(get_exercise(exercise_id), namespace)
    caught = [case for case in result.cases if case.description.startswith(catching_case)]
    assert len(caught) == 1, f"no single case starts with {catching_case!r}"
    assert caught[0].status is Status.FAILED, (caught[0].status, caught[0].message)
    assert caught[0].message, "a failure must say what was tried and what was expected"


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_the_solution_notebook_passes_every_case(exercise_id: str) -> None:
    result = run_exercise(get_exercise(exercise_id), _solution_namespace())
    failures = [
        (c.description, c.status, c.message) for c in result.cases if c.status is not Status.PASSED
    ]
    assert failures == []


def test_every_known_wrong_implementation_is_tested() -> None:
    tested = {_wrong_name(namespace) for _, namespace, _ in KNOWN_WRONG}
    public = {
        name
        for name, value in vars(wrong).items()
        if callable(value)
        and getattr(value, "__module__", "") == wrong.__name__
        and not name.startswith("_")
    }
    assert public == tested
