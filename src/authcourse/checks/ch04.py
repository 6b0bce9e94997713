"""Chapter 4 lab: API keys and signed webhooks.

Every case runs the learner's code for real: keys are generated and parsed, stored in a
fresh SQLite database, presented to a FastAPI app in-process, rate-limited, rotated with
a frozen clock, and webhooks are signed and replayed.

No ``from __future__ import annotations`` here: the in-check FastAPI apps put the learner's
dependencies in ``Annotated[...]`` annotations, which FastAPI must see as objects, not strings.
"""

import asyncio
import hashlib
import random
import tempfile
from datetime import timedelta

from sqlalchemy import update

from authcourse.checks import exercise, expect, expect_equal
from authcourse.checks.ch04_support import (
    BODY,
    OVERLAP,
    SECRET,
    accept,
    bearer,
    body_bits,
    compare_digest_answering,
    coroutine_function,
    fresh_database,
    insert_raw_key,
    is_valid,
    issue,
    limited_app,
    plain,
    reference_header,
    remembered,
    rotate,
    same_hint,
    scoped_app,
    stored_rows,
    url_app,
)
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.checks.racing import file_database, racing_sessions
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.apikeys import (
    BASE62_ALPHABET,
    KEY_PATTERN,
    ApiKey,
    generate_api_key,
    looks_like_api_key,
    verify_api_key,
)
from clouddocs.db import Tenant

# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- 04.1

generate = exercise(
    "04.1",
    "Generate a recognisable key",
    points=2,
    needs=("generate_key", "has_valid_checksum"),
    answered_by=("clouddocs.apikeys.generate_api_key", "clouddocs.apikeys.looks_like_api_key"),
    hints=(
        "A key is KEY_PREFIXES[environment] + 22 characters drawn with secrets.choice from "
        "BASE62_ALPHABET + key_checksum(prefix + body).",
        "`random` is predictable (its state can be rebuilt from its outputs): use `secrets`.",
        "has_valid_checksum: check the shape first (prefix, length, alphabet), then recompute "
        "key_checksum over everything but the last 6 characters and compare.",
    ),
)


@generate.case(
    "a key is cdk_live_/cdk_test_ + 22 base62 characters + a 6-character checksum", positive=True
)
def _(ns: Namespace) -> None:
    generate_key = plain(ns, "generate_key")
    live, test = generate_key("live"), generate_key("test")
    for environment, key in (("live", live), ("test", test)):
        expect(
            isinstance(key, str) and KEY_PATTERN.fullmatch(key) is not None,
            f"generate_key({environment!r})",
            f"cdk_{environment}_ followed by 28 base62 characters (22 random + 6 checksum)",
            f"{key!r}"
            if not isinstance(key, str)
            else f"a string of {len(key)} characters starting {key[:9]!r}",
        )
    expect(test.startswith("cdk_test_"), "generate_key('test')", "a cdk_test_ key", test[:9])


@generate.case("the checksum is CRC32 of prefix + body, written with key_checksum")
def _(ns: Namespace) -> None:
    keys = [ns["generate_key"]("live") for _ in range(20)]
    wrong = [key for key in keys if not looks_like_api_key(key)]
    expect(
        not wrong,
        "checking 20 generated keys with the course's offline checksum test",
        "every key's last 6 characters to equal key_checksum(the characters before them)",
        f"{len(wrong)} of 20 keys with a wrong checksum",
    )


@generate.case("keys come from `secrets`: unpredictable and using the whole alphabet")
def _(ns: Namespace) -> None:
    random.seed(4)
    first = ns["generate_key"]("live")
    random.seed(4)
    second = ns["generate_key"]("live")
    random.seed()
    expect(
        first != second,
        "seeding Python's `random` module the same way twice, generating a key each time",
        "two different keys (secrets does not depend on random's seed)",
        "the same key twice: the key is predictable from random's state",
    )
    bodies = [body_bits(ns["generate_key"]("live")) for _ in range(400)]
    expect(
        len(set(bodies)) == len(bodies),
        "generating 400 keys",
        "400 different keys",
        f"{len(bodies) - len(set(bodies))} duplicates",
    )
    unused = set(BASE62_ALPHABET) - set("".join(bodies))
    expect(
        not unused,
        "looking at every character of 400 key bodies",
        "all 62 base62 characters to appear (each adds log2(62) bits)",
        f"{len(unused)} characters never used, e.g. {''.join(sorted(unused))[:12]!r}",
    )


