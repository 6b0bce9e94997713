"""Schema-driven fuzzing of the CloudDocs reference apps (schemathesis).

Each operation of each app gets a bounded number of generated requests, anonymous and
signed in: no request may get a 5xx, and every response must match what the app's OpenAPI
document declares (status codes, headers, bodies, a 405's ``Allow``). Only "a schema-valid
request is accepted" is not required: a well-formed but wrong credential must be refused.

Chapters 2-4 are the apps the audit builds (``authcourse.audit.targets.clouddocs``: seeded
in-memory databases, a frozen clock); chapter 5 is its resource server's HTTP surface, with a
stand-in verifier (the JWT and introspection verifiers have their own tests), and its
backend-for-frontend; chapter 6 is its SSO app (both signed in through the course's provider,
as ``authcourse.audit.targets.oauth`` builds them); chapter 7 is its document API on a
seeded database; chapter 8's four pattern apps are the ones its audit builds
(``authcourse.audit.targets.patterns``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from starlette.testclient import TestClient

from authcourse.audit.context import Context
from authcourse.audit.targets import patterns
from authcourse.audit.targets.clouddocs import Audited, build_ch02, build_ch03, build_ch04
from authcourse.audit.targets.oauth import AuditedOAuth, build_bff, build_sso
from authcourse.clock import FrozenClock
from clouddocs.db import Database, Document, Tenant, User
from clouddocs.jwt_tokens import KeyRing, TokenService, TokenSettings, new_hs256_key
from clouddocs.rbac import TENANT_CLAIM, Membership
from clouddocs.resource_server import create_docs_api
from clouddocs.security import Principal
from clouddocs.tenancy import build_documents_app

#: Generated requests per operation and identity: enough to find the shapes that break an
#: app (empty bodies, wrong types, odd encodings) within the suite's time budget.
EXAMPLES = 15
ORIGIN = "https://clouddocs.test"


@dataclass
class Fuzzed:
    """An app to fuzz and how to get a signed-in user's headers once its lifespan runs."""

    app: FastAPI
    sign_in: Callable[[], Awaitable[dict[str, str]]]
    cookies: dict[str, str]


def _from_audit(audited: Audited | AuditedOAuth | patterns.AuditedPattern) -> Fuzzed:
    fuzzed = Fuzzed(audited.app, lambda: _audit_sign_in(audited, fuzzed), {})
    return fuzzed


async def _audit_sign_in(audited: Audited | AuditedOAuth | patterns.AuditedPattern, fuzzed: Fuzzed) -> dict[str, str]:
    context = Context(audited.app, audited.target, client_ip="198.51.100.7", secrets=set())
    try:
        auth = await context.sign_in("user")
    finally:
        await context.close()
    fuzzed.cookies.update(auth.cookies)
    return {**auth.headers, **({"X-CSRF-Token": auth.csrf} if auth.csrf else {})}


def _chapter_7() -> Fuzzed:
    database = Database()
    tokens = TokenService(
        KeyRing(new_hs256_key("fuzz")), TokenSettings(ORIGIN, "https://api.clouddocs.test"), FrozenClock()
    )

    async def sign_in() -> dict[str, str]:
        await database.create_all()
        async with database.sessions() as session:
            tenant = Tenant(name="Acme")
            session.add(tenant)
            await session.flush()
            owner = User(tenant_id=tenant.id, email="ada@acme.test", display_name="Ada")
            session.add(owner)
            await session.flush()
            session.add(Membership(tenant_id=tenant.id, user_id=owner.id, role="owner"))
            session.add(Document(tenant_id=tenant.id, owner_id=owner.id, title="Plan", body=""))
            await session.commit()
        token = tokens.issue(str(owner.id), claims={TENANT_CLAIM: tenant.id})
        return {"Authorization": f"Bearer {token}"}

    return Fuzzed(build_documents_app(database, tokens), sign_in, {})


def _chapter_5() -> Fuzzed:
    async def verify(token: str) -> Principal | None:
        # A reader without docs:write: writes must answer the declared 403.
        return Principal("alice", frozenset({"docs:read"})) if token == "reader-token" else None

    async def sign_in() -> dict[str, str]:
        return {"Authorization": "Bearer reader-token"}

    return Fuzzed(create_docs_api(verify), sign_in, {})


APPS: dict[str, Fuzzed] = {
    "ch02": _from_audit(build_ch02()),
    "ch03": _from_audit(build_ch03()),
    "ch04": _from_audit(build_ch04()),
    "ch05": _chapter_5(),
    "ch05-bff": _from_audit(build_bff()),
    "ch06": _from_audit(build_sso()),
    "ch07": _chapter_7(),
    **{f"ch08_{name}": _from_audit(build()) for name, build in patterns.BUILDERS.items()},
}


@pytest.fixture(scope="module", params=sorted(APPS))
def signed_in(request: pytest.FixtureRequest) -> Iterator[tuple[str, TestClient, dict[str, str]]]:
    """The app's client (its lifespan running) and the first user's headers."""
    fuzzed = APPS[request.param]
    with TestClient(fuzzed.app, base_url=ORIGIN) as client:
        yield request.param, client, client.portal.call(fuzzed.sign_in)


def _call(case: Any, client: TestClient, headers: dict[str, str], cookies: dict[str, str]) -> None:
    response = case.call(session=client, headers={"Origin": ORIGIN, **headers}, cookies=cookies)
    # A schema-valid request may still be refused: a well-formed but wrong token, password
    # or email is exactly what these apps must answer 400/401 to.
    excluded = [positive_data_acceptance]
    if headers or cookies:
        # Signed in, the real credential replaces whatever was generated, so a case meant to
        # lack one (negative data: "no session cookie") carries it and is rightly accepted.
        excluded.append(negative_data_rejection)
    case.validate_response(response, excluded_checks=excluded)


def _fuzz(name: str) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", APPS[name].app)
    # UTF-8 text only: a JSON body with lone surrogates counts its length one way in the
    # schema's eyes and another in Python's (a pair decodes to one character). Deterministic,
    # so a run in CI tries the same requests as the run before it.
    schema.config.generation.update(codec="utf-8", deterministic=True)

    @schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def test(case: Any, signed_in: tuple[str, TestClient, dict[str, str]]) -> None:
        app_name, client, headers = signed_in
        if app_name != name:
            return
        _call(case, client, {}, {})
        _call(case, client, headers, APPS[name].cookies)

    return test


test_chapter_2_session_app = _fuzz("ch02")
test_chapter_3_token_app = _fuzz("ch03")
test_chapter_4_api_key_app = _fuzz("ch04")
test_chapter_5_resource_server = _fuzz("ch05")
test_chapter_5_backend_for_frontend = _fuzz("ch05-bff")
test_chapter_6_sso_app = _fuzz("ch06")
test_chapter_7_document_api = _fuzz("ch07")
test_chapter_8_startup_saas = _fuzz("ch08_startup_saas")
test_chapter_8_api_platform = _fuzz("ch08_api_platform")
test_chapter_8_enterprise = _fuzz("ch08_enterprise")
test_chapter_8_microservices = _fuzz("ch08_microservices")
