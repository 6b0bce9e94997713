"""Chapter 4 lab, exercises 04.5–04.7: rotating keys, per-key limits, signed webhooks.

Split from ``ch04`` (04.1–04.4, issuing and checking keys), which imports this module so
that loading chapter 4 registers all seven. The same rules hold: every case runs the
learner's code for real, on a fresh database, a frozen clock and an in-process app.

No ``from __future__ import annotations`` here: the in-check FastAPI apps put the learner's
dependencies in ``Annotated[...]`` annotations, which FastAPI must see as objects, not strings.
"""

import asyncio
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
    compare_digest_answering,
    coroutine_function,
    fresh_database,
    is_valid,
    issue,
    limited_app,
    plain,
    reference_header,
    remembered,
    rotate,
    stored_rows,
)
from authcourse.checks.core import Namespace
from authcourse.checks.racing import file_database, racing_sessions
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.apikeys import (
    ApiKey,
    verify_api_key,
)
from clouddocs.db import Tenant

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
