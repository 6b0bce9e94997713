"""Known-wrong implementations for the chapter 6 lab: each makes one mistake the checks catch.

Each wraps or rewrites the solution's code with exactly one mistake, so the case that
targets it can only fail because of that mistake.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from jwt import PyJWK
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.clock import Clock
from clouddocs.accounts import normalize_email
from clouddocs.db import User
from clouddocs.oidc import SAFE_ALGORITHMS, OIDCError, at_hash
from clouddocs.sso import ROLES, ExternalIdentity, placeholder_email

LEEWAY = 60


# --- 06.1: one validator, each mistake switched on by name -------------------------------


def _validator(mistake: str) -> Callable[..., dict[str, Any]]:
    def validate(
        token: str,
        *,
        jwks: dict[str, Any],
        issuer: str,
        client_id: str,
        nonce: str,
        now: float,
        access_token: str | None = None,
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            if mistake == "lets_errors_escape":
                raise
            raise OIDCError("malformed") from error
        algorithm = header.get("alg")
        if mistake == "trusts_header_alg":
            if algorithm == "none":
                return jwt.decode(token, options={"verify_signature": False})
            if algorithm == "HS256":
                return jwt.decode(token, b"k" * 32, algorithms=["HS256"], options={
                    "verify_exp": False, "verify_aud": False, "verify_iat": False})
        if algorithm not in SAFE_ALGORITHMS:
            raise OIDCError("algorithm")
        matching = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
        if mistake == "lets_errors_escape":
            matching = [next(k for k in jwks["keys"] if k["kid"] == header["kid"])]
        if len(matching) != 1:
            raise OIDCError("kid")
        options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                   "verify_aud": False, "verify_iss": False}
        if mistake == "skips_signature":
            options["verify_signature"] = False
        try:
            claims: dict[str, Any] = jwt.decode(
                token, PyJWK(matching[0], algorithm).key, algorithms=[algorithm], options=options
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise OIDCError("signature") from error
        if mistake != "no_iss_check" and claims.get("iss") != issuer:
            raise OIDCError("iss")
        aud = claims.get("aud")
        if mistake == "aud_equals":
            if aud != client_id:  # a list never equals a string
                raise OIDCError("aud")
        elif mistake == "aud_substring":
            if client_id not in aud:  # on a string, `in` is a substring test
                raise OIDCError("aud")
        else:
            audiences = [aud] if isinstance(aud, str) else aud
            if not isinstance(audiences, list) or client_id not in audiences:
                raise OIDCError("aud")
            azp = claims.get("azp")
            if mistake != "ignores_azp" and (len(audiences) > 1 or azp is not None) and (
                azp != client_id
            ):
                raise OIDCError("azp")
        leeway = 10**9 if mistake == "unbounded_leeway" else LEEWAY
        if now >= claims["exp"] + leeway:
            raise OIDCError("expired")
        if mistake == "zero_leeway" and now >= claims["exp"]:
            raise OIDCError("expired")
        if mistake != "no_iat_check" and claims["iat"] > now + LEEWAY:
            raise OIDCError("future")
        if mistake == "nonce_only_if_present":
            if "nonce" in claims and claims["nonce"] != nonce:
                raise OIDCError("nonce")
        elif mistake != "no_nonce_check":
            if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
                raise OIDCError("nonce")
        if mistake != "ignores_at_hash" and "at_hash" in claims and access_token is not None:
            if claims["at_hash"] != at_hash(access_token, algorithm):
                raise OIDCError("at_hash")
        return claims

    validate.__name__ = f"validate_{mistake}"
    return validate


validate_aud_equals = _validator("aud_equals")
validate_aud_substring = _validator("aud_substring")
validate_ignores_azp = _validator("ignores_azp")
validate_no_iss_check = _validator("no_iss_check")
validate_unbounded_leeway = _validator("unbounded_leeway")
validate_zero_leeway = _validator("zero_leeway")
validate_no_iat_check = _validator("no_iat_check")
validate_no_nonce_check = _validator("no_nonce_check")
validate_nonce_only_if_present = _validator("nonce_only_if_present")
validate_ignores_at_hash = _validator("ignores_at_hash")
validate_trusts_header_alg = _validator("trusts_header_alg")
validate_skips_signature = _validator("skips_signature")
validate_lets_errors_escape = _validator("lets_errors_escape")


def validate_refusing_everything(token: str, **kwargs: Any) -> dict[str, Any]:
    raise OIDCError("refused")


# --- 06.2 ----------------------------------------------------------------------------------


class _Cache:
    """The solution's cache; subclasses below each change one thing."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        clock: Clock,
        refetch_interval: float = 60.0,
    ) -> None:
        self._fetch, self._clock, self._interval = fetch, clock, refetch_interval
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock.time() - self._fetched_at >= self._interval

    async def _download(self) -> None:
        self._fetched_at = self._clock.time()
        document = await self._fetch()
        self._keys = {jwk["kid"]: jwk for jwk in document["keys"]}

    async def key_for(self, kid: str) -> dict[str, Any]:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._stale():
                await self._download()
        if kid not in self._keys:
            raise OIDCError("unknown kid")
        return self._keys[kid]


