"""Chapter 3 (JWT) exercises: every case runs the learner's code for real.

Conventions the lab states: issuer ``ISSUER``, audience ``AUDIENCE``, access tokens carry
the header ``typ: at+jwt``, live at most 15 minutes, and every refusal raises
``clouddocs.tokens.InvalidToken``.
"""

import base64
import contextlib
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from fastapi import Depends, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import CheckFailed, exercise, expect, expect_equal
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.db import Database, Tenant, User
from clouddocs.tokens import (
    ACCESS_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    DeniedToken,
    InvalidToken,
    KeyRing,
    RefreshFamily,
    RefreshReuse,
    RefreshTokenRecord,
    TokenService,
    TokenSettings,
    TokenVersion,
    bump_token_version,
    new_hs256_key,
    public_jwk,
    start_family,
)
from clouddocs.tokens import SigningKey as _SigningKey

ISSUER = "https://clouddocs.test"
AUDIENCE = "https://api.clouddocs.test"
JWKS_URL = "https://clouddocs.test/.well-known/jwks.json"
_SECRET = bytes(range(32))
_OTHER_SECRET = bytes(range(32, 64))


# --- helpers shared by the cases -----------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _claims(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "42",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "check-token",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _hand_made(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes] | None
) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()) if sign else b'')}"


def _hs256(secret: bytes, claims: dict[str, Any], typ: str = ACCESS_TOKEN_TYPE) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": typ})


def _refused(call: Callable[[], object]) -> tuple[bool, str]:
    """(True, reason) if the learner's code refused the token, (False, what it returned)."""
    try:
        result = call()
    except (InvalidToken, jwt.PyJWTError) as error:
        return True, str(error)
    return False, f"it was accepted and returned {result!r}"


def _expect_refused(call: Callable[[], object], tried: str) -> None:
    refused, detail = _refused(call)
    expect(refused, tried, "InvalidToken to be raised", detail)


