"""Every probe catches a deliberately vulnerable variant of the lab app and passes the fixed one.

The lab app (labapp.py) does everything right; each flaw breaks one behaviour. For every
registered probe there is at least one (flaw → fail) case and the flawless app must pass
it: a probe that cannot fail, or that fails a correct app, is caught here. Timing probes
use the lab's counter of hash computations as their meter, so their verdicts are exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from authcourse.audit import Status, all_probes, audit

from .labapp import FLAWS, Lab

# probe id → the flaws (one variant each) that it must catch; the mode picks the target.
CATCHES: dict[str, list[str]] = {
    "transport.hsts": ["no_hsts"],
    "transport.hsts_only_https": ["hsts_over_http"],
    "transport.nosniff": ["no_nosniff"],
    "transport.no_store_authenticated": ["cacheable"],
    "transport.no_store_login": ["login_cacheable"],
    "transport.cors_no_wildcard": ["cors_wildcard"],
    "transport.cors_no_reflection": ["cors_reflect"],
    "transport.credentials_not_in_query": ["token_in_query"],
    "transport.body_limit": ["no_body_limit"],
    "passwords.min_length": ["min8"],
    "passwords.long_allowed": ["long_refused"],
    "passwords.max_bounded": ["no_max"],
    "passwords.common_refused": ["no_blocklist"],
    "passwords.no_truncation": ["truncate72"],
    "passwords.unicode_normalised": ["no_normalize"],
    "passwords.not_echoed": ["echo_password"],
    "bruteforce.login_same_answer": ["enum_messages"],
    "bruteforce.registration_same_answer": ["register_reveals"],
    "bruteforce.login_timing": ["skip_dummy_hash"],
    "bruteforce.registration_timing": ["register_fast_path"],
    "bruteforce.ip_rate_limit": ["no_ip_limit"],
    "bruteforce.retry_after": ["no_retry_after"],
    "bruteforce.lockout": ["no_lockout"],
    "sessions.cookie_secure": ["cookie_insecure"],
    "sessions.cookie_httponly": ["cookie_script"],
    "sessions.cookie_samesite": ["cookie_no_samesite"],
    "sessions.host_prefix": ["cookie_no_prefix"],
    "sessions.new_id_at_login": ["fixation"],
    "sessions.logout_invalidates": ["logout_noop"],
    "sessions.csrf_refused": ["no_csrf"],
    "sessions.idle_timeout": ["no_idle_timeout"],
    "sessions.absolute_timeout": ["no_absolute_timeout"],
    "jwt.alg_none": ["alg_none"],
    "jwt.tampered_claims": ["no_signature_check"],
    "jwt.alg_confusion": ["alg_confusion"],
    "jwt.jwk_header": ["trust_jwk"],
    "jwt.jku_header": ["trust_jku"],
    "jwt.kid_injection": ["kid_path"],
    "jwt.weak_secret": ["weak_secret"],
    "jwt.exp_present": ["no_exp"],
    "jwt.lifetime": ["long_tokens"],
    "jwt.expired_refused": ["no_exp_check"],
    "jwt.nbf_refused": ["no_nbf_check"],
    "jwt.aud_checked": ["no_aud_check"],
    "jwt.iss_checked": ["no_iss_check"],
    "jwt.typ_explicit": ["typ_jwt"],
    "jwt.typ_enforced": ["typ_unchecked"],
    "jwt.refresh_not_access": ["refresh_as_access"],
    "refresh.cookie_flags": ["refresh_in_body", "refresh_cookie_lax"],
    "refresh.rotation": ["no_rotation"],
    "refresh.reuse_revokes_family": ["no_family_revoke"],
    "refresh.logout_revokes": ["logout_keeps_refresh"],
    "apikeys.not_in_query": ["key_in_query"],
    "apikeys.scope_enforced": ["scope_unchecked"],
    "apikeys.expiry": ["key_no_expiry"],
    "apikeys.revocation_instant": ["revocation_cached"],
    "apikeys.per_key_limit": ["no_key_limit"],
    "apikeys.prefix": ["no_key_prefix"],
    "authorization.challenge": ["no_challenge"],
    "authorization.malformed_credentials": ["malformed_500"],
    "authorization.route_inventory": ["unprotected_route"],
    "authorization.bola": ["bola"],
    "authorization.bfla_admin": ["admin_open"],
    "authorization.bfla_methods": ["delete_unchecked"],
    "authorization.not_found_consistency": ["inconsistent_404"],
    "authorization.mass_assignment": ["mass_assignment"],
    "logging.login_succeeded": ["no_login_events"],
    "logging.login_failed": ["no_failure_events"],
    "logging.logout": ["no_logout_event"],
    "logging.refresh": ["no_refresh_event"],
    "logging.authorization_failed": ["no_authz_events"],
    "logging.no_secrets": ["log_secrets"],
}
SESSION_PROBES = {p for p in CATCHES if p.startswith("sessions.") and p != "sessions.logout_invalidates"}
RS256_PROBES = {"jwt.alg_confusion"}


def _lab(probe_id: str, flaws: set[str]) -> tuple[Lab, str]:
    lab = Lab(frozenset(flaws), rs256=probe_id in RS256_PROBES)
    return lab, "session" if probe_id in SESSION_PROBES else "jwt"


async def _status(probe_id: str, flaws: set[str], **target_changes: Any) -> tuple[Status, str]:
    lab, mode = _lab(probe_id, flaws)
    target = lab.target(mode)
    for name, value in target_changes.items():
        setattr(target, name, value)
    report = await audit(lab.app, target, only=probe_id)
    result = report[probe_id]
    return result.status, result.summary + "\n" + "\n".join(result.evidence)


#: Groups whose vulnerable and fixed variants live in their own modules (each of those
#: checks that every probe of its group has a failing variant).
TESTED_ELSEWHERE = {
    "oauth_client": "test_oauth_client_probes.py",
    "provider": "test_provider_probes.py",
    "access_models": "test_access_model_probes.py",
}


def test_every_probe_has_a_vulnerable_variant_and_every_flaw_a_probe() -> None:
    assert {p.id for p in all_probes() if p.group not in TESTED_ELSEWHERE} == set(CATCHES)
    assert {flaw for flaws in CATCHES.values() for flaw in flaws} == set(FLAWS)
    assert len(CATCHES) >= 40


@pytest.mark.anyio
@pytest.mark.parametrize("probe_id", sorted(CATCHES))
async def test_the_fixed_app_passes(probe_id: str) -> None:
    status, details = await _status(probe_id, set())
    assert status is Status.PASS, details


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("probe_id", "flaw"), [(p, f) for p, flaws in sorted(CATCHES.items()) for f in flaws]
)
async def test_the_vulnerable_variant_fails(probe_id: str, flaw: str) -> None:
    status, details = await _status(probe_id, {flaw})
    assert status is Status.FAIL, details


# The claim probes have two ways in: Target.sign, or a weak secret the audit guessed.
@pytest.mark.anyio
async def test_claim_probes_sign_with_a_guessed_weak_secret_when_no_signer_is_given() -> None:
    assert (await _status("jwt.nbf_refused", {"weak_secret"}, sign=None))[0] is Status.PASS
    status, details = await _status("jwt.nbf_refused", {"weak_secret", "no_nbf_check"}, sign=None)
    assert status is Status.FAIL and "guessed secret" in details
    assert (await _status("jwt.nbf_refused", set(), sign=None))[0] is Status.NOT_APPLICABLE


# Without a signer, the expiry probe moves the target's clock instead.
@pytest.mark.anyio
async def test_expiry_probe_uses_the_clock_without_a_signer() -> None:
    assert (await _status("jwt.expired_refused", set(), sign=None))[0] is Status.PASS
    assert (await _status("jwt.expired_refused", {"no_exp_check"}, sign=None))[0] is Status.FAIL


@pytest.mark.anyio
async def test_probes_without_their_inputs_are_not_applicable_and_say_why() -> None:
    lab = Lab(frozenset())
    target = lab.target("jwt")
    target.clock = None
    target.api_keys = None
    target.events = None
    report = await audit(lab.app, target, only=["sessions.idle_timeout", "apikeys", "logging"])
    assert {r.status for r in report.results} == {Status.NOT_APPLICABLE}
    assert "Target.api_keys" in report["apikeys.prefix"].summary
    assert "Target.events" in report["logging.login_failed"].summary


# A multi-step sign-up: the probes that judge the password see the completing answer, the
# enumeration probes only the first one.
@pytest.mark.anyio
async def test_registration_complete_hook_decides_on_the_password() -> None:
    from dataclasses import replace

    lab = Lab(frozenset({"min8"}))
    target = lab.target("jwt")
    completed: list[str] = []

    async def complete(ctx: Any, username: str, password: str) -> Any:
        completed.append(username)
        return await ctx.request("GET", "/health")  # stands in for "activate the account"

    assert target.registration is not None
    target.registration = replace(target.registration, complete=complete)
    report = await audit(lab.app, target, only=["bruteforce.registration_same_answer"])
    assert report["bruteforce.registration_same_answer"].status is Status.PASS
    assert completed == []
    report = await audit(lab.app, target, only=["passwords.min_length"])
    assert completed  # the short password's fate was read from the completing answer
    assert report["passwords.min_length"].status is Status.FAIL
