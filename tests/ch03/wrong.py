"""Known-wrong implementations of the chapter 3 exercises; the checks must reject each one.

Each function mirrors a real mistake (RFC 8725 lists most of them). They are written the
way a learner would, so the tests prove the checks catch the mistake, not a caricature.
"""

import base64
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
from fastapi import HTTPException
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.clock import Clock
from authcourse.lab_helpers.ch03 import AUDIENCE, ISSUER, JWKS_URL
from clouddocs.jwt_tokens import InvalidToken, TokenService
from clouddocs.refresh_tokens import RefreshFamily, RefreshReuse, RefreshTokenRecord
from clouddocs.security import unauthorized
from clouddocs.token_revocation import DeniedToken, TokenVersion

REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti"]


def issue_one_hour(subject: str, *, secret: bytes, clock: Clock) -> str:
    now = int(clock.time())
    claims = {"iss": ISSUER, "sub": subject, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    claims["jti"] = secrets.token_urlsafe(16)
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "at+jwt"})


def _decode(token: str, secret: bytes, clock: Clock, **changes: Any) -> dict[str, Any]:
    """A correct decode, then the mistake named by ``changes``."""
    options: dict[str, Any] = {"require": REQUIRED, "verify_exp": False, "verify_iat": False}
    options.update(changes.pop("options", {}))
    kwargs: dict[str, Any] = {"algorithms": ["HS256"], "issuer": ISSUER, "audience": AUDIENCE}
    kwargs.update(changes)
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, options=options, **kwargs)
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    return claims


def _typed(token: str) -> None:
    typ = jwt.get_unverified_header(token).get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != "at+jwt":
        raise InvalidToken("not an access token")


def _not_expired(claims: dict[str, Any], clock: Clock) -> None:
    if "exp" not in claims or clock.time() >= claims["exp"] + 30:
        raise InvalidToken("expired")


def verify_without_algorithms(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, algorithms=None)
    _not_expired(claims, clock)
    return claims


def verify_signature_off(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, options={"verify_signature": False})
    _not_expired(claims, clock)
    return claims