@generate.case("has_valid_checksum accepts real live and test keys", positive=True)
def _(ns: Namespace) -> None:
    check = plain(ns, "has_valid_checksum")
    for label, key in (
        ("a real key", generate_api_key("live")),
        ("a real cdk_test_ key", generate_api_key("test")),
    ):
        verdict = check(key)
        expect(verdict is True, f"has_valid_checksum({label})", "True", repr(verdict))


@generate.case("has_valid_checksum refuses typos, look-alikes and junk")
def _(ns: Namespace) -> None:
    check = plain(ns, "has_valid_checksum")
    real = generate_api_key("live")
    position = 15
    typo = real[:position] + ("a" if real[position] != "a" else "b") + real[position + 1 :]
    refused = {
        "a key with one character changed": typo,
        "a key with its prefix changed to cdk_prod_": real.replace("cdk_live_", "cdk_prod_"),
        "a key with a character appended": real + "x",
        "the right shape with made-up characters": "cdk_live_" + "EXAMPLE" * 4,
        "an empty string": "",
        "a non-ASCII look-alike": real[:-1] + "é",
        "a 10,000-character string": "cdk_live_" + "a" * 10_000,
    }
    for label, candidate in refused.items():
        try:
            verdict = check(candidate)
        except (NotImplementedError, CheckFailed):
            raise  # the stub (not started yet) or a plain-words failure
        except Exception as error:  # the task says "never raise"
            verdict = f"an exception ({type(error).__name__})"
        expect(
            verdict is False, f"has_valid_checksum({label})", "False (never an exception)", verdict
        )


# --------------------------------------------------------------------------- 04.2

store = exercise(
    "04.2",
    "Store a digest, verify by lookup",
    points=3,
    needs=("store_new_key", "verify_key"),
    answered_by=(
        "clouddocs.apikeys.issue_api_key",
        "clouddocs.apikeys.new_key_record",
        "clouddocs.apikeys.check_api_key",
        "clouddocs.apikeys.verify_api_key",
        "clouddocs.apikeys.key_digest",
    ),
    hints=(
        "Store hashlib.sha256(key.encode()).hexdigest() in ApiKey.digest; return the plaintext.",
        "verify_key: refuse malformed input first, then select(ApiKey).where(ApiKey.digest == …).",
        "A row is usable only if revoked_at is None and clock.now() < as_utc(expires_at); "
        "then set last_used_at = clock.now() and commit.",
    ),
)


@store.case("the database holds the SHA-256 digest of the key, never the key")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        async with db.sessions() as session:
            key = await coroutine_function(ns, "store_new_key")(
                session, tenant_id=tenant_id, scopes=["docs:read"], clock=clock
            )
        expect(
            isinstance(key, str) and looks_like_api_key(key),
            "store_new_key(...)",
            "the new key's plaintext (a cdk_live_ key) as the return value",
            repr(key)[:40],
        )
        rows = await stored_rows(db)
        expect_equal(len(rows), 1, "counting rows in api_keys after storing one key")
        leaked = [column for column, value in rows[0].items() if key in str(value)]
        expect(
            not leaked,
            "reading every column of the stored row, as a database leak would",
            "no column containing the key",
            f"the plaintext key in column(s) {', '.join(leaked)}",
        )
        expect(
            rows[0]["digest"] == hashlib.sha256(key.encode()).hexdigest(),
            "reading the digest column",
            "hashlib.sha256(key).hexdigest(): deterministic, so it can be looked up by index",
            f"{str(rows[0]['digest'])[:24]!r}…",
        )


@store.case("a stored key verifies and its last use is recorded", positive=True)
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        async with db.sessions() as session:
            key = await coroutine_function(ns, "store_new_key")(
                session, tenant_id=tenant_id, scopes=["docs:read"], clock=clock
            )
        clock.advance(minutes=5)
        async with db.sessions() as session:
            record = await coroutine_function(ns, "verify_key")(session, key, clock)
        expect(
            isinstance(record, ApiKey),
            "verify_key(the key just stored)",
            "its ApiKey row",
            repr(record),
        )
        rows = await stored_rows(db)
        last_used = rows[0]["last_used_at"]
        expect(
            last_used is not None and str(last_used).startswith("2026-01-05 09:05"),
            "reading last_used_at after using the key at 09:05",
            "09:05 (clock.now() when the key was used)",
            repr(last_used),
        )


