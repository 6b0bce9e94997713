"""The ``oauth_client`` probes: each fails against a relying party with one check missing
and passes against the same relying party with every check in place."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
import pytest
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from authcourse.audit import (
    ClientRegistration,
    RelyingParty,
    Route,
    Status,
    Target,
    all_probes,
    audit,
)

EXISTING = "bob@clouddocs.test"


def naive_relying_party(reg: ClientRegistration, flaws: frozenset[str]) -> FastAPI:
    """A small hand-written OpenID Connect client; each flaw switches one check off."""
    app = FastAPI()
    http = httpx2.AsyncClient(transport=reg.transport)
    flows: dict[str, dict[str, str]] = {}
    sessions: dict[str, str] = {}

    async def metadata() -> dict[str, Any]:
        answer = await http.get(reg.issuer + "/.well-known/openid-configuration")
        document: dict[str, Any] = answer.json()
        return document

    @app.get("/login")
    async def login() -> Response:
        flow_id, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        flow = {"state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
                "verifier": verifier}
        flows[flow_id] = flow
        parameters = {"response_type": "code", "client_id": reg.client_id,
                      "redirect_uri": reg.redirect_uri, "scope": "openid email",
                      "state": flow["state"]}
        if "no_nonce_sent" not in flaws:
            parameters["nonce"] = flow["nonce"]
        if "plain_pkce" in flaws:
            parameters |= {"code_challenge": verifier, "code_challenge_method": "plain"}
        elif "no_pkce" not in flaws:
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            parameters |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        if "leak_secret" in flaws:
            parameters["client_secret"] = reg.client_secret
        endpoint = (await metadata())["authorization_endpoint"]
        response = RedirectResponse(f"{endpoint}?{urlencode(parameters)}", status_code=302)
        response.set_cookie("flow", flow_id, httponly=True, secure=True)
        return response

    @app.get("/auth/callback")
    async def callback(request: Request) -> Response:
        flow = flows.pop(request.cookies.get("flow", ""), None)
        query = request.query_params
        if flow is None:
            raise HTTPException(400, "no login in progress")
        if "skip_state" not in flaws and not secrets.compare_digest(
                query.get("state", ""), flow["state"]):
            raise HTTPException(400, "state")
        if "ignore_iss_param" not in flaws and query.get("iss") != reg.issuer:
            raise HTTPException(400, "iss")
        document = await metadata()
        form = {"grant_type": "authorization_code", "code": query.get("code", ""),
                "redirect_uri": reg.redirect_uri}
        if "no_pkce" not in flaws:
            form["code_verifier"] = flow["verifier"]
        answer = await http.post(document["token_endpoint"], data=form,
                                 auth=(reg.client_id, reg.client_secret))
        if answer.status_code != 200:
            raise HTTPException(400, "token")
        id_token = answer.json()["id_token"]
        keys = jwt.PyJWKSet.from_dict((await http.get(document["jwks_uri"])).json())
        try:
            key = keys[jwt.get_unverified_header(id_token)["kid"]].key
            claims = jwt.decode(
                id_token, key, algorithms=["RS256"], audience=reg.client_id,
                issuer=None if "skip_iss" in flaws else reg.issuer,
                options={"verify_aud": "skip_aud" not in flaws,
                         "verify_exp": "skip_exp" not in flaws,
                         "verify_signature": "skip_signature" not in flaws})
        except (jwt.PyJWTError, KeyError):
            if "crash_on_bad_token" in flaws:
                raise
            raise HTTPException(400, "id token") from None
        nonce_checked = not flaws & {"skip_nonce", "no_nonce_sent"}
        if nonce_checked and claims.get("nonce") != flow["nonce"]:
            raise HTTPException(400, "nonce")
        verified = claims.get("email_verified") is True or "link_unverified" in flaws
        email = claims.get("email")
        user = email if email == EXISTING and verified else f"sso-{claims['sub']}"
        session_id = secrets.token_urlsafe(32)
        sessions[session_id] = str(user)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie("sid", session_id, httponly=True, secure=True)
        return response

    @app.get("/me")
    async def me(request: Request) -> Response:
        user = sessions.get(request.cookies.get("sid", ""))
        if user is None:
            return JSONResponse({"detail": "sign in"}, 401,
                                headers={"WWW-Authenticate": 'Cookie realm="rp"'})
        return JSONResponse({"user": user})

    return app


def rp_target(flaws: frozenset[str] = frozenset()) -> Target:
    async def connect(registration: ClientRegistration) -> Any:
        return naive_relying_party(registration, flaws)

    return Target(
        protected=Route("GET", "/me"),
        origin="https://rp.test",
        relying_party=RelyingParty(connect=connect, session_cookie="sid", scope="openid email",
                                   me=Route("GET", "/me"), existing_email=EXISTING),
    )


@pytest.mark.anyio
async def test_a_careful_relying_party_passes_every_client_probe() -> None:
    report = await audit(FastAPI(), rp_target(), only="oauth_client")
    outcomes = {r.id: (r.status, r.summary) for r in report.results}
    assert len(outcomes) == 10
    assert all(status == Status.PASS for status, _ in outcomes.values()), outcomes


FLAWED = [
        ("oauth_client.state", "skip_state"),
        ("oauth_client.nonce", "skip_nonce"),
        ("oauth_client.nonce", "no_nonce_sent"),
        ("oauth_client.pkce", "no_pkce"),
        ("oauth_client.pkce", "plain_pkce"),
        ("oauth_client.id_token_aud", "skip_aud"),
        ("oauth_client.id_token_iss", "skip_iss"),
        ("oauth_client.id_token_exp", "skip_exp"),
        ("oauth_client.id_token_signature", "skip_signature"),
        ("oauth_client.id_token_aud", "crash_on_bad_token"),
        ("oauth_client.email_verified", "link_unverified"),
        ("oauth_client.issuer_mixup", "ignore_iss_param"),
        ("oauth_client.secret_not_in_browser", "leak_secret"),
]


def test_every_client_probe_has_a_flawed_relying_party() -> None:
    assert {p.id for p in all_probes() if p.group == "oauth_client"} == {p for p, _ in FLAWED}


@pytest.mark.anyio
@pytest.mark.parametrize(("probe_id", "flaw"), FLAWED)
async def test_a_relying_party_missing_one_check_fails_its_probe(probe_id: str, flaw: str) -> None:
    report = await audit(FastAPI(), rp_target(frozenset({flaw})), only=probe_id)
    (result,) = report.results
    assert result.status == Status.FAIL, (result.summary, result.evidence)


@pytest.mark.anyio
async def test_the_client_probes_say_why_they_do_not_apply() -> None:
    bare = Target(protected=Route("GET", "/me"))
    report = await audit(FastAPI(), bare, only="oauth_client")
    assert {r.status for r in report.results} == {Status.NOT_APPLICABLE}
    assert all("Target.relying_party" in r.summary for r in report.results)
