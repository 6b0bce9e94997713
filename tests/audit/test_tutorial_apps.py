"""The audit finds what tutorial-style auth gets wrong, with evidence a reader can act on.

The blog-style app gets a full audit (one of the two full audits in the suite); the
FastAPI-docs-style app is audited group by group where its flaws live.
"""

import pytest

from authcourse.audit import Status, audit

from .tutorial_apps import blog_style_app, blog_style_target, docs_style_app, docs_style_target

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


def _failed(report: object) -> set[str]:
    return set(report.by_status(Status.FAIL))  # type: ignore[attr-defined]


async def test_full_audit_of_a_blog_style_app_finds_its_flaws() -> None:
    report = await audit(blog_style_app(), blog_style_target())
    failed = _failed(report)
    assert {
        "jwt.weak_secret",  # SECRET = "secret"
        "jwt.lifetime",  # 30-minute tokens
        "bruteforce.ip_rate_limit",  # no rate limit
        "bruteforce.lockout",
        "refresh.rotation",  # the same refresh token forever
        "refresh.reuse_revokes_family",
        "refresh.cookie_flags",  # in the JSON body
        "jwt.refresh_not_access",  # no token type
        "bruteforce.login_same_answer",  # "User not found" vs "Incorrect password"
        "bruteforce.login_timing",  # no hash for unknown users
        "bruteforce.registration_same_answer",
        "passwords.no_truncation",  # password.encode()[:72]
        "authorization.mass_assignment",  # is_admin on the sign-up model
    } <= failed
    assert report.counts["error"] == 0
    assert "the word 'secret'" in report["jwt.weak_secret"].summary
    assert "30 min" in report["jwt.lifetime"].summary
    enumeration = "\n".join(report["bruteforce.login_same_answer"].evidence)
    assert "User not found" in enumeration and "Incorrect password" in enumeration
    # Evidence never shows the passwords or tokens the audit used.
    everything = report.to_json()
    assert "alice-long-password-123" not in everything
    assert report.exit_code == 1


async def test_docs_style_app_group_by_group() -> None:
    report = await audit(
        docs_style_app(), docs_style_target(), only=["jwt", "bruteforce", "authorization"]
    )
    failed = _failed(report)
    assert {
        "jwt.weak_secret",
        "jwt.lifetime",
        "bruteforce.ip_rate_limit",
        "bruteforce.lockout",
        "bruteforce.login_timing",
        "bruteforce.registration_same_answer",
        "authorization.bola",
    } <= failed
    assert "FastAPI docs' example SECRET_KEY" in report["jwt.weak_secret"].summary
    # What the docs get right is not reported as wrong.
    assert report["bruteforce.login_same_answer"].status is Status.PASS
    assert report["jwt.alg_none"].status is Status.PASS
    assert report["authorization.route_inventory"].status is Status.PASS
