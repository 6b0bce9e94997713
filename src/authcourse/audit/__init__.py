"""The pre-launch checklist as probes against any ASGI app: ``await audit(app, target)``.

A ``Target`` says what the audit cannot guess (accounts, routes, hooks); each probe
sends real requests in-process and reports pass, fail or not applicable, with the
exchanges that show it (secrets masked) and the checklist item or standard section it
enforces. ``python -m authcourse audit module:app --target module:target`` does the
same from a shell and exits 1 when a probe fails.
"""

from authcourse.audit.framework import GROUPS, Result, Status
from authcourse.audit.report import Report
from authcourse.audit.runner import all_probes, audit
from authcourse.audit.target import (
    Account,
    ApiKeys,
    AuditEvents,
    Auth,
    AuthorizationServer,
    ClientRegistration,
    Collection,
    IssuedKey,
    Login,
    MemberRoles,
    ObjectRoute,
    Refresh,
    Registration,
    RelyingParty,
    Route,
    SecondTenant,
    Sharing,
    Target,
    WhoAmI,
)

__all__ = [
    "GROUPS",
    "Account",
    "ApiKeys",
    "AuditEvents",
    "Auth",
    "AuthorizationServer",
    "ClientRegistration",
    "Collection",
    "IssuedKey",
    "Login",
    "MemberRoles",
    "ObjectRoute",
    "Refresh",
    "Registration",
    "RelyingParty",
    "Report",
    "Result",
    "Route",
    "SecondTenant",
    "Sharing",
    "Status",
    "Target",
    "WhoAmI",
    "all_probes",
    "audit",
]
