"""The user claims the provider releases, Google-shaped, chosen by the granted scopes."""

from __future__ import annotations

from typing import Any

from authcourse.idp.models import User

#: Scopes every provider understands, whatever clients are registered.
IDENTITY_SCOPES = ("openid", "profile", "email", "groups")

CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "picture",
    "email",
    "email_verified",
    "hd",
    "groups",
)


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """Claims for ID tokens and /userinfo (OpenID Connect Core §5.4: scopes select claims)."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.subject}
    if "profile" in scopes:
        claims.update(_present(name=user.name, picture=user.picture))
    if "email" in scopes:
        claims.update(_present(email=user.email))
        if user.email is not None:
            claims["email_verified"] = user.email_verified
    # Like Google's ``hd``: the hosted (Workspace) domain, present only for such accounts.
    if scopes & {"profile", "email"} and user.hosted_domain is not None:
        claims["hd"] = user.hosted_domain
    if "groups" in scopes:
        claims["groups"] = list(user.groups)
    return claims


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}
