"""Chapter 7's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

from . import wrong

SLUG = "07_authorization"
EXERCISES = ["07.1", "07.2", "07.3", "07.4", "07.5", "07.6"]

KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    (
        "07.1",
        {"require_permission": wrong.require_allow_all},
        "a viewer asking for documents:write",
    ),
    (
        "07.1",
        {"require_permission": wrong.require_401_instead_of_403},
        "a viewer asking for documents:write",
    ),
    (
        "07.1",
        {"require_permission": wrong.require_unnamed_403},
        "a viewer asking for documents:write",
    ),
    (
        "07.1",
        {"require_permission": wrong.require_admins_pass_everything},
        "each role gets exactly",
    ),
    (
        "07.1",
        {"require_permission": wrong.require_without_validation},
        "an unknown permission is refused",
    ),
    (
        "07.1",
        {"require_permission": wrong.require_refuse_all},
        "a member asking for documents:write",
    ),
    ("07.2", {"decide": wrong.decide_without_tenant}, "another tenant's document is denied"),
    ("07.2", {"decide": wrong.decide_without_role}, "a viewer asking to write"),
    (
        "07.2",
        {"decide": wrong.decide_without_clearance},
        "a document above the subject's clearance",
    ),
    ("07.2", {"decide": wrong.decide_region_for_all}, "sensitive data outside its region"),
    ("07.2", {"decide": wrong.decide_hours_on_reads}, "changes to sensitive documents outside"),
    ("07.2", {"decide": wrong.decide_clearance_first}, "the rules apply in order"),
    ("07.2", {"decide": wrong.decide_unknown_action_as_read}, "an unknown action is denied"),
    ("07.2", {"decide": wrong.decide_without_reason}, "a member reads an internal document"),
    ("07.2", {"decide": wrong.decide_deny_all}, "a member reads an internal document"),
    ("07.3", {"has_relation": wrong.has_relation_without_visited_set}, "a group cycle ends"),
    ("07.3", {"has_relation": wrong.has_relation_groups_visited_only}, "a folder cycle ends too"),
    ("07.3", {"has_relation": wrong.has_relation_exact_only}, "owner ⇒ editor ⇒ viewer"),
    (
        "07.3",
        {"has_relation": wrong.has_relation_one_group_level},
        "through folders and nested groups",
    ),
    ("07.3", {"has_relation": wrong.has_relation_implied_backwards}, "owner ⇒ editor ⇒ viewer"),
    ("07.3", {"has_relation": wrong.has_relation_anyone_granted}, "an outsider holds nothing"),
    ("07.4", {"list_objects": wrong.list_objects_in_python}, "only the answer leaves the database"),
    (
        "07.4",
        {"list_objects": wrong.list_objects_level_by_level_without_memory},
        "a group cycle in the table",
    ),
    (
        "07.5",
        {
            "readable_document": wrong.readable_fetched_then_checked,
            "editable_document": wrong.editable_fetched_then_checked,
        },
        "another tenant's row never leaves",
    ),
    (
        "07.5",
        {
            "readable_document": wrong.readable_by_id_only,
            "editable_document": wrong.editable_by_id_only,
        },
        "another tenant's document is None",
    ),
    (
        "07.5",
        {"editable_document": wrong.editable_same_as_readable},
        "a member cannot edit someone else's",
    ),
    (
        "07.5",
        {"editable_document": wrong.editable_owner_without_tenant},
        "owning a document in another tenant",
    ),
    (
        "07.5",
        {"readable_document": wrong.readable_owner_without_tenant},
        "owning a document in another tenant",
    ),
    (
        "07.6",
        {"profile_update_model": wrong.profile_model_keeping_extras},
        "a body with role or tenant_id",
    ),
    (
        "07.6",
        {"profile_update_model": wrong.profile_model_with_role},
        "a body with role or tenant_id",
    ),
    ("07.6", {"profile_update_model": wrong.profile_model_unbounded}, "display names of 0 or 201"),
    ("07.6", {"update_profile": wrong.update_every_profile}, "only the caller's own name changes"),
]