def naive_verify_rs256(token: str, public_pem: bytes) -> dict[str, Any]:
    """The vulnerable verifier of exercise 03.2: it lets the header choose the algorithm."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(_b64decode(header_part))
    signing_input = f"{header_part}.{payload_part}".encode("ascii")
    signature = _b64decode(signature_part)
    if header.get("alg") == "HS256":
        expected = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise InvalidToken("bad signature")
    elif header.get("alg") == "RS256":
        key = serialization.load_pem_public_key(public_pem)
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as error:
            raise InvalidToken("bad signature") from error
    else:
        raise InvalidToken("unsupported algorithm")
    payload: dict[str, Any] = json.loads(_b64decode(payload_part))
    return payload


@functools.cache
def _rsa_key(name: str) -> rsa.RSAPrivateKey:
    # Generating RSA keys takes ~100 ms; each named key is made once per process.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _ed_key(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- 03.1 ----------------------------------------------------------------------------------
ex1 = exercise(
    "03.1",
    "Create and verify an access token",
    points=3,
    needs=("issue_access_token", "verify_access_token"),
    hints=(
        "jwt.encode(claims, secret, algorithm='HS256', headers={'typ': 'at+jwt'}); take iat from"
        " int(clock.time()).",
        "jwt.decode needs algorithms=['HS256'], issuer=, audience= and options={'require': [...]}.",
        "PyJWT checks exp against the wall clock: pass options 'verify_exp': False and compare"
        " exp with clock.time() yourself. Check the header's typ with jwt.get_unverified_header.",
    ),
)


def _verify(ns: Namespace, token: str, clock: FrozenClock) -> Callable[[], object]:
    return lambda: ns["verify_access_token"](token, secret=_SECRET, clock=clock)


@ex1.case("a fresh token carries sub, iss, aud, iat, exp, jti and typ at+jwt, and verifies")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = ns["issue_access_token"]("42", secret=_SECRET, clock=clock)
    header = jwt.get_unverified_header(token)
    expect_equal(header.get("typ"), ACCESS_TOKEN_TYPE, "reading the typ header of your token")
    expect_equal(header.get("alg"), "HS256", "reading the alg header of your token")
    claims = jwt.decode(
        token,
        _SECRET,
        algorithms=["HS256"],
        options={
            "verify_signature": True,
            "verify_exp": False,
            "verify_iat": False,
            "verify_aud": False,
        },
    )
    missing = [name for name in ("iss", "sub", "aud", "iat", "exp", "jti") if name not in claims]
    expect(
        not missing,
        "reading the claims of your token",
        "iss sub aud iat exp jti",
        f"missing {missing}",
    )
    expect_equal(
        (claims["iss"], claims["aud"], claims["sub"]),
        (ISSUER, AUDIENCE, "42"),
        "reading iss, aud and sub",
    )
    expect_equal(claims["iat"], int(clock.time()), "comparing iat with the clock you were given")
    lifetime = claims["exp"] - claims["iat"]
    expect(
        0 < lifetime <= 900,
        "computing exp - iat",
        "at most 900 seconds (15 minutes)",
        f"{lifetime} s",
    )
    other = ns["issue_access_token"]("42", secret=_SECRET, clock=clock)
    expect(
        jwt.decode(other, options={"verify_signature": False})["jti"] != claims["jti"],
        "issuing two tokens",
        "a different jti each time",
        "the same jti twice",
    )
    try:
        verified = ns["verify_access_token"](token, secret=_SECRET, clock=clock)
    except InvalidToken as error:
        raise CheckFailed(
            "verifying a fresh token", "its claims", f"InvalidToken: {error}"
        ) from None
    expect_equal(verified.get("sub"), "42", "verifying a fresh token")


@ex1.case("a token with alg none is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hand_made({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, _claims(clock), None)
    _expect_refused(_verify(ns, token, clock), "verifying an unsigned token (alg none)")


@ex1.case("a token signed with another key is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hs256(_OTHER_SECRET, _claims(clock))
    _expect_refused(_verify(ns, token, clock), "verifying a token signed with someone else's key")


@ex1.case("an expired token is refused (the clock moved 11 minutes)")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hs256(_SECRET, _claims(clock))
    clock.advance(minutes=11)
    _expect_refused(_verify(ns, token, clock), "verifying a token whose exp passed a minute ago")


@ex1.case("a token for another audience is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hs256(_SECRET, _claims(clock, aud="https://billing.clouddocs.test"))
    _expect_refused(_verify(ns, token, clock), "verifying a token minted for the billing service")


@ex1.case("a refresh token (typ refresh+jwt) is refused as an access token")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hs256(_SECRET, _claims(clock), typ=REFRESH_TOKEN_TYPE)
    _expect_refused(
        _verify(ns, token, clock), "verifying a refresh token where an access token is expected"
    )


@ex1.case("a token without exp is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _hs256(_SECRET, _claims(clock, exp=None))
    _expect_refused(_verify(ns, token, clock), "verifying a token that never expires (no exp)")


# --- 03.2 ----------------------------------------------------------------------------------
ex2 = exercise(
    "03.2",
    "Attack then fix: algorithm confusion",
    points=3,
    needs=("forge_with_public_key", "verify_rs256_token"),
    hints=(
        "The attack: header {'alg': 'HS256', 'typ': 'at+jwt'}, then HMAC-SHA256 over"
        " 'header.payload' with the PEM bytes as the key; everything base64url without padding.",
        "The fix: jwt.decode(token, public_key, algorithms=['RS256'], ...) — one algorithm,"
        " chosen by you, never by the token.",
    ),
)


@ex2.case("your forged token fools the naive verifier into accepting an admin")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    pem = _pem(_rsa_key("issuer"))
    forged = ns["forge_with_public_key"](pem, _claims(clock, role="admin"))
    try:
        claims = naive_verify_rs256(forged, pem)
    except (InvalidToken, ValueError) as error:
        raise CheckFailed(
            "giving your forged token to the naive verifier",
            "it to be accepted",
            f"it was refused ({error})",
        ) from None
    expect_equal(claims.get("role"), "admin", "reading the claims the naive verifier accepted")


@ex2.case("your verifier accepts a genuine RS256 token")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    key = _rsa_key("issuer")
    token = jwt.encode(_claims(clock), key, algorithm="RS256", headers={"typ": ACCESS_TOKEN_TYPE})
    try:
        claims = ns["verify_rs256_token"](token, public_key=key.public_key(), clock=clock)
    except InvalidToken as error:
        raise CheckFailed(
            "verifying a genuine RS256 token", "its claims", f"InvalidToken: {error}"
        ) from None
    expect_equal(claims.get("sub"), "42", "verifying a genuine RS256 token")


@ex2.case("your verifier refuses an HS256 token signed with the public key")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    key = _rsa_key("issuer")
    pem = _pem(key)
    forged = _hand_made(
        {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE},
        _claims(clock, role="admin"),
        lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )
    _expect_refused(
        lambda: ns["verify_rs256_token"](forged, public_key=key.public_key(), clock=clock),
        "verifying an HS256 token whose secret is the public key",
    )


@ex2.case("your verifier refuses alg none and expired tokens")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    key = _rsa_key("issuer")
    unsigned = _hand_made({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, _claims(clock), None)
    _expect_refused(
        lambda: ns["verify_rs256_token"](unsigned, public_key=key.public_key(), clock=clock),
        "verifying an unsigned token (alg none)",
    )
    expired = jwt.encode(_claims(clock), key, algorithm="RS256", headers={"typ": ACCESS_TOKEN_TYPE})
    clock.advance(minutes=11)
    _expect_refused(
        lambda: ns["verify_rs256_token"](expired, public_key=key.public_key(), clock=clock),
        "verifying an RS256 token 11 minutes after it was issued",
    )


# --- 03.3 ----------------------------------------------------------------------------------
ex3 = exercise(
    "03.3",
    "Refresh rotation with reuse detection",
    points=3,
    needs=("rotate_refresh",),
    hints=(
        "Load the RefreshTokenRecord by jti, then its RefreshFamily; refuse unknown, revoked"
        " or expired ones (record.expires_at and family.expires_at are epoch seconds).",
        "Spend the token with UPDATE ... WHERE jti = :jti AND used_at IS NULL and look at the"
        " rowcount: 0 means it was already spent.",
        "On reuse, set family.revoked_reason, COMMIT, and only then raise RefreshReuse.",
    ),
)
_TOKEN_LIFETIME = timedelta(hours=12)


async def _database_with_users(*emails: str) -> tuple[Database, list[int]]:
    db = Database()
    await db.create_all()
    async with db.sessions() as session:
        tenant = Tenant(name="Acme")
        session.add(tenant)
        await session.flush()
        users = [User(tenant_id=tenant.id, email=email, display_name=email) for email in emails]
        session.add_all(users)
        await session.commit()
        return db, [user.id for user in users]


@contextlib.asynccontextmanager
async def _users_db(*emails: str) -> AsyncIterator[tuple[Database, list[int]]]:
    """A fresh database with these users, disposed of even when the learner's code raises."""
    db, user_ids = await _database_with_users(*emails)
    try:
        yield db, user_ids
    finally:
        await db.dispose()


