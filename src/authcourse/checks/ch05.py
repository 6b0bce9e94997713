"""Chapter 5 lab: OAuth 2.0 — PKCE, the authorization request, the callback, a cached
client-credentials token, scopes and JWT access tokens.

Cases run the learner's code for real: against the course's in-process identity provider,
a stand-in token endpoint that records what it receives, an in-process FastAPI app, and
tokens signed with a key made for the checks.

No ``from __future__ import annotations``: the in-check FastAPI app puts the learner's
dependency in ``Annotated[...]``, which FastAPI must see as an object.
"""

import asyncio
import inspect
import random
import re
import time
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Security

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch05_support import (
    API,
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    RecordingProvider,
    access_token,
    asynchronous,
    jwks,
    make_provider,
    other_key,
    plain,
    sign_in_at,
    spy_on_compare_digest,
)
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.oauth_client import LoginFailed, PendingLogin, authorization_url, pkce_pair
from clouddocs.security import Principal

UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

# --------------------------------------------------------------------------- 05.1

pkce = exercise(
    "05.1",
    "A PKCE pair",
    points=1,
    needs=("make_verifier", "challenge_for"),
    hints=(
        "secrets.token_urlsafe(64) gives 86 characters from the unreserved set.",
        "The challenge: hashlib.sha256(verifier.encode()).digest(), then "
        "base64.urlsafe_b64encode(...) with the trailing '=' removed.",
    ),
)


