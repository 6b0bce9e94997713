"""Chapter 6 lab: OpenID Connect.

Every case runs the learner's code for real: ID tokens are signed with real RSA keys, the
JWKS cache is driven with a frozen clock and concurrent lookups, accounts are provisioned in
a fresh SQLite database, and the mix-up attack runs against the course's identity provider.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any
from urllib.parse import urlencode

import jwt

from authcourse.checks import CheckFailed, exercise, expect, expect_equal
from authcourse.checks.ch06_support import (
    ACCESS_TOKEN,
    CLIENT_ID,
    ISSUER,
    KID,
    NONCE,
    NOW,
    CountingFetch,
    asynchronous,
    awaiting,
    calling,
    claims,
    fresh_database,
    id_token,
    jwks,
    plain,
    signing_key,
)
from authcourse.checks.core import Namespace
from authcourse.checks.racing import racing_sessions
from authcourse.clock import FrozenClock
from clouddocs.oidc import OIDCError

# --------------------------------------------------------------------------- 06.1

validate = exercise(
    "06.1",
    "Validate an ID token, claim by claim",
    points=3,
    needs=("validate_id_token",),
    answered_by=("clouddocs.oidc.validate_id_token",),
    hints=(
        "Read the header with jwt.get_unverified_header, refuse any alg outside "
        "SAFE_ALGORITHMS, pick the JWK whose kid matches and verify with "
        "jwt.decode(token, PyJWK(jwk).key, algorithms=[alg], options=...) with the claim "
        "checks switched off: you check them yourself against `now`.",
        "aud may be a string or a list: normalise to a list, require client_id in it, and "
        "when there are several audiences require azp == client_id.",
        "exp: refuse when now >= exp + LEEWAY; iat: refuse when iat > now + LEEWAY; nonce "
        "with hmac.compare_digest; at_hash only when both the claim and an access token "
        "are there: compare with at_hash(access_token, alg).",
    ),
)


def _validate(ns: Namespace, token: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "jwks": jwks(),
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "nonce": NONCE,
        "now": NOW,
        "access_token": ACCESS_TOKEN,
    }
    arguments.update(overrides)
    return plain(ns, "validate_id_token")(token, **arguments)


def _refused(ns: Namespace, token: str, tried: str, why: str, **overrides: Any) -> None:
    try:
        result = _validate(ns, token, **overrides)
    except OIDCError:
        return
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as error:
        expect(False, tried, f"OIDCError ({why})", f"{type(error).__name__}: {error}")
    expect(False, tried, f"OIDCError ({why})", f"the claims {result!r}")


@validate.case("a valid ID token returns its claims", positive=True)
def _(ns: Namespace) -> None:
    result = calling("validating a valid ID token", lambda: _validate(ns, id_token()))
    expect(
        isinstance(result, dict) and result.get("sub") == claims()["sub"],
        "validating a valid ID token",
        "its claims, with sub",
        result,
    )


@validate.case("a token 30 s past exp is accepted (60 s leeway for clock skew)", positive=True)
def _(ns: Namespace) -> None:
    token = id_token(exp=int(NOW) - 30)
    result = calling("validating a token 30 s past exp", lambda: _validate(ns, token))
    expect(isinstance(result, dict), "validating a token 30 s past exp", "its claims", result)


@validate.case("several audiences are accepted when azp names this client")
def _(ns: Namespace) -> None:
    token = id_token(aud=[CLIENT_ID, "https://api.clouddocs.test"], azp=CLIENT_ID)
    tried = "validating a token with aud [client id, an API] and azp = client id"
    result = calling(tried, lambda: _validate(ns, token))
    expect(isinstance(result, dict), tried, "its claims (aud is a list: look inside it)", result)


@validate.case("a token for another client (aud) is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(aud="another-app"), "a token with aud 'another-app'", "wrong audience")
    _refused(
        ns,
        id_token(aud=CLIENT_ID + "-staging"),
        f"a token with aud {CLIENT_ID + '-staging'!r}",
        "aud must contain the client id exactly, not as a substring",
    )


@validate.case("several audiences without azp, or azp naming another client, are refused")
def _(ns: Namespace) -> None:
    both = [CLIENT_ID, "another-app"]
    _refused(ns, id_token(aud=both), "a token with two audiences and no azp", "azp is required")
    _refused(
        ns, id_token(aud=both, azp="another-app"), "a token whose azp is 'another-app'", "azp"
    )


@validate.case("a token from another issuer is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(iss="https://evil.test"), "a token with iss https://evil.test", "iss")
    _refused(ns, id_token(iss=ISSUER + "/"), "a token with iss + '/'", "iss compared exactly")


@validate.case("a token expired beyond the leeway is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(exp=int(NOW) - 61), "a token 61 s past exp", "expired")
    _refused(ns, id_token(exp=int(NOW) - 86400), "a token a day past exp", "expired")
    _refused(ns, id_token(exp=None), "a token without exp", "exp is required")


@validate.case("a token issued in the future (iat beyond the leeway) is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(iat=int(NOW) + 3600), "a token with iat an hour ahead", "iat")


@validate.case("a token with another nonce, or none, is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(nonce="replayed"), "a token with someone else's nonce", "nonce")
    _refused(ns, id_token(nonce=None), "a token without nonce", "nonce required")


@validate.case("a token whose at_hash does not match the access token is refused")
def _(ns: Namespace) -> None:
    _refused(ns, id_token(), "a token with a swapped access token", "at_hash",
             access_token="another-access-token")


@validate.case("alg none, HS256 and keys from elsewhere are refused")
def _(ns: Namespace) -> None:
    unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": KID})
    _refused(ns, unsigned, "a token with alg none", "alg none is never accepted")
    forged = jwt.encode(claims(), b"k" * 32, algorithm="HS256", headers={"kid": KID})
    _refused(ns, forged, "an HS256 token", "only the provider's asymmetric keys")
    signing_key("attacker")
    stranger = jwt.encode(claims(), signing_key("attacker"), algorithm="RS256", headers={"kid": KID})
    _refused(ns, stranger, "a token signed by another key under the provider's kid", "signature")


@validate.case("garbage is refused with OIDCError, not a crash")
def _(ns: Namespace) -> None:
    _refused(ns, "not.a.jwt", "validating 'not.a.jwt'", "malformed")
    _refused(ns, id_token(key_name="unknown-kid"), "a token whose kid is not in the JWKS", "kid")

# --------------------------------------------------------------------------- 06.2

cache = exercise(
    "06.2",
    "A JWKS cache: rotation, one download for many, a refetch limit",
    points=3,
    needs=("JwksCache",),
    answered_by=("clouddocs.oidc.JwksCache",),
    hints=(
        "Keep the keys in a dict by kid. key_for: found → return it. Not found → take an "
        "asyncio.Lock, look again (another task may have downloaded meanwhile), and download "
        "only if the last download is at least refetch_interval seconds old.",
        "Record the download time *before* awaiting fetch(), so tasks queued on the lock see it.",
        "A kid still unknown after all that raises OIDCError; never return None.",
    ),
)


async def _lookup(cache: Any, kid: str, tried: str) -> Any:
    lookup = cache.key_for(kid)
    if not inspect.isawaitable(lookup):
        raise CheckFailed(tried, "`async def key_for(...)`: a lookup may download, so it is "
                          "awaited", "a plain `def key_for`")
    return await awaiting(tried, lookup)


@cache.case("a known kid is found with one download, and again without another", positive=True)
async def _(ns: Namespace) -> None:
    fetch, clock = CountingFetch(), FrozenClock()
    keys = ns["JwksCache"](fetch, clock)
    for attempt in ("first", "second"):
        key = await _lookup(keys, KID, f"the {attempt} key_for({KID!r})")
        expect(isinstance(key, dict) and key.get("kid") == KID,
               f"the {attempt} key_for({KID!r})", "the JWK with that kid", key)
    expect_equal(fetch.calls, 1, "looking the same kid up twice (JWKS downloads)")


@cache.case("after a key rotation the new kid is found", positive=True)
async def _(ns: Namespace) -> None:
    fetch, clock = CountingFetch(), FrozenClock()
    keys = ns["JwksCache"](fetch, clock)
    await _lookup(keys, KID, f"key_for({KID!r})")
    fetch.names = ["key-2027", KID]  # the provider rotated
    clock.advance(seconds=120)
    key = await _lookup(keys, "key-2027", "key_for('key-2027') two minutes after a rotation")
    expect(isinstance(key, dict) and key.get("kid") == "key-2027",
           "key_for('key-2027') after the provider rotated", "the new key", key)


@cache.case("an unknown kid is refused with OIDCError")
async def _(ns: Namespace) -> None:
    keys = ns["JwksCache"](CountingFetch(), FrozenClock())
    try:
        result = await keys.key_for("forged")
    except OIDCError:
        return
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as error:
        expect(False, "key_for('forged')", "OIDCError", f"{type(error).__name__}: {error}")
    expect(False, "key_for('forged')", "OIDCError (never a None key)", result)


async def _unknown(keys: Any) -> None:
    try:
        await keys.key_for("forged")
    except (OIDCError, NotImplementedError):
        pass


@cache.case("unknown kids in a row cause at most one download per interval")
async def _(ns: Namespace) -> None:
    fetch, clock = CountingFetch(), FrozenClock()
    keys = ns["JwksCache"](fetch, clock)
    await _lookup(keys, KID, f"key_for({KID!r})")
    for _ in range(10):
        await _unknown(keys)
        clock.advance(seconds=1)
    expect(fetch.calls <= 2, "ten forged kids, one a second, after the first download",
           "at most one more download (a flood must not hammer the provider)",
           f"{fetch.calls - 1} more downloads")


@cache.case("20 concurrent lookups of a new kid make one download")
async def _(ns: Namespace) -> None:
    fetch, clock = CountingFetch(), FrozenClock()
    keys = ns["JwksCache"](fetch, clock)
    results = await asyncio.gather(*(keys.key_for(KID) for _ in range(20)), return_exceptions=True)
    for result in results:
        if isinstance(result, NotImplementedError):
            raise result
    expect(all(isinstance(r, dict) and r.get("kid") == KID for r in results),
           "20 concurrent key_for() calls on an empty cache", "the key, 20 times", results[:2])
    expect_equal(fetch.calls, 1, "20 concurrent key_for() calls on an empty cache (downloads)")


@cache.case("after the interval, an unknown kid is looked up again")
async def _(ns: Namespace) -> None:
    fetch, clock = CountingFetch(), FrozenClock()
    keys = ns["JwksCache"](fetch, clock)
    await _lookup(keys, KID, f"key_for({KID!r})")
    clock.advance(seconds=30)
    await _unknown(keys)
    fetch.names = ["key-2027"]
    clock.advance(seconds=31)  # 61 s since the first download
    key = await _lookup(keys, "key-2027", "key_for('key-2027') 61 s after the first download")
    expect(isinstance(key, dict) and key.get("kid") == "key-2027",
           "key_for('key-2027') once the interval has passed", "the new key", key)

# --------------------------------------------------------------------------- 06.3

provisioning = exercise(
    "06.3",
    "Provision by (iss, sub), link only what is proved",
    points=3,
    needs=("provision",),
    answered_by=(
        "clouddocs.sso.provision",
        "clouddocs.sso.user_for_identity",
        "clouddocs.sso.link_identity",
    ),
    hints=(
        "Look the (iss, sub) pair up in ExternalIdentity first: a known pair is that user, "
        "whatever the email says today.",
        "New pair: if the email belongs to a user, raise LinkRequired(user_id) when "
        "email_verified is true and AccountConflict() when it is not. Never return that user.",
        "Store the email only when verified (else placeholder_email(iss, sub)). Two first "
        "sign-ins at once: catch IntegrityError, roll back and read the winner's row.",
    ),
)


def _sso_claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "sub": "2001", "email": "ada@acme.test",
                            "email_verified": True, "name": "Ada"}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


async def _provision(ns: Namespace, db: Any, claims_: dict[str, Any], tenant_id: int) -> Any:
    async with db.sessions() as session:
        return await awaiting(f"provision(claims for sub {claims_['sub']})",
                              asynchronous(ns, "provision")(session, claims_, tenant_id=tenant_id))


async def _password_user(db: Any, tenant_id: int, email: str) -> int:
    from clouddocs.db import User

    async with db.sessions() as session:
        user = User(tenant_id=tenant_id, email=email, display_name="Existing")
        session.add(user)
        await session.commit()
        return user.id


@provisioning.case("the same (iss, sub) is the same user, even after an email change",
                   positive=True)
async def _(ns: Namespace) -> None:
    async with fresh_database() as (db, tenant):
        first = await _provision(ns, db, _sso_claims(), tenant)
        again = await _provision(ns, db, _sso_claims(email="ada@new.test"), tenant)
        expect(getattr(first, "id", None) is not None and getattr(again, "id", -1) == first.id,
               "signing in twice with one (iss, sub), the email changed in between",
               "the same user both times", (getattr(first, "id", first), getattr(again, "id", again)))


@provisioning.case("a provider that sends no email still gets an account", positive=True)
async def _(ns: Namespace) -> None:
    async with fresh_database() as (db, tenant):
        user = await _provision(ns, db, _sso_claims(email=None, email_verified=None), tenant)
        expect(getattr(user, "id", None) is not None, "provisioning claims with only iss and sub",
               "a new user", user)


@provisioning.case("another provider's account with the same email is not signed in")
async def _(ns: Namespace) -> None:
    from clouddocs.sso import LinkRequired

    async with fresh_database() as (db, tenant):
        first = await _provision(ns, db, _sso_claims(), tenant)
        other = _sso_claims(iss="https://other-idp.test", sub="9")
        try:
            async with db.sessions() as session:
                user = await asynchronous(ns, "provision")(session, other, tenant_id=tenant)
        except LinkRequired:
            return
        except (NotImplementedError, CheckFailed):
            raise
        except Exception as error:
            user = f"{type(error).__name__}: {error}"
        expect(False, "a second provider vouching for the same (verified) email",
               "LinkRequired: the user proves the existing account first (email is not an "
               "identity)", f"user {getattr(user, 'id', user)} (the first was {first.id})")


@provisioning.case("an unverified email of an existing account raises AccountConflict")
async def _(ns: Namespace) -> None:
    from clouddocs.sso import AccountConflict

    async with fresh_database() as (db, tenant):
        victim = await _password_user(db, tenant, "victim@acme.test")
        attacker = _sso_claims(sub="666", email="victim@acme.test", email_verified=False)
        try:
            async with db.sessions() as session:
                user = await asynchronous(ns, "provision")(session, attacker, tenant_id=tenant)
        except AccountConflict:
            return
        except (NotImplementedError, CheckFailed):
            raise
        except Exception as error:
            user = f"{type(error).__name__}: {error}"
        expect(False, "an attacker's provider account claiming victim@acme.test, unverified",
               "AccountConflict (no takeover, no link)",
               f"user {getattr(user, 'id', user)} (the victim is {victim})")


@provisioning.case("an unverified email is not stored as the user's email")
async def _(ns: Namespace) -> None:
    async with fresh_database() as (db, tenant):
        user = await _provision(ns, db, _sso_claims(email="bob@acme.test", email_verified=False),
                                tenant)
        expect(getattr(user, "email", None) != "bob@acme.test",
               "provisioning claims with email bob@acme.test, email_verified false",
               "a placeholder email (an unverified address must not block its real owner)",
               getattr(user, "email", user))


@provisioning.case("two first sign-ins at once make one user")
async def _(ns: Namespace) -> None:
    async with fresh_database(on_disk=True) as (db, tenant):
        # Sessions that take turns: both look the identity up before either inserts, as two
        # requests on two servers can (checks/racing.py), whatever the machine's load.
        racing = racing_sessions(db)

        async def one() -> Any:
            async with racing() as session:
                return await asynchronous(ns, "provision")(session, _sso_claims(), tenant_id=tenant)

        results = await asyncio.gather(one(), one(), return_exceptions=True)
        for result in results:
            if isinstance(result, NotImplementedError):
                raise result
        ids = [getattr(r, "id", f"{type(r).__name__}: {r}") for r in results]
        expect(ids[0] == ids[1] and isinstance(ids[0], int),
               "two concurrent first sign-ins for one (iss, sub)", "the same user twice", ids)

# --------------------------------------------------------------------------- 06.4

roles = exercise(
    "06.4",
    "Map IdP groups to CloudDocs roles",
    points=1,
    needs=("role_for_groups",),
    answered_by=("clouddocs.sso.role_for_groups",),
    hints=(
        "Keep the roles the mapping gives for the user's groups (exact names), ignore names "
        "that are not in ROLES, and return the most privileged (ROLES.index) or default.",
    ),
)
MAPPING = {"docs-admins": "admin", "docs-editors": "member", "everyone": "viewer",
           "docs-gods": "superuser"}


@roles.case("mapped groups give their role; no groups give the default", positive=True)
def _(ns: Namespace) -> None:
    for groups, expected in ((["docs-editors"], "member"), ([], "viewer")):
        result = calling(f"role_for_groups({groups})",
                         functools.partial(plain(ns, "role_for_groups"), groups, MAPPING))
        expect_equal(result, expected, f"role_for_groups({groups}, mapping)")


@roles.case("the most privileged role wins, whatever the order")
def _(ns: Namespace) -> None:
    groups = ["everyone", "docs-editors", "docs-admins"]
    expect_equal(plain(ns, "role_for_groups")(groups, MAPPING), "admin", f"role_for_groups({groups})")


@roles.case("group names match exactly, and unknown role names are ignored")
def _(ns: Namespace) -> None:
    for groups in (["not-docs-admins"], ["docs-admins-alumni"], ["docs-gods"]):
        expect_equal(plain(ns, "role_for_groups")(groups, MAPPING), "viewer",
                     f"role_for_groups({groups}) (no exact match to a real role)")

# --------------------------------------------------------------------------- 06.5

mixup = exercise(
    "06.5",
    "Attack then fix: issuer mix-up (RFC 9207)",
    points=3,
    needs=("mix_up_url", "check_authorization_response"),
    answered_by=("clouddocs.oidc.check_authorization_response",),
    hints=(
        "The attack: keep every query parameter of the URL CloudDocs built for the evil "
        "provider (state, nonce, code_challenge, redirect_uri), but send it to the honest "
        "provider's authorization endpoint with CloudDocs' client id *there*.",
        "The fix: the redirect's iss must be the issuer this login was sent to; refuse a "
        "missing iss when the provider promises it (iss_required); then state "
        "(hmac.compare_digest); then error; then return the code.",
    ),
)
CALLBACK = "https://clouddocs.test/auth/callback"
EVIL = "https://evil.test"


def _callback(**parameters: str) -> str:
    return f"{CALLBACK}?{urlencode(parameters)}"


@mixup.case("your mix-up URL makes a naive client hand Alice's code to the attacker",
            positive=True)
async def _(ns: Namespace) -> None:
    from authcourse.checks.ch06_support import mix_up_scenario

    await mix_up_scenario(plain(ns, "mix_up_url"))


@mixup.case("a genuine authorization response gives its code", positive=True)
def _(ns: Namespace) -> None:
    check_ = plain(ns, "check_authorization_response")
    for url, required in ((_callback(code="c0de", state="s1", iss=ISSUER), True),
                          (_callback(code="c0de", state="s1"), False)):
        code = calling(f"check_authorization_response({url!r})",
                       functools.partial(check_, url, issuer=ISSUER, state="s1",
                                         iss_required=required))
        expect_equal(code, "c0de", f"check_authorization_response({url!r}, iss_required={required})")


def _refuses(ns: Namespace, url: str, tried: str, why: str, **overrides: Any) -> None:
    arguments: dict[str, Any] = {"issuer": ISSUER, "state": "s1", "iss_required": True}
    arguments.update(overrides)
    try:
        code = plain(ns, "check_authorization_response")(url, **arguments)
    except OIDCError:
        return
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as error:
        expect(False, tried, f"OIDCError ({why})", f"{type(error).__name__}: {error}")
    expect(False, tried, f"OIDCError ({why})", f"the code {code!r}")


@mixup.case("a response naming another issuer is refused")
def _(ns: Namespace) -> None:
    url = _callback(code="c0de", state="s1", iss=ISSUER)
    _refuses(ns, url, "a response from idp.test for a login sent to evil.test",
             "the mix-up: the code must not go to evil.test", issuer=EVIL)


@mixup.case("a response without iss is refused when the provider always sends it")
def _(ns: Namespace) -> None:
    _refuses(ns, _callback(code="c0de", state="s1"), "a response without iss (iss_required)",
             "the provider's metadata promises iss")


@mixup.case("a wrong or missing state is refused")
def _(ns: Namespace) -> None:
    _refuses(ns, _callback(code="c0de", state="s2", iss=ISSUER), "a response with state s2",
             "state must be this session's")
    _refuses(ns, _callback(code="c0de", iss=ISSUER), "a response without state", "state")


@mixup.case("an error response is refused with OIDCError")
def _(ns: Namespace) -> None:
    _refuses(ns, _callback(error="access_denied", state="s1", iss=ISSUER),
             "a response with error=access_denied", "the user said no")