@store.case("unknown, malformed and garbage keys are refused without crashing")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        async with db.sessions() as session:
            key = await coroutine_function(ns, "store_new_key")(
                session, tenant_id=tenant_id, scopes=["docs:read"], clock=clock
            )
        digest = hashlib.sha256(key.encode()).hexdigest()
        candidates = {
            "a well-formed key that was never stored": generate_api_key(),
            "the stored digest presented as a key": digest,
            "the key with its last character changed": key[:-1] + ("a" if key[-1] != "a" else "b"),
            "another key with the same prefix and last four characters": same_hint(key),
            "an empty string": "",
            "a 10,000-character string": "x" * 10_000,
            "a non-ASCII string": "cdk_live_é" + "a" * 27,
        }
        for label, candidate in candidates.items():
            try:
                async with db.sessions() as session:
                    record = await coroutine_function(ns, "verify_key")(session, candidate, clock)
            except (NotImplementedError, CheckFailed):
                raise  # the stub (not started yet) or a plain-words failure
            except Exception as error:  # "refused without crashing"
                record = f"an exception ({type(error).__name__})"
            expect(
                record is None, f"verify_key({label})", "None (never an exception)", repr(record)
            )


@store.case("expired and revoked keys are refused")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        async with db.sessions() as session:
            kept = await coroutine_function(ns, "store_new_key")(
                session, tenant_id=tenant_id, scopes=["docs:read"], clock=clock
            )
            revoked = await coroutine_function(ns, "store_new_key")(
                session, tenant_id=tenant_id, scopes=["docs:read"], clock=clock
            )
            await session.execute(
                update(ApiKey)
                .where(ApiKey.digest == hashlib.sha256(revoked.encode()).hexdigest())
                .values(revoked_at=clock.now())
            )
            await session.commit()
        async with db.sessions() as session:
            record = await coroutine_function(ns, "verify_key")(session, revoked, clock)
        expect(record is None, "verify_key(a key whose revoked_at is set)", "None", repr(record))
        clock.advance(days=89)
        async with db.sessions() as session:
            record = await coroutine_function(ns, "verify_key")(session, kept, clock)
        expect(record is not None, "verify_key(a 90-day key on day 89)", "its row", "None")
        clock.advance(days=2)
        async with db.sessions() as session:
            record = await coroutine_function(ns, "verify_key")(session, kept, clock)
        expect(
            record is None,
            "verify_key(a 90-day key on day 91)",
            "None: new keys must expire after 90 days",
            repr(record),
        )


# --------------------------------------------------------------------------- 04.3

url = exercise(
    "04.3",
    "Attack then fix: keys stay out of URLs",
    points=2,
    needs=("read_api_key",),
    answered_by=("clouddocs.apikeys.refuse_key_in_url", "clouddocs.apikeys.ApiKeyGuard"),
    hints=(
        "Look at request.query_params.multi_items() before the header: refuse a parameter "
        "named api_key/apikey/key/access_token/token, or any value containing 'cdk_'.",
        "Refuse with HTTPException(400, ..., headers={'WWW-Authenticate': "
        "'Bearer error=\"invalid_request\"'}).",
        "No `Authorization: Bearer …` header → HTTPException(401, ..., headers="
        "{'WWW-Authenticate': 'Bearer realm=\"clouddocs\"'}).",
    ),
)


@url.case("a key in the Authorization header reaches the route intact", positive=True)
async def _(ns: Namespace) -> None:
    key = generate_api_key()
    async with asgi_client(url_app(ns)) as client:
        response = await client.get("/documents", headers=bearer(key))
    expect_equal(response.status_code, 200, "GET /documents with Authorization: Bearer <key>")
    expect(
        response.json().get("received") == key,
        "reading the key the route received",
        "exactly the key sent",
        "a different value",
    )


