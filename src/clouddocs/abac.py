# Generated from notebooks/07_authorization.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Attribute-based access control: rules over subject, resource and environment attributes.

RBAC answers "may an editor write documents?"; ABAC adds "…this confidential document,
stored in the EU, from the US, at 3 a.m.?". Each rule looks at attributes and either denies
with a reason or passes; the first denial wins (deny-overrides), and only when every rule
passes is the answer *allow*. The reason is part of the answer: it goes to the audit log,
and (sanitised) to the user who asks why.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, time

from clouddocs.rbac import Role, has_permission


class Classification(enum.IntEnum):
    """Ordered: a clearance of CONFIDENTIAL covers PUBLIC, INTERNAL and CONFIDENTIAL."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3


@dataclass(frozen=True)
class Subject:
    user_id: int
    tenant_id: int
    role: Role
    clearance: Classification
    region: str  # where the user works from, e.g. "eu", "us"


@dataclass(frozen=True)
class Resource:
    tenant_id: int
    owner_id: int
    classification: Classification
    region: str  # where the data must stay


@dataclass(frozen=True)
class Environment:
    now: datetime  # from the injected clock, never datetime.now()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # which rule decided: "tenant", "clearance", ... or "allow"
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


#: Actions and the RBAC permission each needs.
ACTION_PERMISSIONS = {"read": "documents:read", "write": "documents:write", "delete": "documents:delete"}
#: Changes to CONFIDENTIAL and above happen on weekdays, 08:00-18:00 UTC.
BUSINESS_HOURS = (time(8, 0), time(18, 0))


def decide(subject: Subject, action: str, resource: Resource, environment: Environment) -> Decision:
    """Allow or deny ``action`` on ``resource``, with the rule and the reason that decided."""
    if action not in ACTION_PERMISSIONS:
        return Decision(False, "action", f"unknown action {action!r}")
    if subject.tenant_id != resource.tenant_id:
        return Decision(False, "tenant", "the document belongs to another tenant")
    permission = ACTION_PERMISSIONS[action]
    if not has_permission(subject.role, permission):
        return Decision(False, "role", f"role {subject.role} lacks {permission}")
    if resource.classification > subject.clearance:
        return Decision(
            False,
            "clearance",
            f"classification {resource.classification.name} is above clearance "
            f"{subject.clearance.name}",
        )
    sensitive = resource.classification >= Classification.CONFIDENTIAL
    if sensitive and subject.region != resource.region:
        return Decision(
            False, "region", f"{resource.classification.name} data stays in region {resource.region}"
        )
    if sensitive and action != "read" and not in_business_hours(environment.now):
        return Decision(
            False, "hours", "changes to sensitive documents only on weekdays 08:00-18:00 UTC"
        )
    return Decision(True, "allow", f"{subject.role} may {action} this document")


def in_business_hours(now: datetime) -> bool:
    start, end = BUSINESS_HOURS
    return now.weekday() < 5 and start <= now.time() < end


import cedarpy

from clouddocs.rbac import ROLE_PERMISSIONS

#: The same policy in Cedar. Each statement is one rule; Cedar reports which ones decided.
#: Cedar denies by default and a ``forbid`` beats any ``permit`` (deny-overrides, as above).
CEDAR_POLICIES: dict[str, str] = {
    "allow": 'permit(principal, action, resource) when { principal.permissions.contains(context.permission) };',
    "tenant": "forbid(principal, action, resource) unless { principal.tenant == resource.tenant };",
    "clearance": "forbid(principal, action, resource) when { resource.classification > principal.clearance };",
    "region": "forbid(principal, action, resource) when { resource.classification >= 2 && principal.region != resource.region };",
    "hours": 'forbid(principal, action, resource) when { resource.classification >= 2 && action != Action::"read" && !context.business_hours };',
}


def cedar_decide(subject: Subject, action: str, resource: Resource, environment: Environment) -> Decision:
    """:func:`decide`, asked of Cedar: same attributes in, decision and deciding rules out."""
    policy_ids = {f"policy{i}": name for i, name in enumerate(CEDAR_POLICIES)}
    entities = [
        {
            "uid": {"type": "User", "id": str(subject.user_id)},
            "attrs": {
                "tenant": subject.tenant_id,
                "clearance": int(subject.clearance),
                "region": subject.region,
                "permissions": sorted(ROLE_PERMISSIONS[subject.role]),
            },
            "parents": [],
        },
        {
            "uid": {"type": "Document", "id": "resource"},
            "attrs": {
                "tenant": resource.tenant_id,
                "classification": int(resource.classification),
                "region": resource.region,
            },
            "parents": [],
        },
    ]
    request = {
        "principal": f'User::"{subject.user_id}"',
        "action": f'Action::"{action}"',
        "resource": 'Document::"resource"',
        "context": {
            "permission": ACTION_PERMISSIONS.get(action, ""),
            "business_hours": in_business_hours(environment.now),
        },
    }
    result = cedarpy.is_authorized(request, "\n".join(CEDAR_POLICIES.values()), entities)
    rules = sorted(policy_ids[reason] for reason in result.diagnostics.reasons)
    allowed = bool(result.allowed)
    decided_by = ", ".join(rules) or "no permit matched (default deny)"
    return Decision(allowed, ",".join(rules) or "default", f"decided by: {decided_by}")
