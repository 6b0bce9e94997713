"""``await audit(app, target)``: run the probes against an app in-process and collect a report."""

from __future__ import annotations

import contextlib
import importlib
import time
import traceback
from collections.abc import Iterable

from starlette.types import ASGIApp

from authcourse.audit.context import Context
from authcourse.audit.framework import GROUPS, REGISTRY, NotApplicable, Probe, Result, Status
from authcourse.audit.report import Report
from authcourse.audit.target import Target
from authcourse.client import lifespan

#: The modules that register probes, one per checklist group.
PROBE_MODULES = (
    "transport",
    "passwords",
    "bruteforce",
    "sessions",
    "jwt",
    "refresh",
    "apikeys",
    "authorization",
    "access_models",
    "oauth_client",
    "provider",
    "logging",
)


def all_probes() -> list[Probe]:
    """Every registered probe, in the order the audit runs them."""
    for name in PROBE_MODULES:
        importlib.import_module(f"authcourse.audit.{name}")
    group_rank = {group: rank for rank, group in enumerate(GROUPS)}
    return sorted(REGISTRY.values(), key=lambda p: (p.order, group_rank[p.group]))


def select(only: str | Iterable[str] | None = None) -> list[Probe]:
    """The probes ``only`` names: group names, probe ids, or id prefixes (``jwt.alg``)."""
    probes = all_probes()
    if only is None:
        return probes
    wanted = [only] if isinstance(only, str) else list(only)
    chosen = [
        p for p in probes if any(p.group == w or p.id == w or p.id.startswith(w) for w in wanted)
    ]
    unknown = [w for w in wanted if not any(p.group == w or p.id.startswith(w) for p in probes)]
    if unknown:
        raise ValueError(
            f"no probe or group called {', '.join(unknown)}; groups: {', '.join(GROUPS)}"
        )
    return chosen


async def audit(
    app: ASGIApp | None,
    target: Target,
    *,
    only: str | Iterable[str] | None = None,
    url: str | None = None,
) -> Report:
    """Run the selected probes (all by default) against ``app`` and return the report.

    In-process, the app's lifespan runs once around the whole audit and each probe gets
    its own client address (``198.51.100.x``), so rate limits tripped by one probe do not
    leak into the next. With ``url`` the probes talk to a running server instead (``app``
    may then be None; the route inventory needs it): every request comes from one
    address, so the instance under test needs generous per-IP limits. Run it against a
    test instance: probes register accounts, lock one, rotate and revoke credentials.
    """
    if app is None and url is None:
        raise ValueError("audit() needs an app, a url, or both")
    probes = select(only)
    secrets: set[str] = set()
    results: list[Result] = []
    started = time.perf_counter()
    async with lifespan(app) if url is None and app is not None else contextlib.nullcontext():
        for index, chosen in enumerate(probes):
            ip = f"198.51.{100 + index // 250}.{index % 250 + 1}"
            context = Context(app, target, client_ip=ip, secrets=secrets, url=url)
            results.append(await _run(chosen, context))
    return Report(
        name=target.name or url or type(app).__name__,
        results=results,
        seconds=time.perf_counter() - started,
    )


async def _run(chosen: Probe, context: Context) -> Result:
    started = time.perf_counter()
    try:
        verdict = await chosen.run(context)
        status, summary = verdict.status, verdict.summary
    except NotApplicable as reason:
        status, summary = Status.NOT_APPLICABLE, str(reason)
    except Exception as error:  # a crashing probe is reported, never hides the others
        status = Status.ERROR
        summary = f"the probe crashed: {type(error).__name__}: {error}"
        context.note(traceback.format_exc(limit=3))
    finally:
        await context.close()
    return Result(
        id=chosen.id,
        group=chosen.group,
        title=chosen.title,
        status=status,
        summary=context.mask(summary),
        refs=chosen.refs,
        evidence=tuple(context.evidence),
        seconds=time.perf_counter() - started,
    )