@url.case("?api_key= is refused with a 400, even for a valid key and even with a header too")
async def _(ns: Namespace) -> None:
    key = generate_api_key()
    async with asgi_client(url_app(ns)) as client:
        alone = await client.get("/documents", params={"api_key": key})
        both = await client.get("/documents", params={"api_key": key}, headers=bearer(key))
    for label, response in (("alone", alone), ("with a header as well", both)):
        expect(
            response.status_code == 400,
            f"GET /documents?api_key=<key> ({label})",
            "400: keys in URLs end up in access logs",
            f"{response.status_code}",
        )


@url.case("a key under any parameter name (?token=, ?q=cdk_live_…) is refused")
async def _(ns: Namespace) -> None:
    key = generate_api_key()
    async with asgi_client(url_app(ns)) as client:
        for params in ({"token": key}, {"access_token": key}, {"q": key}):
            response = await client.get("/documents", params=params, headers=bearer(key))
            name = next(iter(params))
            expect(
                response.status_code == 400,
                f"GET /documents?{name}=<key>",
                "400",
                f"{response.status_code}",
            )
        harmless = await client.get("/documents", params={"page": "2"}, headers=bearer(key))
    expect_equal(harmless.status_code, 200, "GET /documents?page=2 with the key in the header")


@url.case("no key, or another scheme, is a 401 with a Bearer challenge")
async def _(ns: Namespace) -> None:
    async with asgi_client(url_app(ns)) as client:
        missing = await client.get("/documents")
        basic = await client.get("/documents", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    for label, response in (("no Authorization header", missing), ("Basic credentials", basic)):
        challenge = response.headers.get("www-authenticate", "")
        expect(
            response.status_code == 401 and challenge.startswith("Bearer"),
            f"GET /documents with {label}",
            "401 with a `WWW-Authenticate: Bearer …` header",
            f"{response.status_code} with WWW-Authenticate {challenge or 'missing'!r}",
        )


# --------------------------------------------------------------------------- 04.4

scopes = exercise(
    "04.4",
    "The scope dependency",
    points=2,
    needs=("require_scope",),
    answered_by=("clouddocs.apikeys.scope_requirement", "clouddocs.apikeys.ApiKeyGuard"),
    hints=(
        "Return an inner `async def` whose parameter is "
        "`key: Annotated[KeyPrincipal, Depends(authenticate)]`: authentication runs first.",
        "Compare against the set key.scopes (exact membership), never a substring of a string.",
        "Missing → HTTPException(403, detail naming the scope, headers={'WWW-Authenticate': "
        'f\'Bearer error="insufficient_scope", scope="{scope}"\'}).',
    ),
)


@scopes.case("a key with the scope gets through", positive=True)
async def _(ns: Namespace) -> None:
    async with scoped_app(ns) as (app, db, tenant_id, clock):
        key, key_id = await issue(db, tenant_id, clock, ("docs:read", "docs:write"))
        async with asgi_client(app) as client:
            read = await client.get("/documents", headers=bearer(key))
            write = await client.post("/documents", headers=bearer(key))
    expect_equal(read.status_code, 200, "GET /documents (docs:read) with a docs:read+write key")
    expect_equal(write.status_code, 200, "POST /documents (docs:write) with a docs:read+write key")
    expect_equal(read.json(), {"key_id": key_id}, "reading which key the route received")


@scopes.case("a key without the scope gets a 403 that names the missing scope")
async def _(ns: Namespace) -> None:
    async with scoped_app(ns) as (app, db, tenant_id, clock):
        key, _ = await issue(db, tenant_id, clock, ("docs:read",))
        async with asgi_client(app) as client:
            response = await client.post("/documents", headers=bearer(key))
    expect(
        response.status_code == 403,
        "POST /documents (needs docs:write) with a docs:read key",
        "403: the key is valid, it is just not allowed (401 would mean 'who are you?')",
        f"{response.status_code}",
    )
    expect(
        "docs:write" in response.text,
        "reading the 403 body",
        "a message naming the missing scope docs:write",
        response.text[:120],
    )
    challenge = response.headers.get("www-authenticate", "")
    expect(
        'error="insufficient_scope"' in challenge,
        "reading the 403's WWW-Authenticate header",
        'Bearer error="insufficient_scope" (RFC 6750 §3.1)',
        repr(challenge) if challenge else "no header",
    )


@scopes.case("no key is still a 401: authentication comes before the scope check")
async def _(ns: Namespace) -> None:
    async with scoped_app(ns) as (app, _db, _tenant_id, _clock):
        async with asgi_client(app) as client:
            anonymous = await client.post("/documents")
            forged = await client.post("/documents", headers=bearer(generate_api_key()))
    expect_equal(anonymous.status_code, 401, "POST /documents with no key")
    expect_equal(forged.status_code, 401, "POST /documents with a key that was never issued")


@scopes.case("scopes match exactly, never as substrings")
async def _(ns: Namespace) -> None:
    async with scoped_app(ns) as (app, db, tenant_id, clock):
        key = await insert_raw_key(db, tenant_id, clock, "docs:read-metadata docs:writer")
        async with asgi_client(app) as client:
            read = await client.get("/documents", headers=bearer(key))
            write = await client.post("/documents", headers=bearer(key))
    expect_equal(
        read.status_code, 403, "GET /documents with a key whose only scope is docs:read-metadata"
    )
    expect_equal(write.status_code, 403, "POST /documents with a key scoped docs:writer")


# --------------------------------------------------------------------------- 04.5

rotation = exercise(
    "04.5",
    "Rotation with an overlap",
    points=3,
    needs=("rotate_key",),
    answered_by=("clouddocs.apikeys.rotate_api_key", "authcourse.checks.ch04_support.rotate"),
    hints=(
        "Load the old row with session.get(ApiKey, old_key_id); refuse (LookupError) if it is "
        "missing, revoked, expired or already rotated (rotated_at is set).",
        "Claim it atomically: session.execute(update(ApiKey).where(ApiKey.id == old_key_id, "
        "ApiKey.rotated_at.is_(None), ApiKey.revoked_at.is_(None), ApiKey.expires_at > now)"
        ".values(rotated_at=now, expires_at=min(now + overlap, as_utc(old.expires_at)))"
        ".execution_options(synchronize_session=False)); if result.rowcount != 1, roll back "
        "and raise LookupError.",
        "Then store the successor with your store_new_key(session, tenant_id=old.tenant_id, "
        "scopes=sorted(old.scope_set), clock=clock): its commit covers the claim too.",
    ),
)


@rotation.case("both keys work during the overlap", positive=True)
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        old, old_id = await issue(db, tenant_id, clock)
        new = await rotate(ns, db, old_id, clock)
        expect(new != old, "comparing the successor with the old key", "a new key", "the same key")
        for moment in ("right after rotating", "23 hours later"):
            if moment == "23 hours later":
                clock.advance(hours=23)
            expect(await is_valid(db, old, clock), f"the old key, {moment}", "accepted", "refused")
            expect(await is_valid(db, new, clock), f"the new key, {moment}", "accepted", "refused")


@rotation.case("after the overlap the old key stops and the new one keeps working")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        old, old_id = await issue(db, tenant_id, clock)
        new = await rotate(ns, db, old_id, clock)
        clock.advance(hours=24, minutes=1)
        expect(
            not await is_valid(db, old, clock),
            "the old key 24 h 1 min after a rotation with a 24 h overlap",
            "refused",
            "still accepted",
        )
        expect(
            await is_valid(db, new, clock), "the new key at the same moment", "accepted", "refused"
        )


@rotation.case("the successor has the same tenant and exactly the same scopes")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        _, old_id = await issue(db, tenant_id, clock, ("docs:read", "docs:share"))
        new = await rotate(ns, db, old_id, clock)
        async with db.sessions() as session:
            record = await verify_api_key(session, new, clock)
        expect(record is not None, "looking the successor up", "a stored, active key", "nothing")
        assert record is not None
        expect_equal(record.tenant_id, tenant_id, "reading the successor's tenant")
        expect_equal(
            sorted(record.scope_set),
            ["docs:read", "docs:share"],
            "reading the successor's scopes (rotation must not widen or narrow access)",
        )


@rotation.case("a key that expires before the overlap ends is not extended")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        old, old_id = await issue(db, tenant_id, clock)
        async with db.sessions() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == old_id)
                .values(expires_at=clock.now() + timedelta(hours=1))
            )
            await session.commit()
        await rotate(ns, db, old_id, clock)
        clock.advance(hours=2)
        expect(
            not await is_valid(db, old, clock),
            "an old key due to expire in 1 h, 2 h after a rotation with a 24 h overlap",
            "refused: rotation only ever shortens a key's life",
            "still accepted",
        )