async def _start(session: AsyncSession, user_id: int, now: int) -> RefreshTokenRecord:
    return await start_family(
        session, user_id, now=now, token_lifetime=_TOKEN_LIFETIME, family_lifetime=timedelta(days=7)
    )


async def _rotate(ns: Namespace, db: Database, jti: str, now: int) -> Any:
    async with db.sessions() as session:
        return await ns["rotate_refresh"](session, jti, now=now, token_lifetime=_TOKEN_LIFETIME)


@ex3.case(
    "a token rotates to a new one in the same family and is marked spent; the new one rotates too"
)
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        now = 1_767_603_600
        async with db.sessions() as session:
            first = await _start(session, user_id, now)
        second = await _rotate(ns, db, first.jti, now + 60)
        expect(
            isinstance(second, RefreshTokenRecord) and second.jti != first.jti,
            "rotating a fresh refresh token",
            "a new RefreshTokenRecord with another jti",
            second,
        )
        expect_equal(
            second.family_id,
            first.family_id,
            "comparing the successor's family with the original's",
        )
        async with db.sessions() as session:
            spent = await session.get(RefreshTokenRecord, first.jti)
        expect(
            spent is not None and spent.used_at is not None,
            "reading the rotated token's row",
            "used_at set",
            "used_at still empty",
        )
        third = await _rotate(ns, db, second.jti, now + 120)
        expect(
            third.jti not in (first.jti, second.jti),
            "rotating the successor",
            "yet another jti",
            third.jti,
        )


