"""Passwords: length rules, the common-password list, no truncation, Unicode normalisation,
and never echoing a password back."""

from __future__ import annotations

import secrets
import string
import unicodedata

from authcourse.audit.checks import accepted, refused, require
from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe

#: Very common passwords that are still 15 characters long, so that a length rule cannot
#: be what refuses them. Both are in every breached-password corpus.
COMMON_LONG_PASSWORDS = ("qwertyuiop12345", "basketball12345")
_ALPHABET = string.ascii_letters + string.digits


def random_password(length: int) -> str:
    """Random letters and digits: never on a blocklist, never built from context words."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


async def _control(ctx: Context) -> None:
    """A good password must be accepted, or the refusals below prove nothing."""
    good = random_password(max(ctx.target.min_password_length, 15) + 5)
    _, response = await ctx.register(good)
    if not response.is_success:
        ctx.cite(response, "signing up with a good random password")
        raise NotApplicable(f"sign-up refused a good random password ({response.status_code})")


@probe(
    "passwords.min_length",
    "Sign-up refuses passwords shorter than the minimum (15 when passwords are the only factor)",
    "checklist: minimum length 15 (NIST SP 800-63B rev 4)",
    "ASVS 5.0 6.2.1",
)
async def min_length(ctx: Context) -> Verdict:
    await _control(ctx)
    minimum = ctx.target.min_password_length
    short = random_password(minimum - 1)
    _, response = await ctx.register(short)
    ctx.cite(response, f"signing up with a random {minimum - 1}-character password")
    if accepted(response):
        return failed(f"a {minimum - 1}-character password was accepted (minimum: {minimum})")
    return passed(f"{minimum - 1} characters refused ({response.status_code})")


@probe(
    "passwords.long_allowed",
    "Sign-up accepts a 64-character passphrase",
    "checklist: at least 64 allowed",
    "ASVS 5.0 6.2.9",
)
async def long_allowed(ctx: Context) -> Verdict:
    words = [random_password(7) for _ in range(8)]
    phrase = " ".join(words)[:64]
    _, response = await ctx.register(phrase)
    ctx.cite(response, "signing up with a 64-character passphrase")
    if not response.is_success:
        return failed(f"a 64-character passphrase was refused ({response.status_code})")
    return passed("a 64-character passphrase is accepted")


@probe(
    "passwords.max_bounded",
    "Sign-up refuses absurdly long passwords (hashing them is a denial of service)",
    "checklist: maximum 128 against DoS",
)
async def max_bounded(ctx: Context) -> Verdict:
    await _control(ctx)
    huge = random_password(100_000)
    _, response = await ctx.register(huge)
    ctx.cite(response, "signing up with a 100,000-character password")
    if not refused(response):
        return failed(
            f"a 100,000-character password was answered {response.status_code}, not refused"
        )
    return passed(f"refused ({response.status_code})")


@probe(
    "passwords.common_refused",
    "Sign-up refuses very common passwords",
    "checklist: common-password refusal",
    "ASVS 5.0 6.2.4",
)
async def common_refused(ctx: Context) -> Verdict:
    await _control(ctx)
    for common in COMMON_LONG_PASSWORDS:
        _, response = await ctx.register(common)
        ctx.secrets.discard(common)  # public knowledge: show it in the evidence
        if accepted(response):
            ctx.cite(response, f"signing up with {common!r}")
            return failed(f"the common password {common!r} was accepted")
    return passed(f"{len(COMMON_LONG_PASSWORDS)} very common 15-character passwords refused")


@probe(
    "passwords.no_truncation",
    "Every character of a long password counts (no 72-byte bcrypt truncation)",
    "checklist: bcrypt truncates at 72 bytes",
    "ASVS 5.0 6.2.8",
)
async def no_truncation(ctx: Context) -> Verdict:
    password = random_password(80)
    response, username = await ctx.register_and_login(password)
    require(response.is_success, f"logging in after sign-up failed ({response.status_code})")
    impostor = password[:72] + random_password(8)
    attempt = await ctx.login(username=username, password=impostor)
    ctx.cite(attempt, "logging in with the first 72 characters and a different tail")
    if accepted(attempt):
        return failed("a password differing only after byte 72 logged in: it is truncated")
    return passed("a different tail after byte 72 is refused")


@probe(
    "passwords.unicode_normalised",
    "Unicode passwords are normalised (é typed composed or decomposed logs in)",
    "NIST SP 800-63B rev 4 §3.1.1.2",
)
async def unicode_normalised(ctx: Context) -> Verdict:
    composed = unicodedata.normalize("NFC", "Crème brûlée à " + random_password(12))
    response, username = await ctx.register_and_login(composed)
    require(response.is_success, f"logging in after sign-up failed ({response.status_code})")
    decomposed = unicodedata.normalize("NFD", composed)
    attempt = await ctx.login(username=username, password=decomposed)
    ctx.cite(attempt, "logging in with the same password in decomposed form (NFD)")
    if not attempt.is_success:
        return failed(
            "the same password typed with decomposed accents was refused: normalise"
            " (NFKC) before hashing, or users on some keyboards are locked out"
        )
    return passed("composed and decomposed forms both log in")


@probe(
    "passwords.not_echoed",
    "A refused password is never echoed back in the error body",
    "checklist: generic error bodies",
)
async def not_echoed(ctx: Context) -> Verdict:
    marker = "Echo" + random_password(300)
    ctx.remember(marker)
    checked = 0
    if ctx.target.login is not None:
        response = await ctx.login(username="nobody@example.com", password=marker)
        checked += 1
        if marker in response.text:
            ctx.cite(response, "a login with a 304-character password")
            return failed(f"the login error ({response.status_code}) repeats the password sent")
    if ctx.target.registration is not None:
        _, response = await ctx.register(marker)
        checked += 1
        if marker in response.text:
            ctx.cite(response, "a sign-up with a 304-character password")
            return failed(f"the sign-up error ({response.status_code}) repeats the password sent")
    require(checked, "the target names neither a login nor a registration route")
    return passed("error bodies never contain the password")