@rotation.case("a revoked key cannot be rotated back to life")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    async with fresh_database() as (db, tenant_id):
        _, old_id = await issue(db, tenant_id, clock)
        async with db.sessions() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == old_id).values(revoked_at=clock.now())
            )
            await session.commit()
        outcome = "no error"
        try:
            async with db.sessions() as session:
                await coroutine_function(ns, "rotate_key")(session, old_id, clock, OVERLAP)
        except LookupError:
            outcome = "LookupError"
        rows = await stored_rows(db)
        expect(
            outcome == "LookupError" and len(rows) == 1,
            "rotate_key(a revoked key)",
            "LookupError and no new key",
            f"{outcome} and {len(rows) - 1} new key(s)",
        )


@rotation.case("two rotations of one key at the same time: exactly one succeeds")
async def _(ns: Namespace) -> None:
    clock = FrozenClock()
    # A SQLite file (the in-memory database is one shared connection) and two sessions that
    # take turns statement by statement, each statement its own transaction: both read the
    # key before either writes, as two requests on two servers can (checks/racing.py).
    with tempfile.TemporaryDirectory() as folder:
        async with file_database(folder) as db:
            await db.create_all()
            async with db.sessions() as session:
                tenant = Tenant(name="Race Corp")
                session.add(tenant)
                await session.commit()
                tenant_id = tenant.id
            _, old_id = await issue(db, tenant_id, clock)
            racing = racing_sessions(db, autocommit=True)

            async def attempt() -> str:
                try:
                    async with racing() as session:
                        await coroutine_function(ns, "rotate_key")(session, old_id, clock, OVERLAP)
                except LookupError:
                    return "LookupError"
                return "successor"

            outcomes = await asyncio.gather(attempt(), attempt())
            rows = await stored_rows(db)
    expect(
        sorted(outcomes) == ["LookupError", "successor"] and len(rows) == 2,
        "two rotate_key calls on the same key at the same moment (asyncio.gather, SQLite file)",
        "one successor and one LookupError: claim the old key with one conditional UPDATE",
        f"{outcomes.count('successor')} successors and {len(rows) - 1} new key(s) stored",
    )