@ex3.case("replaying a spent token raises RefreshReuse and revokes the whole family")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        now = 1_767_603_600
        async with db.sessions() as session:
            first = await _start(session, user_id, now)
        second = await _rotate(ns, db, first.jti, now + 60)
        try:
            await _rotate(ns, db, first.jti, now + 120)
        except RefreshReuse:
            pass
        except InvalidToken as error:
            raise CheckFailed(
                "presenting a spent refresh token again", "RefreshReuse", f"InvalidToken: {error}"
            ) from None
        else:
            raise CheckFailed(
                "presenting a spent refresh token again",
                "RefreshReuse",
                "a new token: the replay was accepted",
            )
        async with db.sessions() as session:
            reason = await session.scalar(
                select(RefreshFamily.revoked_reason).where(RefreshFamily.id == first.family_id)
            )
        expect(
            reason is not None,
            "reading the family after the replay",
            "the family revoked (revoked_reason set and committed)",
            "it is not revoked",
        )
        try:
            await _rotate(ns, db, second.jti, now + 180)
        except InvalidToken:
            pass
        else:
            raise CheckFailed(
                "rotating the newest token of a family revoked for reuse",
                "InvalidToken",
                "it was rotated",
            )


@ex3.case("an unknown token is refused")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, _users):
        try:
            await _rotate(ns, db, "no-such-token", 1_767_603_600)
        except InvalidToken:
            return
        raise CheckFailed("rotating a jti that was never issued", "InvalidToken", "it was rotated")


@ex3.case("a refresh token past its own expiry is refused")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        now = 1_767_603_600
        async with db.sessions() as session:
            record = await _start(session, user_id, now)
        try:
            await _rotate(ns, db, record.jti, record.expires_at + 60)
        except InvalidToken:
            return
        raise CheckFailed(
            "rotating a refresh token one minute after its expires_at (the family is still young)",
            "InvalidToken",
            "it was rotated",
        )


@ex3.case("a family past its absolute lifetime is refused, however recently it was refreshed")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        now = 1_767_603_600
        async with db.sessions() as session:
            record = await _start(session, user_id, now)
        moment = now
        for _ in range(15):  # refresh every 11 hours: 165 hours, still inside the 7 days
            moment += 11 * 3600
            record = await _rotate(ns, db, record.jti, moment)
        async with db.sessions() as session:
            family = await session.get(RefreshFamily, record.family_id)
            assert family is not None
            family_end = family.expires_at
            current = await session.get(RefreshTokenRecord, record.jti)
            assert current is not None
            current.expires_at = (
                family_end + 3600
            )  # as if its own lifetime reached past the family's
            await session.commit()
        try:
            await _rotate(ns, db, record.jti, family_end + 60)
        except InvalidToken:
            return
        raise CheckFailed(
            "rotating a token one minute after its family's 7-day limit",
            "InvalidToken",
            "it was rotated",
        )