class CacheRefetchingEveryUnknownKid(_Cache):
    async def key_for(self, kid: str) -> dict[str, Any]:
        if kid not in self._keys:
            async with self._lock:
                await self._download()
        if kid not in self._keys:
            raise OIDCError("unknown kid")
        return self._keys[kid]


class CacheWithoutLock(_Cache):
    async def key_for(self, kid: str) -> dict[str, Any]:
        if kid not in self._keys and self._stale():
            self._fetched_at = None  # each waiter decides on its own, before any download ends
            await self._download()
        if kid not in self._keys:
            raise OIDCError("unknown kid")
        return self._keys[kid]


class CacheReturningNone(_Cache):
    async def key_for(self, kid: str) -> dict[str, Any]:
        if kid not in self._keys and self._stale():
            async with self._lock:
                await self._download()
        return self._keys.get(kid)  # type: ignore[return-value]


class CacheDownloadingOnce(_Cache):
    def _stale(self) -> bool:
        return self._fetched_at is None


class CacheCountingRefusedAttempts(_Cache):
    async def key_for(self, kid: str) -> dict[str, Any]:
        if kid not in self._keys and not self._stale():
            self._fetched_at = self._clock.time()  # a refused attempt restarts the interval
        return await super().key_for(kid)


# --- 06.3 ----------------------------------------------------------------------------------


def _by_identity(issuer: str, subject: str) -> Any:
    return (
        select(User)
        .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
        .where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
    )


async def _create(db: AsyncSession, claims: Mapping[str, Any], tenant_id: int, email: str) -> User:
    user = User(tenant_id=tenant_id, email=email, display_name=claims.get("name") or "SSO user")
    db.add(user)
    await db.flush()
    db.add(ExternalIdentity(issuer=claims["iss"], subject=claims["sub"], user_id=user.id))
    await db.commit()
    return user


def _stored_email(claims: Mapping[str, Any]) -> str:
    if claims.get("email_verified") is True and isinstance(claims.get("email"), str):
        return normalize_email(claims["email"])
    return placeholder_email(claims["iss"], claims["sub"])


async def provision_by_email(
    db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int
) -> User:
    """The account key is the email: another provider's account with it gets in."""
    email = claims.get("email")
    if isinstance(email, str):
        user = await db.scalar(select(User).where(User.email == normalize_email(email)))
        if user is not None:
            return user
    user = await db.scalar(_by_identity(claims["iss"], claims["sub"]))
    return user or await _create(db, claims, tenant_id, _stored_email(claims))


async def provision_linking_unverified(
    db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int
) -> User:
    """Links a new provider account to the account with its email, verified or not."""
    user = await db.scalar(_by_identity(claims["iss"], claims["sub"]))
    if user is not None:
        return user
    email = claims.get("email")
    if isinstance(email, str):
        owner = await db.scalar(select(User).where(User.email == normalize_email(email)))
        if owner is not None:
            db.add(ExternalIdentity(issuer=claims["iss"], subject=claims["sub"], user_id=owner.id))
            await db.commit()
            return owner
    return await _create(db, claims, tenant_id, _stored_email(claims))


