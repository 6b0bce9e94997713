"""Brute force and enumeration: lockout, the per-IP login limit, and answers (and timings)
that do not reveal which accounts exist."""

from __future__ import annotations

import re
import statistics
from collections.abc import Awaitable, Callable

import httpx2

from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context
from authcourse.audit.framework import Verdict, failed, passed, probe
from authcourse.audit.passwords import random_password

#: Medians further apart than this factor reveal which accounts exist.
TIMING_RATIO = 2.0


def _unknown_user(ctx: Context) -> str:
    return ctx.fresh_username().replace("audit-", "nobody-")


def _shape(response: httpx2.Response, *names: str) -> tuple[int, str]:
    """Status and body with the names sent and any numbers blanked, for comparison."""
    body = response.text
    for name in names:
        body = body.replace(name, "<name>")
    return response.status_code, re.sub(r"\d+", "<n>", body)


@probe(
    "bruteforce.login_same_answer",
    "Login answers a wrong password and an unknown account identically",
    "ASVS 5.0 6.3.8",
)
async def login_same_answer(ctx: Context) -> Verdict:
    user = ctx.account("user")
    unknown = _unknown_user(ctx)
    wrong = ctx.cite(
        await ctx.login(username=user.username, password=random_password(20)),
        "an existing account, wrong password",
    )
    missing = ctx.cite(
        await ctx.login(username=unknown, password=random_password(20)),
        "an unknown account",
    )
    require(not wrong.is_success, "a random password logged in?")
    if _shape(wrong, user.username) != _shape(missing, unknown):
        return failed(
            f"the answers differ ({wrong.status_code} vs {missing.status_code}, or their"
            " bodies): anyone can test which emails have accounts"
        )
    return passed(f"both answered {wrong.status_code} with the same body")


@probe(
    "bruteforce.registration_same_answer",
    "Sign-up answers a taken and a new email identically",
    "checklist: registration does not reveal existing emails",
    "ASVS 5.0 6.3.8",
)
async def registration_same_answer(ctx: Context) -> Verdict:
    user = ctx.account("user")
    password = random_password(24)
    taken_name, taken = await ctx.register(password, username=user.username, complete=False)
    fresh_name, fresh = await ctx.register(random_password(24), complete=False)
    ctx.cite(taken, "signing up with an email that has an account")
    ctx.cite(fresh, "signing up with a new email")
    if _shape(taken, taken_name) != _shape(fresh, fresh_name):
        return failed(
            f"the answers differ ({taken.status_code} vs {fresh.status_code}, or their bodies):"
            " sign-up tells anyone which emails are registered"
        )
    return passed(f"both answered {taken.status_code} with the same body")


async def _measure(
    ctx: Context, send: Callable[[str], Awaitable[httpx2.Response]], ip: str
) -> float:
    meter = ctx.target.meter
    before = meter()
    await send(ip)
    return meter() - before


def _timing_verdict(ctx: Context, label_a: str, a: list[float], label_b: str, b: list[float]) -> Verdict:
    median_a, median_b = statistics.median(a), statistics.median(b)
    ctx.note(
        f"{len(a)} samples each, interleaved; medians: {label_a} {median_a:.6g},"
        f" {label_b} {median_b:.6g} (units of Target.meter)"
    )
    slow, fast = max(median_a, median_b), min(median_a, median_b)
    if slow > 0 and (fast == 0 or slow / fast > TIMING_RATIO):
        ratio = "∞" if fast == 0 else f"{slow / fast:.1f}×"
        return failed(
            f"{label_a} and {label_b} differ by {ratio} in median cost: timing reveals which"
            " accounts exist (hash a dummy password for unknown accounts)"
        )
    return passed(f"medians {median_a:.3g} and {median_b:.3g}: within {TIMING_RATIO}×")


@probe(
    "bruteforce.login_timing",
    "Login costs the same for unknown accounts and wrong passwords (repeated samples)",
    "ASVS 5.0 6.3.8",
)
async def login_timing(ctx: Context) -> Verdict:
    user = ctx.account("user")
    require(ctx.target.login, "the target names no login route (Target.login)")
    known: list[float] = []
    unknown: list[float] = []
    for sample in range(ctx.target.timing_samples):
        ip = f"192.0.2.{sample % 200 + 20}"  # one address per sample: per-IP limits stay quiet

        async def wrong(ip: str) -> httpx2.Response:
            return await ctx.login(username=user.username, password=random_password(20), client_ip=ip)

        async def nobody(ip: str) -> httpx2.Response:
            return await ctx.login(username=_unknown_user(ctx), password=random_password(20), client_ip=ip)

        known.append(await _measure(ctx, wrong, ip))
        unknown.append(await _measure(ctx, nobody, ip))
        if sample % 2 == 1:  # a correct login clears the failure counter: no lockout here
            await ctx.login(user, client_ip=ip)
    return _timing_verdict(ctx, "wrong password", known, "unknown account", unknown)