# --------------------------------------------------------------------------- 04.6

limits_ex = exercise(
    "04.6",
    "A per-key rate limit",
    points=2,
    needs=("limit_per_key",),
    hints=(
        "The dependency takes `key: Annotated[KeyPrincipal, Depends(authenticate)]` and a "
        "`response: Response`.",
        "Count with `await limiter.hit(f'api-key:{key.key_id}')`: the key id, not the IP, "
        "not the key.",
        "Refused → raise too_many_requests(decision); allowed → "
        "response.headers.update(rate_limit_headers(decision)).",
    ),
)


@limits_ex.case("requests within the budget get through, with the key", positive=True)
async def _(ns: Namespace) -> None:
    async with limited_app(ns) as (app, (key, _), _):
        async with asgi_client(app) as client:
            responses = [await client.get("/documents", headers=bearer(key)) for _ in range(3)]
    expect_equal(
        [response.status_code for response in responses],
        [200, 200, 200],
        "3 requests with one key, limit 3/minute",
    )
    expect(
        "key_id" in responses[0].json(),
        "reading what the route received",
        "the KeyPrincipal returned by your dependency",
        responses[0].text[:80],
    )


@limits_ex.case("each key has its own budget: a 4th request is 429, another key is unaffected")
async def _(ns: Namespace) -> None:
    async with limited_app(ns) as (app, (busy, quiet), _):
        async with asgi_client(app) as client:
            statuses = [(await client.get("/documents", headers=bearer(busy))).status_code]
            for _ in range(3):
                statuses.append((await client.get("/documents", headers=bearer(busy))).status_code)
            other = await client.get("/documents", headers=bearer(quiet))
    expect_equal(statuses, [200, 200, 200, 429], "4 requests with one key, limit 3/minute")
    expect(
        other.status_code == 200,
        "a request with a second key from the same IP",
        "200: the busy key's limit is its own",
        f"{other.status_code}",
    )


@limits_ex.case("one key shares its budget across IP addresses")
async def _(ns: Namespace) -> None:
    async with limited_app(ns) as (app, (key, _), _):
        statuses = []
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"):
            async with asgi_client(app, client_ip=address) as client:
                statuses.append((await client.get("/documents", headers=bearer(key))).status_code)
    expect_equal(
        statuses, [200, 200, 200, 429], "4 requests with one key, each from a different IP"
    )