# --- 03.4 ----------------------------------------------------------------------------------
ex4 = exercise(
    "03.4",
    "Log out this device: a jti denylist",
    points=3,
    needs=("deny_token", "authenticate_request", "prune_denylist"),
    hints=(
        "deny_token: session.add(DeniedToken(jti=claims['jti'], expires_at=claims['exp'])),"
        " then commit. If the commit raises IntegrityError the token is already denied:"
        " roll back and carry on.",
        "authenticate_request: no 'Bearer <token>' header → raise unauthorized(); a token"
        " tokens.verify refuses → unauthorized('invalid_token'). Then look the jti up with"
        " await session.get(DeniedToken, claims['jti']): a row means this token was logged out.",
        "prune_denylist: delete(DeniedToken).where(DeniedToken.expires_at < now -"
        " LEEWAY_SECONDS); the result's rowcount is how many rows went. Pruning at exp itself"
        " is too early: the verifier accepts the token for LEEWAY_SECONDS more.",
    ),
)


@contextlib.asynccontextmanager
async def _denylist_app(
    ns: Namespace,
) -> AsyncIterator[tuple[FastAPI, Database, TokenService, int]]:
    """/me behind the learner's authenticate_request; DELETE /auth/session logs out with it."""
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        tokens = _token_service()
        yield _build_denylist_app(ns, db, tokens), db, tokens, user_id


def _token_service() -> TokenService:
    return TokenService(
        KeyRing(new_hs256_key("check")), TokenSettings(ISSUER, AUDIENCE), FrozenClock()
    )


def _build_denylist_app(ns: Namespace, db: Database, tokens: TokenService) -> FastAPI:
    app = FastAPI()
    Session = Annotated[AsyncSession, Depends(db.session)]

    async def current_claims(request: Request, session: Session) -> Any:
        return await ns["authenticate_request"](
            session, request.headers.get("authorization"), tokens=tokens
        )

    Claims = Annotated[Any, Depends(current_claims)]

    @app.get("/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.delete("/auth/session", status_code=204)
    async def log_out(claims: Claims, session: Session) -> None:
        await ns["deny_token"](session, claims)

    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _challenge(response: Any) -> str:
    return str(response.headers.get("www-authenticate", "(no WWW-Authenticate header)"))


@ex4.case("no token: 401 with WWW-Authenticate: Bearer; a valid token: 200")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        async with asgi_client(app) as client:
            response = await client.get("/me")
            expect(
                response.status_code == 401 and _challenge(response).startswith("Bearer"),
                "GET /me without a token",
                "401 with WWW-Authenticate: Bearer",
                f"{response.status_code}, {_challenge(response)}",
            )
            response = await client.get("/me", headers=_bearer(tokens.issue(str(user_id))))
            expect(
                response.status_code == 200 and response.json() == {"sub": str(user_id)},
                "GET /me with a valid token",
                "200 and the user's claims",
                f"{response.status_code} {response.text}",
            )


@ex4.case('a refresh token or garbage: 401 with Bearer error="invalid_token"')
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        refresh_token = tokens.issue(str(user_id), token_type=REFRESH_TOKEN_TYPE)
        async with asgi_client(app) as client:
            for label, token in (
                ("a refresh token", refresh_token),
                ("a malformed token", "not.a.jwt"),
            ):
                response = await client.get("/me", headers=_bearer(token))
                expect(
                    response.status_code == 401 and 'error="invalid_token"' in _challenge(response),
                    f"GET /me with {label}",
                    '401 with WWW-Authenticate: Bearer error="invalid_token"',
                    f"{response.status_code}, {_challenge(response)}",
                )


@ex4.case("a logged-out token is refused at once on every request, and only that token")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        phone, laptop = tokens.issue(str(user_id)), tokens.issue(str(user_id))
        async with asgi_client(app) as client:
            response = await client.delete("/auth/session", headers=_bearer(phone))
            expect(
                response.status_code == 204,
                "logging the phone out (DELETE /auth/session calls your deny_token)",
                "204",
                f"{response.status_code} {response.text}",
            )
            response = await client.get("/me", headers=_bearer(phone))
            expect(
                response.status_code == 401,
                "GET /me with the phone's token right after it logged out (10 minutes before exp)",
                "401: the denylist is checked on every request, not only when refreshing",
                f"{response.status_code}: the logged-out token still works",
            )
            response = await client.get("/me", headers=_bearer(laptop))
            expect(
                response.status_code == 200,
                "GET /me with the laptop's token, which did not log out",
                "200: denying one jti leaves the user's other tokens alone",
                response.status_code,
            )


@ex4.case("denying the same token twice is harmless (a double-clicked logout)")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (user_id,)):
        tokens = _token_service()
        claims = tokens.verify(tokens.issue(str(user_id)))
        try:
            for _attempt in range(2):
                async with db.sessions() as session:
                    await ns["deny_token"](session, claims)
        except IntegrityError:
            raise CheckFailed(
                "calling deny_token twice for the same token",
                "the second call to do nothing",
                "a duplicate-key error (IntegrityError) from the database",
            ) from None