async def provision_storing_unverified_email(
    db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int
) -> User:
    user = await db.scalar(_by_identity(claims["iss"], claims["sub"]))
    if user is not None:
        return user
    email = claims.get("email")
    stored = normalize_email(email) if isinstance(email, str) else _stored_email(claims)
    return await _create(db, claims, tenant_id, stored)


async def provision_racing(db: AsyncSession, claims: Mapping[str, Any], *, tenant_id: int) -> User:
    """Select, then insert, with nothing for the other request that did the same."""
    from clouddocs.sso import AccountConflict, LinkRequired

    user = await db.scalar(_by_identity(claims["iss"], claims["sub"]))
    if user is not None:
        return user
    email = claims.get("email")
    if isinstance(email, str):
        owner = await db.scalar(select(User.id).where(User.email == normalize_email(email)))
        if owner is not None:
            raise LinkRequired(owner) if claims.get("email_verified") is True else AccountConflict()
    return await _create(db, claims, tenant_id, _stored_email(claims))


# --- 06.4 ----------------------------------------------------------------------------------


def role_first_match(groups: list[str], mapping: dict[str, str], default: str = "viewer") -> str:
    for group in groups:
        if mapping.get(group) in ROLES:
            return mapping[group]
    return default


def role_by_substring(groups: list[str], mapping: dict[str, str], default: str = "viewer") -> str:
    roles = [role for name, role in mapping.items() if any(name in g for g in groups)]
    roles = [role for role in roles if role in ROLES]
    return max(roles, key=ROLES.index, default=default)


def role_trusting_mapping(
    groups: list[str], mapping: dict[str, str], default: str = "viewer"
) -> str:
    roles = [mapping[g] for g in groups if g in mapping]
    known = [r for r in roles if r in ROLES]
    return roles[0] if roles and not known else max(known, key=ROLES.index, default=default)


# --- 06.5 ----------------------------------------------------------------------------------


def mix_up_keeping_client_id(
    attacker_login_url: str, *, honest_authorization_endpoint: str, honest_client_id: str
) -> str:
    """Keeps the client id CloudDocs has at evil.test: the honest provider does not know it."""
    query = urlsplit(attacker_login_url).query
    return f"{honest_authorization_endpoint}?{query}"


def _parameters(callback_url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(callback_url).query))


def check_response_ignoring_iss(
    callback_url: str, *, issuer: str, state: str, iss_required: bool
) -> str:
    parameters = _parameters(callback_url)
    if not hmac.compare_digest(parameters.get("state", ""), state) or "error" in parameters:
        raise OIDCError("state or error")
    return parameters["code"]


def check_response_accepting_missing_iss(
    callback_url: str, *, issuer: str, state: str, iss_required: bool
) -> str:
    parameters = _parameters(callback_url)
    if parameters.get("iss", issuer) != issuer:
        raise OIDCError("mix-up")
    if not hmac.compare_digest(parameters.get("state", ""), state) or "error" in parameters:
        raise OIDCError("state or error")
    return parameters["code"]


def check_response_without_state(
    callback_url: str, *, issuer: str, state: str, iss_required: bool
) -> str:
    parameters = _parameters(callback_url)
    if parameters.get("iss") != issuer or "error" in parameters:
        raise OIDCError("mix-up or error")
    return parameters["code"]


def check_response_ignoring_error(
    callback_url: str, *, issuer: str, state: str, iss_required: bool
) -> str:
    parameters = _parameters(callback_url)
    if parameters.get("iss") != issuer or parameters.get("state") != state:
        raise OIDCError("mix-up or state")
    return parameters.get("code", "")


def check_response_refusing_everything(
    callback_url: str, *, issuer: str, state: str, iss_required: bool
) -> str:
    raise OIDCError("refused")
