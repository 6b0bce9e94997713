"""What chapter 8's checks share: requirement sets, a session+JWT world, certificates, the audit.

Kept out of ``ch08.py`` so the cases stay readable. Nothing here answers an exercise.

No ``from __future__ import annotations``: the in-check FastAPI apps put the learner's
dependencies in ``Annotated[...]`` annotations, which FastAPI must see as objects.
"""

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import httpx2
from fastapi import Depends, FastAPI

from authcourse.checks import expect
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from authcourse.tls import CertificateAuthority, Credential, WithTLSExtension, tls_extension
from clouddocs.db import Database, Tenant, User
from clouddocs.decisions import Actor, Client, IdentitySource, Requirements, Sharing
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.refresh_tokens import RefreshTokens
from clouddocs.sessions import SessionManager
from clouddocs.token_revocation import FAMILY_CLAIM, VERSION_CLAIM

SPA, MOBILE = frozenset({Client.SPA}), frozenset({Client.MOBILE})
#: The "which method for what" table, by features (the chapter's section 2).
ROWS: dict[str, Requirements] = {
    "blog with admin panel": Requirements(),
    "SPA with accounts": Requirements(clients=SPA, permission_levels=4),
    "mobile app": Requirements(clients=MOBILE, permission_levels=3),
    "public API": Requirements(actors=frozenset({Actor.PARTNERS, Actor.THIRD_PARTY_APPS}), clients=frozenset()),
    "enterprise SaaS": Requirements(clients=SPA, identity_source=IdentitySource.CUSTOMER_IDP,
                                    permission_levels=4, attribute_rules=True),
    "collaboration platform": Requirements(clients=SPA, identity_source=IdentitySource.CUSTOMER_IDP,
                                           password_fallback=True, sharing=Sharing.PER_RESOURCE),
    "microservices": Requirements(actors=frozenset({Actor.PEOPLE, Actor.SERVICES}),
                                  identity_source=IdentitySource.GATEWAY),
    "internal tools": Requirements(identity_source=IdentitySource.CORPORATE_IDP, permission_levels=3),
}


def plain(ns: Namespace, name: str) -> Any:
    """The learner's ``name``, refused in plain words if it was written as ``async def``."""
    function = ns[name]
    expect(not inspect.iscoroutinefunction(function), f"calling {name}(...)",
           "a plain function: this must be a plain function (no `async`)",
           "an `async def`, which returns a coroutine instead of the answer")
    return function


def async_dependency(made: object, name: str) -> Any:
    expect(callable(made) and inspect.iscoroutinefunction(made), f"calling {name}(...)",
           "an `async def` dependency back (it awaits the database or reads the request)",
           f"{type(made).__name__}")
    return made


@dataclass
class DualWorld:
    """A user with a live session and a valid access token, and an app using the learner's dependency."""

    app: FastAPI
    cookie: dict[str, str]
    bearer: dict[str, str]
    tokens: TokenService
    db: Database


@contextlib.asynccontextmanager
async def dual_world(ns: Namespace) -> AsyncIterator[DualWorld]:
    clock = FrozenClock()
    db = Database()
    await db.create_all()
    try:
        async with db.sessions() as s:
            s.add(Tenant(id=1, name="Acme"))
            s.add(User(id=7, tenant_id=1, email="ada@acme.test", display_name="Ada"))
            await s.commit()
        sessions = SessionManager(db, clock=clock)
        tokens = TokenService(KeyRing(new_hs256_key("lab")), TokenSettings("https://clouddocs.test", "api"), clock=clock)
        async with db.sessions() as s:
            session_id = await sessions.start(s, 7)
            login: Any = await RefreshTokens(tokens).start(s, 7)
        token = tokens.issue("7", claims={VERSION_CLAIM: 0, FAMILY_CLAIM: login.family_id})
        dependency = async_dependency(ns["session_or_jwt"](sessions, tokens, db), "session_or_jwt")
        app = FastAPI()

        @app.get("/me")
        async def me(caller: Annotated[Any, Depends(dependency)]) -> dict[str, str]:
            return {"user_id": str(caller.user_id), "via": str(caller.method)}

        yield DualWorld(app, {"Cookie": f"{sessions.cookie_name}={session_id}"},
                        {"Authorization": f"Bearer {token}"}, tokens, db)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Certificates:
    billing: Credential
    reports: Credential


@functools.cache
def certificates() -> Certificates:
    """Made once per process: EC keys take microseconds, but there is no need twice."""
    ca = CertificateAuthority.create("Lab 8 CA")
    return Certificates(ca.issue_client("billing"), ca.issue_client("reports"))


PROXY = "10.0.0.2"


def forged_header(credential: Credential) -> dict[str, str]:
    return {"X-Client-Cert": quote(credential.cert_pem.decode())}


def identity_app(ns: Namespace, presented: Credential | None) -> Any:
    """The learner's dependency behind /whoami, on a connection presenting ``presented``."""
    dependency = async_dependency(ns["service_identity"](frozenset({PROXY})), "service_identity")
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(service: Annotated[Any, Depends(dependency)]) -> dict[str, str]:
        return {"service": str(service)}

    return WithTLSExtension(app, tls_extension(presented.certificate if presented else None))


async def whoami(ns: Namespace, presented: Credential | None, headers: dict[str, str], client_ip: str) -> Any:
    """GET /whoami; a crash in the learner's dependency comes back as the 500 a client would see
    (the stub's NotImplementedError still propagates, so an untouched exercise shows as not started)."""
    async with asgi_client(identity_app(ns, presented), client_ip=client_ip) as http:
        try:
            return await http.get("/whoami", headers=headers)
        except NotImplementedError:
            raise
        except Exception as error:
            return httpx2.Response(500, json={"detail": f"server error ({type(error).__name__})"})


def call_factory(ns: Namespace, name: str) -> Callable[[], Any]:
    return plain(ns, name)  # type: ignore[no-any-return]


LAB_TOKEN = "s3cret-lab-token"


async def _sign_in(context: object, role: object) -> Any:
    from authcourse.audit.target import Auth

    return Auth(headers={"Authorization": f"Bearer {LAB_TOKEN}"}, access_token=LAB_TOKEN)


def lab_target() -> Any:
    from authcourse.audit.target import Account, Route, Target

    return Target(name="lab 8 app", protected=Route("GET", "/me"), origin="https://app.test",
                  user=Account("ada", "unused"), sign_in=_sign_in)