@pkce.case("challenge_for reproduces the RFC 7636 appendix B test vector", positive=True)
def _(ns: Namespace) -> None:
    challenge = plain(ns, "challenge_for")("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    expect_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                 "challenge_for(the RFC 7636 appendix B verifier)")


@pkce.case("make_verifier gives 43-128 unreserved characters, new each time", positive=True)
def _(ns: Namespace) -> None:
    first, second = plain(ns, "make_verifier")(), plain(ns, "make_verifier")()
    expect(isinstance(first, str) and UNRESERVED.fullmatch(first),
           "make_verifier()", "43 to 128 characters from A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
           repr(first)[:80])
    expect(first != second, "make_verifier() twice", "two different verifiers", "the same one")


@pkce.case("the challenge is a hash, never the verifier itself (no `plain`)")
def _(ns: Namespace) -> None:
    verifier = plain(ns, "make_verifier")()
    challenge = plain(ns, "challenge_for")(verifier)
    expect(challenge != verifier, "challenge_for(a fresh verifier)",
           "the S256 hash: with `plain` the URL carries the secret itself",
           "the verifier unchanged")


@pkce.case("verifiers come from `secrets`, not `random`")
def _(ns: Namespace) -> None:
    random.seed(5)
    first = plain(ns, "make_verifier")()
    random.seed(5)
    second = plain(ns, "make_verifier")()
    random.seed()
    expect(first != second, "seeding Python's `random` the same way twice, a verifier each time",
           "two different verifiers (secrets does not depend on random's seed)",
           "the same verifier twice: it is predictable from random's state")


# --------------------------------------------------------------------------- 05.2

url_builder = exercise(
    "05.2",
    "The authorization URL",
    points=1,
    needs=("build_authorize_url",),
    hints=(
        "urllib.parse.urlencode({...}) escapes every value; join it to the endpoint with '?'.",
        "Don't forget response_type=code and code_challenge_method=S256.",
    ),
)


def _build(ns: Namespace, state: str, challenge: str, redirect_uri: str = CALLBACK) -> str:
    return str(plain(ns, "build_authorize_url")(
        ISSUER + "/authorize", client_id=CLIENT_ID, redirect_uri=redirect_uri,
        scope="openid docs:read", state=state, code_challenge=challenge))


@url_builder.case("the provider accepts your URL and sends a code back with your state",
                  positive=True)
async def _(ns: Namespace) -> None:
    _, challenge = pkce_pair()
    url = _build(ns, "state-1234", challenge)
    answer = await sign_in_at(make_provider(), url)
    location = answer.headers.get("location", "")
    query = parse_qs(urlsplit(location).query)
    expect("code" in query and location.startswith(CALLBACK),
           "alice signing in at the provider through your URL",
           "a redirect to the callback with a code", location or f"a {answer.status_code} page")
    expect_equal(query.get("state"), ["state-1234"], "the state in the callback")


@url_builder.case("the URL asks for code_challenge_method=S256")
def _(ns: Namespace) -> None:
    query = parse_qs(urlsplit(_build(ns, "s", "c" * 43)).query)
    expect_equal(query.get("code_challenge_method"), ["S256"],
                 "code_challenge_method in your URL (a provider's default is plain)")
    expect_equal(query.get("response_type"), ["code"], "response_type in your URL")


@url_builder.case("every value is URL-encoded")
def _(ns: Namespace) -> None:
    state = "a&b=c d?e#f"
    redirect = "https://clouddocs.test/cb?next=/docs&x=1"
    query = parse_qs(urlsplit(_build(ns, state, "c" * 43, redirect)).query)
    expect(query.get("state") == [state] and query.get("redirect_uri") == [redirect],
           f"a state {state!r} and a redirect_uri with its own query",
           "both read back unchanged from the URL",
           f"state={query.get('state')}, redirect_uri={query.get('redirect_uri')}")


# --------------------------------------------------------------------------- 05.3

callback = exercise(
    "05.3",
    "Attack then fix: the callback checks state",
    points=2,
    needs=("finish_login",),
    hints=(
        "parse_qs(urlsplit(callback_url).query) gives each parameter as a list.",
        "Compare with hmac.compare_digest(received.encode(), pending.state.encode()) and raise "
        "LoginFailed before posting anything when they differ.",
        "The token request: provider.post('/token', auth=(client_id, client_secret), "
        "data={grant_type, code, redirect_uri, code_verifier}).",
    ),
)


def _pending() -> PendingLogin:
    verifier, _ = pkce_pair()
    return PendingLogin(state="alice-browser-state-0123456789", code_verifier=verifier,
                        redirect_uri=CALLBACK)


async def _finish(ns: Namespace, pending: PendingLogin, url: str) -> tuple[str, int]:
    """Run finish_login against the recording provider: (outcome, token requests sent)."""
    provider = RecordingProvider()
    async with provider.client() as http:
        try:
            await asynchronous(ns, "finish_login")(http, pending, url, client_id=CLIENT_ID,
                                     client_secret=CLIENT_SECRET)
        except LoginFailed:
            return "LoginFailed", len(provider.requests)
    return "tokens returned", len(provider.requests)


@callback.case("a genuine callback is redeemed for tokens at the provider", positive=True)
async def _(ns: Namespace) -> None:
    idp = make_provider()
    verifier, challenge = pkce_pair()
    pending = PendingLogin("state-5678", verifier, CALLBACK)
    url = authorization_url(ISSUER + "/authorize", client_id=CLIENT_ID, redirect_uri=CALLBACK,
                            scope="openid docs:read", state="state-5678",
                            code_challenge=challenge)
    location = (await sign_in_at(idp, url)).headers["location"]
    async with asgi_client(idp.app, base_url=ISSUER) as provider:
        try:
            tokens = await asynchronous(ns, "finish_login")(
                provider, pending, location, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        except LoginFailed as refused:
            tokens = f"LoginFailed({refused})"
    expect(isinstance(tokens, dict) and "access_token" in tokens,
           "finish_login with a genuine callback (right state, real code)",
           "the provider's JSON answer with an access_token", repr(tokens)[:120])


@callback.case("a callback carrying another login's state is refused before any token request")
async def _(ns: Namespace) -> None:
    url = CALLBACK + "?code=mallorys-code&state=mallory-state"
    outcome, sent = await _finish(ns, _pending(), url)
    expect(outcome == "LoginFailed" and sent == 0,
           "a callback with mallory's code and state, in alice's browser (login CSRF)",
           "LoginFailed, and no request to the provider",
           f"{outcome} after {sent} token request(s)")


@callback.case("a callback without state, or with two, is refused")
async def _(ns: Namespace) -> None:
    pending = _pending()
    for url in (CALLBACK + "?code=some-code",
                f"{CALLBACK}?code=c&state=wrong&state={pending.state}"):
        outcome, sent = await _finish(ns, pending, url)
        expect(outcome == "LoginFailed" and sent == 0, f"finish_login with {url}",
               "LoginFailed: the state must be present once and match", outcome)


@callback.case("an error callback or one without a code raises LoginFailed")
async def _(ns: Namespace) -> None:
    pending = _pending()
    for url in (f"{CALLBACK}?error=access_denied&state={pending.state}",
                f"{CALLBACK}?state={pending.state}"):
        outcome, sent = await _finish(ns, pending, url)
        expect(outcome == "LoginFailed" and sent == 0, f"finish_login with {url}",
               "LoginFailed without contacting the provider", outcome)


@callback.case("a token endpoint that says no makes finish_login raise LoginFailed")
async def _(ns: Namespace) -> None:
    pending = _pending()
    provider = RecordingProvider(status=400)
    async with provider.client() as http:
        try:
            answer = await asynchronous(ns, "finish_login")(
                http, pending, f"{CALLBACK}?code=used-code&state={pending.state}",
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        except LoginFailed:
            return
    expect(False, "finish_login when the token endpoint answers 400 invalid_grant",
           "LoginFailed (a refused code is a failed login)", f"it returned {answer!r}"[:100])


@callback.case("state is compared in constant time (hmac.compare_digest, not ==)")
async def _(ns: Namespace) -> None:
    with spy_on_compare_digest(ns["finish_login"]) as calls:
        await _finish(ns, _pending(), CALLBACK + "?code=c&state=alice-browser-state-0123456780")
    expect(bool(calls), "watching how the state is compared",
           "a call to hmac.compare_digest (== stops at the first difference and leaks timing)",
           "no constant-time comparison")


# --------------------------------------------------------------------------- 05.4

cache = exercise(
    "05.4",
    "A cached client-credentials token",
    points=3,
    needs=("TokenCache",),
    hints=(
        "Keep the token and its expiry (clock.time() + expires_in); it is fresh while "
        "clock.time() < expires_at - skew.",
        "Create one asyncio.Lock in __init__; in get(), return a fresh token at once, else "
        "take the lock, look again (someone may have fetched while you waited), then fetch.",
        "invalidate(token): forget the cached token only if it is that token "
        "(hmac.compare_digest).",
    ),
)


class _Fetcher:
    """A token endpoint stand-in: counts calls and takes a moment, like a network call."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        number = self.calls
        await asyncio.sleep(0.005)
        return {"access_token": f"token-{number}", "token_type": "Bearer", "expires_in": 600}


def _cache(ns: Namespace, fetch: _Fetcher, clock: FrozenClock) -> Any:
    """The learner's TokenCache; ``get`` must be ``async def`` (callers await it)."""
    tokens = ns["TokenCache"](fetch, clock, skew=30.0)
    expect(inspect.iscoroutinefunction(getattr(type(tokens), "get", None)),
           "looking at your TokenCache.get", "`async def get(self)`: callers await it "
           "(and it awaits fetch())", "a plain `def`")
    return tokens


@cache.case("the first get() fetches; later calls reuse the token", positive=True)
async def _(ns: Namespace) -> None:
    fetch, clock = _Fetcher(), FrozenClock()
    tokens = _cache(ns, fetch, clock)
    first = await tokens.get()
    clock.advance(seconds=60)
    second = await tokens.get()
    expect(first == second == "token-1" and fetch.calls == 1,
           "get(), then get() again a minute later", "the same token, one fetch",
           f"{first!r} then {second!r} after {fetch.calls} fetch(es)")


@cache.case("a token is never used within `skew` seconds of its expiry")
async def _(ns: Namespace) -> None:
    fetch, clock = _Fetcher(), FrozenClock()
    tokens = _cache(ns, fetch, clock)
    await tokens.get()
    clock.advance(seconds=600 - 30)
    again = await tokens.get()
    expect(again == "token-2", "get() 30 s before a 600 s token expires (skew 30 s)",
           "a newly fetched token", f"{again!r} (cached past its usable life)")


@cache.case("50 concurrent callers on an empty or stale cache cause one fetch")
async def _(ns: Namespace) -> None:
    fetch, clock = _Fetcher(), FrozenClock()
    tokens = _cache(ns, fetch, clock)
    got = await asyncio.gather(*(tokens.get() for _ in range(50)))
    expect(fetch.calls == 1 and set(got) == {"token-1"}, "50 get() calls at once",
           "one token request, the same token for everyone",
           f"{fetch.calls} token requests")
    clock.advance(seconds=600)
    got = await asyncio.gather(*(tokens.get() for _ in range(50)))
    expect(fetch.calls == 2 and set(got) == {"token-2"},
           "50 get() calls at once once the token expired", "one more token request",
           f"{fetch.calls - 1} more token requests")


@cache.case("invalidate(token) makes the next get() fetch, but not for an older token")
async def _(ns: Namespace) -> None:
    fetch, clock = _Fetcher(), FrozenClock()
    tokens = _cache(ns, fetch, clock)
    first = await tokens.get()
    tokens.invalidate(first)
    second = await tokens.get()
    expect(second == "token-2", "get() after invalidate(the cached token)",
           "a new token (the API refused the old one)", repr(second))
    tokens.invalidate(first)
    third = await tokens.get()
    expect(third == "token-2" and fetch.calls == 2, "invalidate(an older token), then get()",
           "the newer token kept, no extra fetch", f"{third!r} after {fetch.calls} fetches")


# --------------------------------------------------------------------------- 05.5

scopes = exercise(
    "05.5",
    "The scope dependency",
    points=2,
    needs=("make_scope_guard",),
    hints=(
        "security_scopes.scopes lists what the route asked for; caller.scopes is a set.",
        "all(scope in caller.scopes for scope in security_scopes.scopes): whole words, every one.",
        "raise HTTPException(403, ..., headers={'WWW-Authenticate': bearer_challenge("
        "'insufficient_scope', scope=security_scopes.scope_str)})",
    ),
)

_CALLERS = {
    "reader": {"docs:read"},
    "writer": {"docs:read", "docs:write"},
    "read-only": {"docs:read-only"},
    "lister": {"docs:list"},
}


async def _verify(token: str) -> Principal | None:
    scopes_of = _CALLERS.get(token)
    return None if scopes_of is None else Principal(subject=token, scopes=frozenset(scopes_of))


def _scoped_app(ns: Namespace) -> FastAPI:
    guard = plain(ns, "make_scope_guard")(_verify)
    app = FastAPI()

    @app.get("/read")
    async def read(caller: Annotated[Principal, Security(guard, scopes=["docs:read"])]) -> str:
        return caller.subject

    @app.get("/both")
    async def both(
        caller: Annotated[Principal, Security(guard, scopes=["docs:read", "docs:list"])],
    ) -> str:
        return caller.subject

    return app


async def _call(ns: Namespace, path: str, token: str) -> tuple[int, str]:
    async with asgi_client(_scoped_app(ns)) as client:
        answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.headers.get("www-authenticate", "")


@scopes.case("a token with the route's scope gets through", positive=True)
async def _(ns: Namespace) -> None:
    status, _ = await _call(ns, "/read", "writer")
    expect_equal(status, 200, "GET /read (needs docs:read) with a docs:read docs:write token")


@scopes.case("a token without the scope gets 403 insufficient_scope naming the scope")
async def _(ns: Namespace) -> None:
    status, challenge = await _call(ns, "/read", "lister")
    expect(status == 403 and 'error="insufficient_scope"' in challenge
           and "docs:read" in challenge.partition("scope=")[2],
           "GET /read (needs docs:read) with a docs:list token",
           '403 with WWW-Authenticate: Bearer error="insufficient_scope", scope="docs:read" '
           "(the token is valid, just not allowed: RFC 6750 §3.1)",
           f"{status} with WWW-Authenticate {challenge!r}")


@scopes.case("scopes match as whole words, never as substrings")
async def _(ns: Namespace) -> None:
    status, _ = await _call(ns, "/read", "read-only")
    expect_equal(status, 403, "GET /read (needs docs:read) with a token whose scope is "
                              "docs:read-only")


@scopes.case("a route asking for two scopes needs both")
async def _(ns: Namespace) -> None:
    status, _ = await _call(ns, "/both", "reader")
    expect_equal(status, 403, "GET /both (needs docs:read and docs:list) with a docs:read token")


# --------------------------------------------------------------------------- 05.6

access = exercise(
    "05.6",
    "Validate a JWT access token",
    points=3,
    needs=("check_access_token",),
    hints=(
        "jwt.get_unverified_header(token) gives typ and kid; refuse unless typ is at+jwt.",
        "jwt.decode(token, jwks[kid].key, algorithms=['RS256'], issuer=..., audience=..., "
        "options={'require': [...], 'verify_exp': False}) then compare now with claims['exp'].",
        "Wrap it all in try/except (jwt.PyJWTError, KeyError) and return None.",
    ),
)


def _check(ns: Namespace, token: str, now: float) -> Any:
    return plain(ns, "check_access_token")(token, jwks(), issuer=ISSUER, audience=API, now=now)


@access.case("a valid access token for this API gives its claims", positive=True)
def _(ns: Namespace) -> None:
    now = time.time()
    claims = _check(ns, access_token(now), now)
    expect(isinstance(claims, dict) and claims.get("aud") == API and claims.get("scope"),
           "check_access_token(a valid token for this API)", "its claims", repr(claims)[:120])


def _refused(ns: Namespace, token: str, now: float, what: str, why: str) -> None:
    try:
        claims = _check(ns, token, now)
    except NotImplementedError:
        raise  # the stub: reported as not started
    except Exception as error:
        claims = f"an exception ({type(error).__name__})"
    expect(claims is None, f"check_access_token({what})", f"None: {why}", repr(claims)[:100])


@access.case("a token minted for another API (aud) is refused")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now, aud="https://billing.clouddocs.test"), now,
             "a token whose aud is another API", "it was not issued for this API")


@access.case("a token from another issuer is refused")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now, iss="https://attacker-idp.test"), now,
             "a token whose iss is another provider", "only the expected issuer's tokens count")


@access.case("an ID token (typ JWT) is refused")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now, header={"typ": "JWT"}), now, "a token with typ JWT",
             "only typ at+jwt is an access token (RFC 9068 §2.1)")


@access.case("an expired token is refused, judged by `now`")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now), now + 600, "a 600 s token, with now = its exp",
             "it expired (use the given now, not the wall clock)")


@access.case("only RS256 signatures by the provider's keys are accepted")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now, key=other_key()), now, "a token signed by another key",
             "the signature does not verify")
    _refused(ns, access_token(now, algorithm="none"), now, "a token with alg none",
             "the algorithm is fixed to RS256")


@access.case("a token missing a required claim (jti) is refused")
def _(ns: Namespace) -> None:
    now = time.time()
    _refused(ns, access_token(now, drop="jti"), now, "a token without jti",
             "RFC 9068 §2.2 requires iss aud exp iat sub client_id jti")


@access.case("malformed input gives None, never an exception")
def _(ns: Namespace) -> None:
    now = time.time()
    for junk in ("not-a-jwt", "a.b.c", ""):
        _refused(ns, junk, now, repr(junk), "bad input is an invalid token, not a crash")
