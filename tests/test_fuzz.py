"""Schema-driven fuzzing of the CloudDocs reference apps (schemathesis).

Each operation of each app gets a bounded number of generated requests, anonymous and
signed in: no request may get a 5xx, and every response must match what the app's OpenAPI
document declares (status codes, headers, bodies, a 405's ``Allow``). Only "a schema-valid
request is accepted" is not required: a well-formed but wrong credential must be refused.
The apps are the ones the audit builds
(``authcourse.audit.targets.clouddocs``): seeded in-memory databases, a frozen clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.testclient import TestClient

from authcourse.audit.context import Context
from authcourse.audit.target import Auth
from authcourse.audit.targets.clouddocs import Audited, build_ch02, build_ch03, build_ch04

#: Generated requests per operation and identity: enough to find the shapes that break an
#: app (empty bodies, wrong types, odd encodings) within the suite's time budget.
EXAMPLES = 15

BUILDERS = {"ch02": build_ch02, "ch03": build_ch03, "ch04": build_ch04}
APPS: dict[str, Audited] = {name: build() for name, build in BUILDERS.items()}


@pytest.fixture(scope="module", params=sorted(APPS))
def signed_in(request: pytest.FixtureRequest) -> Iterator[tuple[str, TestClient, Auth]]:
    """The app's client (its lifespan running) and the first user's credentials."""
    audited = APPS[request.param]
    with TestClient(audited.app, base_url=audited.target.origin) as client:
        context = Context(audited.app, audited.target, client_ip="198.51.100.7", secrets=set())
        auth = client.portal.call(context.sign_in, "user")
        client.portal.call(context.close)
        yield request.param, client, auth


def _call(case: Any, client: TestClient, auth: Auth | None, origin: str) -> None:
    headers = {"Origin": origin}
    cookies: dict[str, str] = {}
    if auth is not None:
        headers.update(auth.headers)
        cookies = dict(auth.cookies)
        if auth.csrf:
            headers["X-CSRF-Token"] = auth.csrf
    response = case.call(session=client, headers=headers, cookies=cookies)
    # A schema-valid request may still be refused: a well-formed but wrong token, password
    # or email is exactly what these apps must answer 400/401 to.
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


def _fuzz(name: str) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", APPS[name].app)

    @schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def test(case: Any, signed_in: tuple[str, TestClient, Auth]) -> None:
        app_name, client, auth = signed_in
        if app_name != name:
            return
        origin = APPS[name].target.origin
        _call(case, client, None, origin)
        _call(case, client, auth, origin)

    return test


test_chapter_2_session_app = _fuzz("ch02")
test_chapter_3_token_app = _fuzz("ch03")
test_chapter_4_api_key_app = _fuzz("ch04")
