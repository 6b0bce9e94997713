"""Probes, their verdicts and the registry the runner reads.

A probe is an async function of a ``Context`` that sends real requests to the app and
returns a ``Verdict``. ``@probe(...)`` registers it with its id, group, title and the
checklist item / standard section it enforces. A probe that cannot run on this target
raises ``NotApplicable`` with the reason (usually the target field that is missing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authcourse.audit.context import Context

#: Report order of the groups; also the names ``--only`` accepts.
GROUPS: dict[str, str] = {
    "transport": "Transport and headers",
    "passwords": "Passwords",
    "bruteforce": "Brute force and enumeration",
    "sessions": "Sessions and CSRF",
    "jwt": "JWT",
    "refresh": "Refresh tokens",
    "apikeys": "API keys",
    "authorization": "Authorization basics",
    "access_models": "Authorization models: tenants, lists, roles, sharing",
    "oauth_client": "OAuth / OpenID Connect clients",
    "provider": "Authorization servers",
    "logging": "Audit logging",
}


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"
    #: The probe itself crashed: nothing was verified (counts as a failure of the audit).
    ERROR = "error"


@dataclass(frozen=True)
class Verdict:
    status: Status
    summary: str


def passed(summary: str) -> Verdict:
    return Verdict(Status.PASS, summary)


def failed(summary: str) -> Verdict:
    return Verdict(Status.FAIL, summary)


class NotApplicable(Exception):
    """Raised by a probe that cannot run on this target; the message says why."""


ProbeFunction = Callable[["Context"], Awaitable[Verdict]]


@dataclass(frozen=True)
class Probe:
    id: str
    group: str
    title: str
    refs: tuple[str, ...]
    run: ProbeFunction = field(repr=False)
    #: Probes run in (group order, order) sequence; destructive ones (lockout) run last.
    order: int = 0


@dataclass(frozen=True)
class Result:
    """One probe's outcome, with the exchanges that show it (secrets masked)."""

    id: str
    group: str
    title: str
    status: Status
    summary: str
    refs: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    seconds: float = 0.0


REGISTRY: dict[str, Probe] = {}


def probe(
    probe_id: str, title: str, *refs: str, order: int = 0
) -> Callable[[ProbeFunction], ProbeFunction]:
    """Register a probe. Its group is the part of ``probe_id`` before the first dot."""
    group = probe_id.split(".", 1)[0]
    if group not in GROUPS:
        raise ValueError(f"unknown probe group {group!r}")

    def register(function: ProbeFunction) -> ProbeFunction:
        if probe_id in REGISTRY:
            raise ValueError(f"probe {probe_id!r} registered twice")
        REGISTRY[probe_id] = Probe(probe_id, group, title, refs, function, order)
        return function

    return register