@ex4.case("pruning forgets expired rows, never one whose token still verifies")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        clock = tokens.clock
        assert isinstance(clock, FrozenClock)
        first = tokens.issue(str(user_id))  # expires at t0 + 10 min
        clock.advance(minutes=5)
        second = tokens.issue(str(user_id))  # expires at t0 + 15 min
        async with asgi_client(app) as client:
            for token in (first, second):
                await client.delete("/auth/session", headers=_bearer(token))
            clock.advance(minutes=5, seconds=10)  # first: 10 s past exp, inside the 30 s leeway
            async with db.sessions() as session:
                await ns["prune_denylist"](session, now=clock.time())
            response = await client.get("/me", headers=_bearer(first))
            expect(
                response.status_code == 401,
                "pruning 10 s after a logged-out token's exp (the verifier still accepts it for 30 s),"
                " then GET /me with that token",
                "401: its row must stay until exp + LEEWAY_SECONDS",
                f"{response.status_code}: pruning brought the logged-out token back to life",
            )
            clock.advance(seconds=25)  # first: 35 s past exp, refused by every verifier now
            async with db.sessions() as session:
                removed = await ns["prune_denylist"](session, now=clock.time())
            async with db.sessions() as session:
                left = (await session.scalars(select(DeniedToken.jti))).all()
            second_jti = tokens.verify(second)["jti"]
            expect(
                removed == 1 and list(left) == [second_jti],
                "pruning 35 s after the first token's exp, with a second denied token still alive",
                "1 row removed (the expired one) and the live token's row kept",
                f"{removed!r} removed, {len(left)} row(s) left"
                + ("" if second_jti in left else ", and the live token's row is gone"),
            )


# --- 03.5 ----------------------------------------------------------------------------------
ex5 = exercise(
    "03.5",
    "Log out everywhere: the token version",
    points=3,
    needs=("issue_for_user", "log_out_everywhere", "token_is_current"),
    hints=(
        "Read a user's version with select(TokenVersion.version).where(TokenVersion.user_id =="
        " user_id); None (no row yet) means 0. tokens.issue(str(user_id), claims={'ver': ...}).",
        "log_out_everywhere: update(TokenVersion).where(...).values(version=TokenVersion.version"
        " + 1); when no row was updated, add TokenVersion(user_id=user_id, version=1). Commit.",
        "token_is_current: current when ver >= the stored version. No ver, a string, a float or a"
        " bool (True is an int in Python!) → False: a check you cannot make must refuse.",
    ),
)


async def _is_current(ns: Namespace, db: Database, claims: dict[str, Any], tried: str) -> bool:
    async with db.sessions() as session:
        try:
            answer = await ns["token_is_current"](session, claims)
        except (TypeError, ValueError) as error:
            raise CheckFailed(tried, "True or False", f"an error: {error}") from None
    expect(isinstance(answer, bool), tried, "True or False", answer)
    return bool(answer)