def verify_accepting_none(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    if jwt.get_unverified_header(token).get("alg") == "none":
        payload = token.split(".")[1]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
        return claims
    claims = _decode(token, secret, clock)
    _not_expired(claims, clock)
    return claims


def verify_no_exp_check(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    return _decode(token, secret, clock)  # exp switched off and never checked by hand


def verify_no_aud_check(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, audience=None, options={"verify_aud": False})
    _not_expired(claims, clock)
    return claims


def verify_no_type_check(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    claims = _decode(token, secret, clock)
    _not_expired(claims, clock)
    return claims


def verify_no_required_claims(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, options={"require": []})
    if "exp" in claims and clock.time() >= claims["exp"] + 30:
        raise InvalidToken("expired")
    return claims


def verify_refusing_everything(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    raise InvalidToken("refused")  # refuses every attack, and every real token too


def verify_no_issuer_check(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, issuer=None)  # any iss, even a lookalike
    _not_expired(claims, clock)
    return claims


def verify_typ_exact(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":  # application/at+jwt refused
        raise InvalidToken("not an access token")
    claims = _decode(token, secret, clock)
    _not_expired(claims, clock)
    return claims


def verify_requiring_only_exp(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    claims = _decode(token, secret, clock, options={"require": ["exp"]})  # no sub, iat, jti
    _not_expired(claims, clock)
    return claims


def verify_on_the_wall_clock(token: str, *, secret: bytes, clock: Clock) -> dict[str, Any]:
    _typed(token)
    # PyJWT's own exp check: the computer's clock, not the (frozen) one given.
    return _decode(token, secret, clock, options={"verify_exp": True, "verify_iat": True})


# --- 03.2 ----------------------------------------------------------------------------------
def forge_keeping_rs256_header(public_pem: bytes, claims: dict[str, Any]) -> str:
    # HMACs with the PEM but leaves alg RS256 in the header: the verifier then runs RSA.
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = {"alg": "RS256", "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def verify_rs256_trusting_header(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    # Lets the header pick the algorithm, and falls back to the PEM as an HMAC key.
    from cryptography.hazmat.primitives import serialization

    from authcourse.lab_helpers.ch03 import naive_verify_rs256

    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = naive_verify_rs256(token, pem)
    _not_expired(claims, clock)
    return claims


def verify_rs256_no_exp(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"verify_exp": False},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    return claims


def verify_rs256_refusing_everything(
    token: str, *, public_key: Any, clock: Clock
) -> dict[str, Any]:
    raise InvalidToken("refused")


def _rs256(token: str, public_key: Any, clock: Clock, **changes: Any) -> dict[str, Any]:
    """The solution's decode, then the mistake named by ``changes``."""
    options: dict[str, Any] = {"require": REQUIRED, "verify_exp": False, "verify_iat": False}
    options.update(changes.pop("options", {}))
    kwargs: dict[str, Any] = {"algorithms": ["RS256"], "issuer": ISSUER, "audience": AUDIENCE}
    kwargs.update(changes)
    try:
        claims: dict[str, Any] = jwt.decode(token, public_key, options=options, **kwargs)
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    _not_expired(claims, clock)
    return claims


def verify_rs256_allowing_hs256(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    _typed(token)
    return _rs256(token, public_key, clock, algorithms=["RS256", "HS256"])  # "both, to be safe"


def verify_rs256_no_typ(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    return _rs256(token, public_key, clock)  # any typ, refresh tokens included


def verify_rs256_no_aud(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    _typed(token)
    return _rs256(token, public_key, clock, audience=None, options={"verify_aud": False})


def verify_rs256_no_iss(token: str, *, public_key: Any, clock: Clock) -> dict[str, Any]:
    _typed(token)
    return _rs256(token, public_key, clock, issuer=None)


# --- 03.3 ----------------------------------------------------------------------------------
async def _rotate(
    session: AsyncSession,
    jti: str,
    *,
    now: int,
    token_lifetime: timedelta,
    detect_reuse: bool = True,
    revoke_on_reuse: bool = True,
    family_lifetime: bool = True,
    token_expiry: bool = True,
) -> RefreshTokenRecord:
    record = await session.get(RefreshTokenRecord, jti)
    if record is None:
        raise InvalidToken("unknown")
    family = await session.get(RefreshFamily, record.family_id)
    assert family is not None
    if family.revoked_reason is not None:
        raise InvalidToken("revoked")
    if (token_expiry and now >= record.expires_at) or (
        family_lifetime and now >= family.expires_at
    ):
        raise InvalidToken("expired")
    if detect_reuse:
        spent = await session.execute(
            update(RefreshTokenRecord)
            .where(RefreshTokenRecord.jti == jti, RefreshTokenRecord.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            if revoke_on_reuse:
                family.revoked_reason = "reuse"
                await session.commit()
            raise RefreshReuse("reused")
    successor = RefreshTokenRecord(
        jti=secrets.token_urlsafe(16),
        family_id=family.id,
        expires_at=now + int(token_lifetime.total_seconds()),
    )
    session.add(successor)
    await session.commit()
    return successor


async def rotate_without_reuse_detection(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    return await _rotate(session, jti, now=now, token_lifetime=token_lifetime, detect_reuse=False)


async def rotate_refusing_reuse_without_revoking(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    return await _rotate(
        session, jti, now=now, token_lifetime=token_lifetime, revoke_on_reuse=False
    )


async def rotate_revoking_without_commit(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    record = await session.get(RefreshTokenRecord, jti)
    if record is not None and record.used_at is not None:
        family = await session.get(RefreshFamily, record.family_id)
        assert family is not None
        family.revoked_reason = "reuse"  # never committed: rolled back when the session closes
        raise RefreshReuse("reused")
    return await _rotate(session, jti, now=now, token_lifetime=token_lifetime)


async def rotate_read_then_set(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    # Checks used_at, then sets it: two requests can both read "unspent" before either writes.
    record = await session.get(RefreshTokenRecord, jti)
    if record is None:
        raise InvalidToken("unknown")
    family = await session.get(RefreshFamily, record.family_id)
    assert family is not None
    if family.revoked_reason is not None:
        raise InvalidToken("revoked")
    if now >= record.expires_at or now >= family.expires_at:
        raise InvalidToken("expired")
    if record.used_at is not None:
        family.revoked_reason = "reuse"
        await session.commit()
        raise RefreshReuse("reused")
    record.used_at = now
    successor = RefreshTokenRecord(
        jti=secrets.token_urlsafe(16),
        family_id=family.id,
        expires_at=min(now + int(token_lifetime.total_seconds()), family.expires_at),
    )
    session.add(successor)
    await session.commit()
    return successor


async def rotate_unknown_raises_lookup_error(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    # scalar_one() raises NoResultFound for a jti never issued: a 500, not a 401.
    query = select(RefreshTokenRecord).where(RefreshTokenRecord.jti == jti)
    (await session.execute(query)).scalar_one()
    return await _rotate(session, jti, now=now, token_lifetime=token_lifetime)


async def rotate_ignoring_token_expiry(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    # Only the family's 7-day limit is checked: a 12-hour token lives as long as its family.
    return await _rotate(session, jti, now=now, token_lifetime=token_lifetime, token_expiry=False)


async def rotate_ignoring_family_lifetime(
    session: AsyncSession, jti: str, *, now: int, token_lifetime: timedelta
) -> RefreshTokenRecord:
    return await _rotate(
        session, jti, now=now, token_lifetime=token_lifetime, family_lifetime=False
    )


# --- 03.4 ----------------------------------------------------------------------------------
def _bearer(authorization: str | None) -> str:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise unauthorized()
    return credential


async def authenticate_checking_denylist_only_at_refresh(
    session: AsyncSession, authorization: str | None, *, tokens: TokenService
) -> dict[str, Any]:
    # "The refresh endpoint looks at the denylist": access tokens of a logged-out device
    # keep working until they expire.
    try:
        return tokens.verify(_bearer(authorization))
    except InvalidToken:
        raise unauthorized("invalid_token") from None


async def authenticate_without_challenge(
    session: AsyncSession, authorization: str | None, *, tokens: TokenService
) -> dict[str, Any]:
    try:
        return tokens.verify((authorization or "").removeprefix("Bearer "))
    except InvalidToken:
        raise HTTPException(401, "not authenticated") from None  # no WWW-Authenticate


async def authenticate_with_403(
    session: AsyncSession, authorization: str | None, *, tokens: TokenService
) -> dict[str, Any]:
    try:
        return tokens.verify(_bearer(authorization))
    except InvalidToken:
        raise HTTPException(403, "forbidden") from None


async def authenticate_refusing_everything(
    session: AsyncSession, authorization: str | None, *, tokens: TokenService
) -> dict[str, Any]:
    raise unauthorized("invalid_token")


async def authenticate_denied_as_403(
    session: AsyncSession, authorization: str | None, *, tokens: TokenService
) -> dict[str, Any]:
    try:
        claims = tokens.verify(_bearer(authorization))
    except InvalidToken:
        raise unauthorized("invalid_token") from None
    if await session.get(DeniedToken, claims["jti"]) is not None:
        raise HTTPException(403, "logged out")  # "forbidden" for a token that is no credential
    return claims


async def deny_checking_first(session: AsyncSession, claims: dict[str, Any]) -> None:
    # Looks first, then inserts: two logouts at once both see nothing and both insert.
    if await session.get(DeniedToken, claims["jti"]) is None:
        session.add(DeniedToken(jti=claims["jti"], expires_at=int(claims["exp"])))
        await session.commit()


async def deny_without_commit(session: AsyncSession, claims: dict[str, Any]) -> None:
    # Added to the session, never committed: rolled back when the request's session closes.
    session.add(DeniedToken(jti=claims["jti"], expires_at=int(claims["exp"])))


async def deny_failing_twice(session: AsyncSession, claims: dict[str, Any]) -> None:
    session.add(DeniedToken(jti=claims["jti"], expires_at=int(claims["exp"])))
    await session.commit()  # a second logout of the same token: duplicate key


async def prune_never(session: AsyncSession, *, now: float) -> int:
    return 0  # "we will add a cron job later": the table grows forever


async def prune_at_exp(session: AsyncSession, *, now: float) -> int:
    # Forgets the leeway: for 30 s a logged-out token verifies and is no longer denied.
    result = await session.execute(delete(DeniedToken).where(DeniedToken.expires_at <= now))
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune_everything(session: AsyncSession, *, now: float) -> int:
    result = await session.execute(delete(DeniedToken))
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- 03.5 ----------------------------------------------------------------------------------
async def _stored_version(session: AsyncSession, user_id: int) -> int:
    version = await session.scalar(
        select(TokenVersion.version).where(TokenVersion.user_id == user_id)
    )
    return version or 0


async def issue_without_version(
    session: AsyncSession, user_id: int, *, tokens: TokenService
) -> str:
    return tokens.issue(str(user_id))  # no ver claim: nothing to compare later


async def token_is_current_wrong_way(session: AsyncSession, claims: dict[str, Any]) -> bool:
    version = claims.get("ver")
    if isinstance(version, bool) or not isinstance(version, int):
        return False
    return version <= await _stored_version(session, int(claims["sub"]))  # old tokens pass


async def token_is_current_strictly_newer(session: AsyncSession, claims: dict[str, Any]) -> bool:
    version = claims.get("ver")
    if isinstance(version, bool) or not isinstance(version, int):
        return False
    return version > await _stored_version(session, int(claims["sub"]))  # fresh tokens fail


async def token_is_current_ignoring_missing_claim(
    session: AsyncSession, claims: dict[str, Any]
) -> bool:
    current = await _stored_version(session, int(claims["sub"]))
    return bool(claims.get("ver", current) >= current)  # no claim: "must be current"


async def token_is_current_one_version_for_all(
    session: AsyncSession, claims: dict[str, Any]
) -> bool:
    version = claims.get("ver")
    if isinstance(version, bool) or not isinstance(version, int):
        return False
    # No WHERE on the user: the first row in the table decides for everyone.
    return version >= ((await session.scalar(select(TokenVersion.version))) or 0)


async def log_out_everywhere_without_commit(session: AsyncSession, user_id: int) -> None:
    session.add(TokenVersion(user_id=user_id, version=1))  # rolled back when the session closes


async def log_out_everywhere_racy(session: AsyncSession, user_id: int) -> None:
    # The atomic UPDATE, but two first calls both find no row and both INSERT one.
    bumped = await session.execute(
        update(TokenVersion)
        .where(TokenVersion.user_id == user_id)
        .values(version=TokenVersion.version + 1)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TokenVersion(user_id=user_id, version=1))
    await session.commit()


async def log_out_everywhere_setting_one(session: AsyncSession, user_id: int) -> None:
    await session.merge(TokenVersion(user_id=user_id, version=1))  # set, not incremented
    await session.commit()


# --- 03.6 ----------------------------------------------------------------------------------
def _verify_with(token: str, jwk: dict[str, Any], algorithms: list[str], clock: Clock) -> Any:
    try:
        claims = jwt.decode(
            token,
            jwt.PyJWK.from_dict(jwk).key,
            algorithms=algorithms,
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": REQUIRED, "verify_exp": False},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    _not_expired(claims, clock)
    return claims


def _select(keys: list[dict[str, Any]], kid: Any) -> dict[str, Any]:
    for jwk in keys:
        if jwk.get("kid") == kid:
            return jwk
    raise InvalidToken("unknown kid")


def jwks_trusting_jku(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    header = jwt.get_unverified_header(token)
    keys = fetch_jwks(header.get("jku", JWKS_URL))["keys"]  # the token picks the key set
    jwk = _select(keys, header.get("kid"))
    return _verify_with(token, jwk, [jwk["alg"]], clock)


def jwks_trusting_embedded_jwk(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    header = jwt.get_unverified_header(token)
    if "jwk" in header:
        return _verify_with(token, header["jwk"], ["RS256"], clock)
    jwk = _select(fetch_jwks(JWKS_URL)["keys"], header.get("kid"))
    return _verify_with(token, jwk, [jwk["alg"]], clock)


def jwks_unverified_for_unknown_kid(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    header = jwt.get_unverified_header(token)
    keys = fetch_jwks(JWKS_URL)["keys"]
    if header.get("kid") not in {jwk["kid"] for jwk in keys}:
        # "Compatibility" fallback for keys we do not know: read the claims unverified.
        return jwt.decode(token, options={"verify_signature": False})
    jwk = _select(keys, header["kid"])
    return _verify_with(token, jwk, [jwk["alg"]], clock)


def _checked_jwks(
    token: str,
    fetch_jwks: Callable[[str], dict[str, Any]],
    clock: Clock,
    *,
    key_headers: bool = True,
    typ: bool = True,
    algorithms: list[str] | None = None,
) -> Any:
    """The solution's checks, each one switchable to make the mistake."""
    header = jwt.get_unverified_header(token)
    if key_headers and {"jku", "jwk", "x5u", "x5c"} & header.keys():
        raise InvalidToken("the token may not choose its own key")
    if typ:
        _typed(token)
    jwk = _select(fetch_jwks(JWKS_URL)["keys"], header.get("kid"))
    return _verify_with(token, jwk, algorithms or [jwk["alg"]], clock)


def jwks_refusing_everything(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    raise InvalidToken("refused")


def jwks_ignoring_key_headers(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    # Never *uses* jku or jwk, so "safe": but the task says to refuse such tokens.
    return _checked_jwks(token, fetch_jwks, clock, key_headers=False)


def jwks_no_typ_check(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    return _checked_jwks(token, fetch_jwks, clock, typ=False)


def jwks_allowing_both_algorithms(
    token: str, *, fetch_jwks: Callable[[str], dict[str, Any]], clock: Clock
) -> Any:
    return _checked_jwks(token, fetch_jwks, clock, algorithms=["RS256", "EdDSA"])