@limits_ex.case("responses carry RateLimit headers; a 429 carries Retry-After")
async def _(ns: Namespace) -> None:
    async with limited_app(ns) as (app, (key, _), _):
        async with asgi_client(app) as client:
            allowed = [await client.get("/documents", headers=bearer(key)) for _ in range(1)]
            for _ in range(2):
                allowed.append(await client.get("/documents", headers=bearer(key)))
            refused = await client.get("/documents", headers=bearer(key))
    expect_equal(
        [response.headers.get("ratelimit-remaining") for response in allowed],
        ["2", "1", "0"],
        "reading RateLimit-Remaining on 3 allowed requests",
    )
    retry_after = refused.headers.get("retry-after", "")
    expect(
        refused.status_code == 429 and retry_after.isdigit() and int(retry_after) > 0,
        "the refused 4th request",
        "429 with Retry-After: <seconds>",
        f"{refused.status_code} with Retry-After {retry_after or 'missing'!r}",
    )


@limits_ex.case("the limiter counts key ids, never the key itself")
async def _(ns: Namespace) -> None:
    async with limited_app(ns) as (app, (key, _), limiter):
        async with asgi_client(app) as client:
            await client.get("/documents", headers=bearer(key))
    leaking = [counter for counter in limiter.counters if "cdk_" in counter or key[-10:] in counter]
    expect(
        limiter.counters and not leaking,
        "looking at the counter names the limiter received",
        "names like 'api-key:1' (a Redis limiter would store them in clear)",
        repr(limiter.counters[:2]) if limiter.counters else "no hit at all",
    )


# --------------------------------------------------------------------------- 04.7

webhooks = exercise(
    "04.7",
    "Attack then fix: signed webhooks",
    points=3,
    needs=("sign_webhook", "WebhookReceiver"),
    answered_by=(
        "clouddocs.webhooks.compute_signature",
        "clouddocs.webhooks.signature_header",
        "clouddocs.webhooks.parse_signature_header",
        "clouddocs.webhooks.WebhookVerifier",
        "clouddocs.webhooks.create_webhook_receiver",
        "authcourse.checks.ch04_support.reference_header",
    ),
    hints=(
        "sign_webhook: hmac.new(secret.encode(), f'{timestamp}.{delivery_id}.'.encode() + body, "
        "hashlib.sha256).hexdigest(), returned as f't={timestamp},id={delivery_id},v1={signature}'.",
        "accept: parse defensively (any malformed header → False), refuse |now - t| > 300, "
        "compare with hmac.compare_digest.",
        "Remember each accepted delivery id until its timestamp leaves the window; "
        "an id seen before → False. Not the signature or t + body: the same event sent twice "
        "in one second is two deliveries.",
        "Keep the memory in an attribute (e.g. a dict delivery id → timestamp + 300) and drop "
        "the entries whose time has passed on each accept: it stays the size of one window.",
    ),
)


@webhooks.case(
    "sign_webhook produces t=<unix>,id=<delivery id>,v1=<hex HMAC-SHA256 of 't.id.body'>",
    positive=True,
)
def _(ns: Namespace) -> None:
    timestamp, delivery_id = int(FrozenClock().time()), "dlv_check-delivery-id-0001"
    produced = plain(ns, "sign_webhook")(SECRET, BODY, timestamp, delivery_id)
    expect(
        produced == reference_header(timestamp, delivery_id=delivery_id),
        f"sign_webhook(secret, body, {timestamp}, {delivery_id!r})",
        "t=<timestamp>,id=<delivery id>,v1=<hex HMAC-SHA256 over '<timestamp>.<id>.' + body>",
        repr(produced)[:110],
    )


@webhooks.case("a fresh, genuine delivery is accepted", positive=True)
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    verdict = accept(receiver, reference_header(int(clock.time())))
    expect(verdict is True, "accept(a delivery signed just now)", "True", verdict)