@ex5.case("a token carries the user's current version in ver, and is current")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (ada,)):
        tokens = _token_service()
        for version in (0, 1):
            if version:
                async with db.sessions() as session:
                    await bump_token_version(session, ada)
            async with db.sessions() as session:
                token = await ns["issue_for_user"](session, ada, tokens=tokens)
            claims = tokens.verify(token)
            expect_equal(
                claims.get("ver"),
                version,
                f"reading ver in a token issued when the version is {version}",
            )
            expect(
                await _is_current(
                    ns, db, claims, f"asking if that token (ver {version}) is current"
                ),
                f"asking if a token issued just now (ver {version}) is current",
                "True",
                "False: a fresh token is refused",
            )


@ex5.case("after log out everywhere, every earlier token of the user is refused")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (ada,)):
        tokens = _token_service()
        phone = tokens.verify(tokens.issue(str(ada), claims={"ver": 0}))
        laptop = tokens.verify(tokens.issue(str(ada), claims={"ver": 0}))
        async with db.sessions() as session:
            await ns["log_out_everywhere"](session, ada)
        for device, claims in (("phone", phone), ("laptop", laptop)):
            tried = f"asking if the {device}'s token (ver 0) is current after log out everywhere"
            expect(not await _is_current(ns, db, claims, tried), tried, "False", "True")
        after = tokens.verify(tokens.issue(str(ada), claims={"ver": 1}))
        tried = "asking if a token issued after log out everywhere (ver 1) is current"
        expect(await _is_current(ns, db, after, tried), tried, "True", "False")


@ex5.case("log out everywhere for one user leaves other users' tokens alone")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test", "bob@acme.test") as (db, (ada, bob)):
        tokens = _token_service()
        bobs = tokens.verify(tokens.issue(str(bob), claims={"ver": 0}))
        async with db.sessions() as session:
            await ns["log_out_everywhere"](session, ada)
        tried = "asking if Bob's token (ver 0) is current after Ada logged out everywhere"
        expect(
            await _is_current(ns, db, bobs, tried), tried, "True", "False: Bob was logged out too"
        )


@ex5.case("a token without a ver claim, or with a non-integer one, is refused")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (ada,)):
        async with db.sessions() as session:
            await bump_token_version(session, ada)  # Ada's version is now 1
        base = {"sub": str(ada), "jti": "check-token"}
        for label, extra in (
            ("no ver claim", {}),
            ('ver "1" (a string)', {"ver": "1"}),
            ("ver true (a JSON boolean)", {"ver": True}),
            ("ver 1.5 (a float)", {"ver": 1.5}),
        ):
            tried = f"asking if a token with {label} is current (the user's version is 1)"
            expect(not await _is_current(ns, db, {**base, **extra}, tried), tried, "False", "True")


@ex5.case("logging out everywhere twice raises the version twice")
async def _(ns: Namespace) -> None:
    async with _users_db("ada@acme.test") as (db, (ada,)):
        tokens = _token_service()
        try:
            for _attempt in range(2):
                async with db.sessions() as session:
                    await ns["log_out_everywhere"](session, ada)
        except IntegrityError:
            raise CheckFailed(
                "calling log_out_everywhere a second time for the same user",
                "the existing row's version raised by one",
                "a duplicate-key error (IntegrityError): a second row was inserted",
            ) from None
        async with db.sessions() as session:
            stored = await session.scalar(
                select(TokenVersion.version).where(TokenVersion.user_id == ada)
            )
            token = await ns["issue_for_user"](session, ada, tokens=tokens)
        expect_equal(stored, 2, "reading Ada's version after two calls to log_out_everywhere")
        expect_equal(tokens.verify(token).get("ver"), 2, "reading ver in a token issued after that")


