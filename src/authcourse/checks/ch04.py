"""Chapter 4 lab: API keys and signed webhooks (04.1–04.4 here; 04.5–04.7 in ``ch04_lifecycle``).

Every case runs the learner's code for real: keys are generated and parsed, stored in a
fresh SQLite database, presented to a FastAPI app in-process, rate-limited, rotated with
a frozen clock, and webhooks are signed and replayed.

No ``from __future__ import annotations`` here: the in-check FastAPI apps put the learner's
dependencies in ``Annotated[...]`` annotations, which FastAPI must see as objects, not strings.
"""

import hashlib
import random

from sqlalchemy import update

from authcourse.checks import ch04_lifecycle, exercise, expect, expect_equal
from authcourse.checks.ch04_support import (
    bearer,
    body_bits,
    coroutine_function,
    fresh_database,
    insert_raw_key,
    issue,
    plain,
    same_hint,
    scoped_app,
    stored_rows,
    url_app,
)
from authcourse.checks.core import CheckFailed, Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.apikeys import (
    BASE62_ALPHABET,
    KEY_PATTERN,
    ApiKey,
    generate_api_key,
    looks_like_api_key,
)

# Importing ch04_lifecycle registers 04.5–04.7.
__all__ = ["ch04_lifecycle"]

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