@webhooks.case("forged, tampered and malformed deliveries are refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    now = int(clock.time())
    good = reference_header(now)
    attempts: dict[str, tuple[str | None, bytes]] = {
        "a body changed after signing": (good, BODY.replace(b"7", b"8")),
        "a signature made with another secret": (
            reference_header(now, secret="whsec_other"),
            BODY,
        ),
        "the timestamp changed in the header": (good.replace(f"t={now}", f"t={now + 1}"), BODY),
        "the delivery id changed in the header": (good.replace(",id=dlv_", ",id=dlv_x"), BODY),
        "no header": (None, BODY),
        "an empty header": ("", BODY),
        "a header without t=": (good.split(",", 1)[1], BODY),
        "t=yesterday": (f"t=yesterday,{good.split(',', 1)[1]}", BODY),
        "v1=zz": (f"t={now},id=dlv_x,v1=zz", BODY),
    }
    for label, (header, body) in attempts.items():
        verdict = accept(receiver, header, body)
        expect(verdict is False, f"accept({label})", "False", verdict)


@webhooks.case("deliveries outside the 5-minute window are refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    now = int(clock.time())
    for offset, expected in ((-299, True), (-301, False), (-86_400, False), (400, False)):
        verdict = accept(receiver, reference_header(now + offset))
        when = f"{abs(offset)} s {'ago' if offset < 0 else 'in the future'}"
        expect(verdict is expected, f"accept(a delivery signed {when})", str(expected), verdict)


@webhooks.case("a replayed delivery is refused; a new one is accepted")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    header = reference_header(int(clock.time()))
    first, replay = accept(receiver, header), accept(receiver, header)
    expect(first is True, "accept(a genuine delivery), first time", "True", first)
    expect(replay is False, "accept(the same delivery again)", "False: a replay", replay)
    clock.advance(seconds=30)
    fresh = accept(receiver, reference_header(int(clock.time())))
    expect(fresh is True, "accept(a new delivery 30 s later)", "True", fresh)


@webhooks.case("the same event sent twice in one second is two deliveries, both accepted")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    now = int(clock.time())
    verdicts = [accept(receiver, reference_header(now)) for _ in range(2)]
    expect(
        verdicts == [True, True],
        "accept(the same body, same second, two delivery ids)",
        "[True, True]: replays are recognised by their delivery id, not by t + body",
        repr(verdicts),
    )


@webhooks.case("the replay memory forgets deliveries the window already refuses")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    receiver = ns["WebhookReceiver"](SECRET, clock)
    refused = []
    for number in range(600):
        body = b'{"delivery":%d}' % number
        if accept(receiver, reference_header(int(clock.time()), body), body) is not True:
            refused.append(number + 1)
        clock.advance(seconds=10)
    expect(
        not refused,
        "600 genuine deliveries, one every 10 seconds",
        "all accepted",
        f"delivery {refused[0]} refused" if refused else "",
    )
    kept = remembered(receiver)
    expect(
        kept <= 100,
        "counting what the receiver still remembers after those 600 deliveries (100 minutes)",
        "only the ~30 deliveries whose timestamps are still inside the 5-minute window",
        f"{kept} entries: a memory that grows with every delivery ever received",
    )


@webhooks.case("the comparison that decides is hmac.compare_digest (never ==)")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    now = int(clock.time())
    with compare_digest_answering(ns["WebhookReceiver"](SECRET, clock), False) as calls:
        receiver = ns["WebhookReceiver"](SECRET, clock)
        genuine = accept(receiver, reference_header(now))
    expect(
        bool(calls),
        "watching how accept(a genuine delivery) compares the signature",
        "a call to hmac.compare_digest (== stops at the first difference and leaks timing)",
        "no call to hmac.compare_digest",
    )
    expect(
        genuine is False,
        "accept(a genuine delivery) while hmac.compare_digest was made to answer 'different'",
        "False: the verdict must follow compare_digest",
        f"{genuine}: another comparison (== ?) decided, and == leaks timing",
    )
    forged = f"t={now},id=dlv_forged-by-the-check-01,v1={'0' * 64}"
    with compare_digest_answering(ns["WebhookReceiver"](SECRET, clock), True):
        receiver = ns["WebhookReceiver"](SECRET, clock)
        verdict = accept(receiver, forged)
    expect(
        verdict is True,
        "accept(a well-formed forged delivery) while hmac.compare_digest was made to answer"
        " 'equal'",
        "True: the verdict must follow compare_digest alone",
        f"{verdict}: another comparison (== ?) also checked the signature, and == leaks timing",
    )