# --- 03.6 ----------------------------------------------------------------------------------
ex6 = exercise(
    "03.6",
    "A JWKS verifier with a kid allow-list",
    points=3,
    needs=("verify_with_jwks",),
    hints=(
        "Fetch the key set from the configured JWKS_URL only, then build {kid: key} from it.",
        "Refuse any token whose header has jku, jwk, x5u or x5c; look its kid up in your set;"
        " decode with algorithms=[that key's own alg].",
    ),
)
_ATTACKER_JWKS_URL = "https://attacker.test/jwks.json"


def _issuer_keys() -> tuple[_SigningKey, _SigningKey]:
    return _SigningKey("rs-1", "RS256", _rsa_key("jwks-rs")), _SigningKey(
        "ed-1", "EdDSA", _ed_key("jwks-ed")
    )


def _fetcher() -> Callable[[str], dict[str, Any]]:
    rs, ed = _issuer_keys()
    attacker = _SigningKey("evil", "RS256", _rsa_key("attacker"))
    documents = {
        JWKS_URL: {"keys": [public_jwk(rs), public_jwk(ed)]},
        _ATTACKER_JWKS_URL: {"keys": [public_jwk(attacker)]},
    }
    return lambda url: documents[url]


def _signed(key: _SigningKey, clock: FrozenClock, **extra_header: Any) -> str:
    header = {"typ": ACCESS_TOKEN_TYPE, "kid": key.kid, **extra_header}
    return jwt.encode(_claims(clock), key.private_key, algorithm=key.algorithm, headers=header)


def _jwks_verify(ns: Namespace, token: str, clock: FrozenClock) -> Callable[[], object]:
    return lambda: ns["verify_with_jwks"](token, fetch_jwks=_fetcher(), clock=clock)


@ex6.case("tokens signed by the issuer's RS256 and EdDSA keys verify")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for key in _issuer_keys():
        try:
            claims = ns["verify_with_jwks"](_signed(key, clock), fetch_jwks=_fetcher(), clock=clock)
        except InvalidToken as error:
            raise CheckFailed(
                f"verifying a genuine {key.algorithm} token (kid {key.kid})",
                "its claims",
                f"InvalidToken: {error}",
            ) from None
        expect_equal(claims.get("sub"), "42", f"verifying a genuine {key.algorithm} token")


@ex6.case("a token whose jku header points to the attacker's key set is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    attacker = _SigningKey("evil", "RS256", _rsa_key("attacker"))
    token = _signed(attacker, clock, jku=_ATTACKER_JWKS_URL)
    _expect_refused(
        _jwks_verify(ns, token, clock),
        "verifying a token signed by the attacker with jku set to the attacker's JWKS",
    )


@ex6.case("a token carrying its own key in a jwk header is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    attacker = _SigningKey("evil", "RS256", _rsa_key("attacker"))
    token = _signed(attacker, clock, jwk=public_jwk(attacker))
    _expect_refused(
        _jwks_verify(ns, token, clock),
        "verifying a token that embeds the attacker's public key (jwk header)",
    )


@ex6.case("unknown kid, alg none and HS256-with-the-public-key are refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    stranger = _SigningKey("stranger", "RS256", _rsa_key("stranger"))
    _expect_refused(
        _jwks_verify(ns, _signed(stranger, clock), clock),
        "verifying a token whose kid is not in the issuer's JWKS",
    )
    unsigned = _hand_made(
        {"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": "rs-1"}, _claims(clock), None
    )
    _expect_refused(
        _jwks_verify(ns, unsigned, clock), "verifying an unsigned token (alg none, kid rs-1)"
    )
    pem = _pem(_rsa_key("jwks-rs"))
    confused = _hand_made(
        {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": "rs-1"},
        _claims(clock),
        lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )
    _expect_refused(
        _jwks_verify(ns, confused, clock),
        "verifying an HS256 token (kid rs-1) keyed with the RSA public key",
    )