@probe(
    "bruteforce.registration_timing",
    "Sign-up costs the same for taken and new emails (repeated samples)",
    "ASVS 5.0 6.3.8",
)
async def registration_timing(ctx: Context) -> Verdict:
    user = ctx.account("user")
    require(ctx.target.registration, "the target names no registration route")
    taken: list[float] = []
    fresh: list[float] = []
    for _ in range(ctx.target.timing_samples):

        async def existing(ip: str) -> httpx2.Response:
            return (await ctx.register(random_password(24), username=user.username, complete=False))[1]

        async def new(ip: str) -> httpx2.Response:
            return (await ctx.register(random_password(24), complete=False))[1]

        taken.append(await _measure(ctx, existing, ctx.client_ip))
        fresh.append(await _measure(ctx, new, ctx.client_ip))
    return _timing_verdict(ctx, "taken email", taken, "new email", fresh)


async def _spray_until_429(ctx: Context) -> tuple[httpx2.Response | None, int]:
    """Wrong passwords for ever-new accounts from one address, until a 429 (or the burst)."""
    burst = ctx.target.login_ip_burst
    for attempt in range(1, burst + 2):
        response = await ctx.login(username=_unknown_user(ctx), password=random_password(16))
        if response.status_code == 429:
            return response, attempt
    return None, burst + 1


@probe(
    "bruteforce.ip_rate_limit",
    "Login answers 429 to one address that keeps guessing across accounts",
    "checklist: per-IP rate limit on login",
    "ASVS 5.0 6.3.1",
    "RFC 6585 §4",
    order=900,
)
async def ip_rate_limit(ctx: Context) -> Verdict:
    require(ctx.target.login, "the target names no login route (Target.login)")
    limited, attempts = await _spray_until_429(ctx)
    if limited is None:
        ctx.note(f"{attempts} failed logins for different accounts from {ctx.client_ip}: no 429")
        return failed(f"{attempts} guesses from one address and never a 429: spraying is free")
    ctx.cite(limited, f"attempt {attempts} from one address")
    return passed(f"429 after {attempts} attempts from one address")


@probe(
    "bruteforce.retry_after",
    "The login's 429 says when to retry (Retry-After)",
    "RFC 6585 §4",
    "RFC 9110 §10.2.3",
    order=901,
)
async def retry_after(ctx: Context) -> Verdict:
    require(ctx.target.login, "the target names no login route (Target.login)")
    limited, attempts = await _spray_until_429(ctx)
    require(limited, f"no 429 within {attempts} attempts (see bruteforce.ip_rate_limit)")
    assert limited is not None
    ctx.cite(limited, f"attempt {attempts}")
    value = limited.headers.get("retry-after", "")
    if not value.strip().isdigit():
        return failed("the 429 has no Retry-After header with a number of seconds")
    return passed(f"Retry-After: {value}")


@probe(
    "bruteforce.lockout",
    "An account is locked after repeated wrong passwords, even for the right one next",
    "checklist: failed attempts tracked, lockout after 5",
    "ASVS 5.0 6.3.1",
    order=890,  # before the per-IP probes: over a URL their 429 would mask a missing lockout
)
async def lockout(ctx: Context) -> Verdict:
    victim = ctx.account("spare")
    require(ctx.target.login, "the target names no login route (Target.login)")
    control = await ctx.login(victim, client_ip="192.0.2.250")
    require(control.is_success, f"the spare account cannot log in ({control.status_code})")
    failures = ctx.target.lockout_after
    for attempt in range(failures + 1):
        # A new address per guess, as a botnet would: only a per-account counter can stop it.
        await ctx.login(
            username=victim.username, password=random_password(18), client_ip=f"203.0.113.{attempt + 100}"
        )
    after = await ctx.login(victim, client_ip="192.0.2.251")
    ctx.cite(after, f"the correct password after {failures + 1} wrong ones from other addresses")
    if accepted(after):
        return failed(
            f"still logs in after {failures + 1} wrong passwords: guessing never stops"
        )
    return passed(f"locked after {failures + 1} failures ({after.status_code})")
