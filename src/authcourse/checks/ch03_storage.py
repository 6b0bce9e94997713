"""Chapter 3 exercises on server-side token state: refresh rotation (03.3), a ``jti``
denylist (03.4) and the per-user token version (03.5). Imported by ``ch03``.

Where the chapter teaches atomicity, a case runs two calls at once with ``asyncio.gather``
on a SQLite file (``racing_db``): the in-memory database is one shared connection, on which
two "concurrent" requests share one transaction and prove nothing.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse.checks import CheckFailed, exercise, expect, expect_equal
from authcourse.checks.ch03_support import (
    NOW,
    TOKEN_LIFETIME,
    call_async,
    racing_db,
    token_service,
    unfinished_first,
    users_db,
)
from authcourse.checks.core import Namespace
from authcourse.client import asgi_client
from authcourse.clock import FrozenClock
from clouddocs.db import Database
from clouddocs.jwt_tokens import REFRESH_TOKEN_TYPE, InvalidToken, TokenService
from clouddocs.refresh_tokens import RefreshFamily, RefreshReuse, RefreshTokenRecord, start_family
from clouddocs.token_revocation import DeniedToken, TokenVersion, bump_token_version

# --- 03.3 ----------------------------------------------------------------------------------
ex3 = exercise(
    "03.3",
    "Refresh rotation with reuse detection",
    points=3,
    needs=("rotate_refresh",),
    answered_by=(
        "clouddocs.refresh_tokens.rotate_refresh",
        "clouddocs.refresh_tokens.RefreshTokens.rotate",
    ),
    hints=(
        "Load the RefreshTokenRecord by jti, then its RefreshFamily; refuse unknown, revoked"
        " or expired ones (record.expires_at and family.expires_at are epoch seconds).",
        "Spend the token with UPDATE ... WHERE jti = :jti AND used_at IS NULL and look at the"
        " rowcount: 0 means it was already spent.",
        "On reuse, set family.revoked_reason, COMMIT, and only then raise RefreshReuse.",
    ),
)


async def _start(session: AsyncSession, user_id: int, now: int) -> RefreshTokenRecord:
    return await start_family(
        session, user_id, now=now, token_lifetime=TOKEN_LIFETIME, family_lifetime=timedelta(days=7)
    )


async def _rotate(ns: Namespace, db: Database, jti: str, now: int) -> Any:
    async with db.sessions() as session:
        return await call_async(
            ns, "rotate_refresh", session, jti, now=now, token_lifetime=TOKEN_LIFETIME
        )


@ex3.case(
    "a token rotates to a new one in the same family and is marked spent; the new one rotates too",
    positive=True,
)
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (user_id,)):
        now = NOW
        async with db.sessions() as session:
            first = await _start(session, user_id, now)
        second = await _rotate(ns, db, first.jti, now + 60)
        expect(
            isinstance(second, RefreshTokenRecord) and second.jti != first.jti,
            "rotating a fresh refresh token",
            "a new RefreshTokenRecord with another jti",
            second,
        )
        expect_equal(
            second.family_id,
            first.family_id,
            "comparing the successor's family with the original's",
        )
        async with db.sessions() as session:
            spent = await session.get(RefreshTokenRecord, first.jti)
        expect(
            spent is not None and spent.used_at is not None,
            "reading the rotated token's row",
            "used_at set",
            "used_at still empty",
        )
        third = await _rotate(ns, db, second.jti, now + 120)
        expect(
            third.jti not in (first.jti, second.jti),
            "rotating the successor",
            "yet another jti",
            third.jti,
        )


@ex3.case("replaying a spent token raises RefreshReuse and revokes the whole family")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (user_id,)):
        now = NOW
        async with db.sessions() as session:
            first = await _start(session, user_id, now)
        second = await _rotate(ns, db, first.jti, now + 60)
        try:
            await _rotate(ns, db, first.jti, now + 120)
        except RefreshReuse:
            pass
        except InvalidToken as error:
            raise CheckFailed(
                "presenting a spent refresh token again", "RefreshReuse", f"InvalidToken: {error}"
            ) from None
        else:
            raise CheckFailed(
                "presenting a spent refresh token again",
                "RefreshReuse",
                "a new token: the replay was accepted",
            )
        async with db.sessions() as session:
            reason = await session.scalar(
                select(RefreshFamily.revoked_reason).where(RefreshFamily.id == first.family_id)
            )
        expect(
            reason is not None,
            "reading the family after the replay",
            "the family revoked (revoked_reason set and committed)",
            "it is not revoked",
        )
        try:
            await _rotate(ns, db, second.jti, now + 180)
        except InvalidToken:
            pass
        else:
            raise CheckFailed(
                "rotating the newest token of a family revoked for reuse",
                "InvalidToken",
                "it was rotated",
            )


@ex3.case("an unknown token is refused")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, _users):
        tried = "rotating a jti that was never issued"
        try:
            await _rotate(ns, db, "no-such-token", NOW)
        except InvalidToken:
            return
        except (CheckFailed, NotImplementedError):
            raise
        except Exception as error:  # the app would answer 500 instead of 401
            raise CheckFailed(
                tried, "InvalidToken (the app answers 401)", f"{type(error).__name__}: {error}"
            ) from None
        raise CheckFailed(tried, "InvalidToken", "it was rotated")


@ex3.case("two rotations of one token at once: only one succeeds")
async def _(ns: Namespace) -> None:
    async with racing_db("ada@acme.test") as (_db, sessions, (user_id,)):
        async with sessions() as session:
            first = await _start(session, user_id, NOW)

        async def rotate() -> Any:
            async with sessions() as session:
                return await call_async(
                    ns,
                    "rotate_refresh",
                    session,
                    first.jti,
                    now=NOW + 60,
                    token_lifetime=TOKEN_LIFETIME,
                )

        outcomes = unfinished_first(
            await asyncio.gather(rotate(), rotate(), return_exceptions=True)
        )
        rotated = [outcome for outcome in outcomes if isinstance(outcome, RefreshTokenRecord)]
        expect(
            len(rotated) <= 1,
            "rotating the same refresh token twice at once (a thief racing its owner), on a"
            " SQLite file",
            "at most one successor: read-then-set lets both requests see the token unspent;"
            " spend it with UPDATE … WHERE used_at IS NULL and check the rowcount",
            f"{len(rotated)} successors",
        )


@ex3.case("a refresh token past its own expiry is refused")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (user_id,)):
        now = NOW
        async with db.sessions() as session:
            record = await _start(session, user_id, now)
        try:
            await _rotate(ns, db, record.jti, record.expires_at + 60)
        except InvalidToken:
            return
        raise CheckFailed(
            "rotating a refresh token one minute after its expires_at (the family is still young)",
            "InvalidToken",
            "it was rotated",
        )


@ex3.case("a family past its absolute lifetime is refused, however recently it was refreshed")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (user_id,)):
        now = NOW
        async with db.sessions() as session:
            record = await _start(session, user_id, now)
        moment = now
        for _ in range(15):  # refresh every 11 hours: 165 hours, still inside the 7 days
            moment += 11 * 3600
            record = await _rotate(ns, db, record.jti, moment)
        async with db.sessions() as session:
            family = await session.get(RefreshFamily, record.family_id)
            assert family is not None
            family_end = family.expires_at
            current = await session.get(RefreshTokenRecord, record.jti)
            assert current is not None
            current.expires_at = (
                family_end + 3600
            )  # as if its own lifetime reached past the family's
            await session.commit()
        try:
            await _rotate(ns, db, record.jti, family_end + 60)
        except InvalidToken:
            return
        raise CheckFailed(
            "rotating a token one minute after its family's 7-day limit",
            "InvalidToken",
            "it was rotated",
        )


# --- 03.4 ----------------------------------------------------------------------------------
ex4 = exercise(
    "03.4",
    "Log out this device: a jti denylist",
    points=3,
    needs=("deny_token", "authenticate_request", "prune_denylist"),
    answered_by=(
        "clouddocs.token_revocation.deny",
        "clouddocs.token_revocation.prune_denylist",
        "clouddocs.token_revocation.is_revoked",
    ),
    hints=(
        "deny_token: session.add(DeniedToken(jti=claims['jti'], expires_at=claims['exp'])),"
        " then commit. If the commit raises IntegrityError the token is already denied:"
        " roll back and carry on.",
        "authenticate_request: no 'Bearer <token>' header → raise unauthorized(); a token"
        " tokens.verify refuses → unauthorized('invalid_token'). Then look the jti up with"
        " await session.get(DeniedToken, claims['jti']): a row means this token was logged out.",
        "prune_denylist: delete(DeniedToken).where(DeniedToken.expires_at < now -"
        " LEEWAY_SECONDS); the result's rowcount is how many rows went. Pruning at exp itself"
        " is too early: the verifier accepts the token for LEEWAY_SECONDS more.",
    ),
)


@contextlib.asynccontextmanager
async def _denylist_app(
    ns: Namespace,
) -> AsyncIterator[tuple[FastAPI, Database, TokenService, int]]:
    """/me behind the learner's authenticate_request; DELETE /auth/session logs out with it."""
    async with users_db("ada@acme.test") as (db, (user_id,)):
        tokens = token_service()
        yield _build_denylist_app(ns, db, tokens), db, tokens, user_id


def _build_denylist_app(ns: Namespace, db: Database, tokens: TokenService) -> FastAPI:
    app = FastAPI()
    Session = Annotated[AsyncSession, Depends(db.session)]

    async def current_claims(request: Request, session: Session) -> Any:
        authorization = request.headers.get("authorization")
        return await call_async(ns, "authenticate_request", session, authorization, tokens=tokens)

    Claims = Annotated[Any, Depends(current_claims)]

    @app.get("/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    @app.delete("/auth/session", status_code=204)
    async def log_out(claims: Claims, session: Session) -> None:
        await call_async(ns, "deny_token", session, claims)

    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _after_logout(status: int) -> str:
    if status == 403:
        return (
            "403: a logged-out token is no longer a credential, so the answer is 401 (with"
            " WWW-Authenticate); 403 means a valid credential that is not allowed this"
        )
    return f"{status}: the logged-out token still works" if status == 200 else str(status)


def _challenge(response: Any) -> str:
    return str(response.headers.get("www-authenticate", "(no WWW-Authenticate header)"))


@ex4.case("a valid token: 200, and logging out answers 204", positive=True)
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        token = tokens.issue(str(user_id))
        async with asgi_client(app) as client:
            response = await client.get("/me", headers=_bearer(token))
            expect(
                response.status_code == 200 and response.json() == {"sub": str(user_id)},
                "GET /me with a valid token",
                "200 and the user's claims",
                f"{response.status_code} {response.text}",
            )
            response = await client.delete("/auth/session", headers=_bearer(token))
            expect(
                response.status_code == 204,
                "logging out with a valid token (DELETE /auth/session calls your deny_token)",
                "204",
                f"{response.status_code} {response.text}",
            )


@ex4.case("no token: 401 with WWW-Authenticate: Bearer")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, _db, _tokens, _user_id):
        async with asgi_client(app) as client:
            response = await client.get("/me")
            expect(
                response.status_code == 401 and _challenge(response).startswith("Bearer"),
                "GET /me without a token",
                "401 with WWW-Authenticate: Bearer",
                f"{response.status_code}, {_challenge(response)}",
            )


@ex4.case('a refresh token or garbage: 401 with Bearer error="invalid_token"')
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        refresh_token = tokens.issue(str(user_id), token_type=REFRESH_TOKEN_TYPE)
        async with asgi_client(app) as client:
            for label, token in (
                ("a refresh token", refresh_token),
                ("a malformed token", "not.a.jwt"),
            ):
                response = await client.get("/me", headers=_bearer(token))
                expect(
                    response.status_code == 401 and 'error="invalid_token"' in _challenge(response),
                    f"GET /me with {label}",
                    '401 with WWW-Authenticate: Bearer error="invalid_token"',
                    f"{response.status_code}, {_challenge(response)}",
                )


@ex4.case("a logged-out token is refused at once on every request, and only that token")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        phone, laptop = tokens.issue(str(user_id)), tokens.issue(str(user_id))
        async with asgi_client(app) as client:
            await client.delete("/auth/session", headers=_bearer(phone))
            response = await client.get("/me", headers=_bearer(phone))
            expect(
                response.status_code == 401,
                "GET /me with the phone's token right after it logged out (10 minutes before exp)",
                "401: the denylist is checked on every request, not only when refreshing",
                _after_logout(response.status_code),
            )
            response = await client.get("/me", headers=_bearer(laptop))
            expect(
                response.status_code == 200,
                "GET /me with the laptop's token, which did not log out",
                "200: denying one jti leaves the user's other tokens alone",
                response.status_code,
            )


@ex4.case("denying the same token twice is harmless (a double-clicked logout)")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (user_id,)):
        tokens = token_service()
        claims = tokens.verify(tokens.issue(str(user_id)))
        try:
            for _attempt in range(2):
                async with db.sessions() as session:
                    await call_async(ns, "deny_token", session, claims)
        except IntegrityError:
            raise CheckFailed(
                "calling deny_token twice for the same token",
                "the second call to do nothing",
                "a duplicate-key error (IntegrityError) from the database",
            ) from None


@ex4.case("two logouts of the same token at once both succeed")
async def _(ns: Namespace) -> None:
    async with racing_db("ada@acme.test") as (_db, sessions, (user_id,)):
        tokens = token_service()
        claims = tokens.verify(tokens.issue(str(user_id)))

        async def log_out() -> None:
            async with sessions() as session:
                await call_async(ns, "deny_token", session, claims)

        outcomes = unfinished_first(
            await asyncio.gather(log_out(), log_out(), return_exceptions=True)
        )
        failed = [error for error in outcomes if isinstance(error, BaseException)]
        expect(
            not failed,
            "two concurrent calls of deny_token for one token (a double-clicked logout reaching"
            " two servers), on a SQLite file",
            "both to return: insert, and treat the duplicate-key error as already denied",
            f"{type(failed[0]).__name__}: {failed[0]}" if failed else "",
        )


@ex4.case("pruning forgets expired rows, never one whose token still verifies")
async def _(ns: Namespace) -> None:
    async with _denylist_app(ns) as (app, db, tokens, user_id):
        clock = tokens.clock
        assert isinstance(clock, FrozenClock)
        first = tokens.issue(str(user_id))  # expires at t0 + 10 min
        clock.advance(minutes=5)
        second = tokens.issue(str(user_id))  # expires at t0 + 15 min
        async with asgi_client(app) as client:
            for token in (first, second):
                await client.delete("/auth/session", headers=_bearer(token))
            clock.advance(minutes=5, seconds=10)  # first: 10 s past exp, inside the 30 s leeway
            async with db.sessions() as session:
                await call_async(ns, "prune_denylist", session, now=clock.time())
            response = await client.get("/me", headers=_bearer(first))
            expect(
                response.status_code == 401,
                "pruning 10 s after a logged-out token's exp (the verifier still accepts it for 30 s),"
                " then GET /me with that token",
                "401: its row must stay until exp + LEEWAY_SECONDS",
                f"{response.status_code}: pruning brought the logged-out token back to life",
            )
            clock.advance(seconds=25)  # first: 35 s past exp, refused by every verifier now
            async with db.sessions() as session:
                removed = await call_async(ns, "prune_denylist", session, now=clock.time())
            async with db.sessions() as session:
                left = (await session.scalars(select(DeniedToken.jti))).all()
            second_jti = tokens.verify(second)["jti"]
            expect(
                removed == 1 and list(left) == [second_jti],
                "pruning 35 s after the first token's exp, with a second denied token still alive",
                "1 row removed (the expired one) and the live token's row kept",
                f"{removed!r} removed, {len(left)} row(s) left"
                + ("" if second_jti in left else ", and the live token's row is gone"),
            )


# --- 03.5 ----------------------------------------------------------------------------------
ex5 = exercise(
    "03.5",
    "Log out everywhere: the token version",
    points=3,
    needs=("issue_for_user", "log_out_everywhere", "token_is_current"),
    answered_by=(
        "clouddocs.token_revocation.bump_token_version",
        "clouddocs.token_revocation.current_version",
        "clouddocs.token_revocation.end_all_sessions",
    ),
    hints=(
        "Read a user's version with select(TokenVersion.version).where(TokenVersion.user_id =="
        " user_id); None (no row yet) means 0. tokens.issue(str(user_id), claims={'ver': ...}).",
        "log_out_everywhere: update(TokenVersion).where(...).values(version=TokenVersion.version"
        " + 1); when no row was updated, add TokenVersion(user_id=user_id, version=1) and"
        " commit. A concurrent first call may have inserted that row meanwhile: catch"
        " IntegrityError, roll back, and run the UPDATE again.",
        "token_is_current: current when ver >= the stored version. No ver, a string, a float or a"
        " bool (True is an int in Python!) → False: a check you cannot make must refuse.",
    ),
)


async def _is_current(ns: Namespace, db: Database, claims: dict[str, Any], tried: str) -> bool:
    async with db.sessions() as session:
        try:
            answer = await call_async(ns, "token_is_current", session, claims)
        except (TypeError, ValueError) as error:
            raise CheckFailed(tried, "True or False", f"an error: {error}") from None
    expect(isinstance(answer, bool), tried, "True or False", answer)
    return bool(answer)


@ex5.case("a token carries the user's current version in ver, and is current", positive=True)
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (ada,)):
        tokens = token_service()
        for version in (0, 1):
            if version:
                async with db.sessions() as session:
                    await bump_token_version(session, ada)
            async with db.sessions() as session:
                token = await call_async(ns, "issue_for_user", session, ada, tokens=tokens)
            claims = tokens.verify(token)
            expect_equal(
                claims.get("ver"),
                version,
                f"reading ver in a token issued when the version is {version}",
            )
            expect(
                await _is_current(
                    ns, db, claims, f"asking if that token (ver {version}) is current"
                ),
                f"asking if a token issued just now (ver {version}) is current",
                "True",
                "False: a fresh token is refused",
            )


@ex5.case("after log out everywhere, every earlier token of the user is refused")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (ada,)):
        tokens = token_service()
        phone = tokens.verify(tokens.issue(str(ada), claims={"ver": 0}))
        laptop = tokens.verify(tokens.issue(str(ada), claims={"ver": 0}))
        async with db.sessions() as session:
            await call_async(ns, "log_out_everywhere", session, ada)
        for device, claims in (("phone", phone), ("laptop", laptop)):
            tried = f"asking if the {device}'s token (ver 0) is current after log out everywhere"
            expect(not await _is_current(ns, db, claims, tried), tried, "False", "True")
        after = tokens.verify(tokens.issue(str(ada), claims={"ver": 1}))
        tried = "asking if a token issued after log out everywhere (ver 1) is current"
        expect(await _is_current(ns, db, after, tried), tried, "True", "False")


@ex5.case("log out everywhere for one user leaves other users' tokens alone")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test", "bob@acme.test") as (db, (ada, bob)):
        tokens = token_service()
        bobs = tokens.verify(tokens.issue(str(bob), claims={"ver": 0}))
        async with db.sessions() as session:
            await call_async(ns, "log_out_everywhere", session, ada)
        tried = "asking if Bob's token (ver 0) is current after Ada logged out everywhere"
        expect(
            await _is_current(ns, db, bobs, tried), tried, "True", "False: Bob was logged out too"
        )


@ex5.case("a token without a ver claim, or with a non-integer one, is refused")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (ada,)):
        async with db.sessions() as session:
            await bump_token_version(session, ada)  # Ada's version is now 1
        base = {"sub": str(ada), "jti": "check-token"}
        for label, extra in (
            ("no ver claim", {}),
            ('ver "1" (a string)', {"ver": "1"}),
            ("ver true (a JSON boolean)", {"ver": True}),
            ("ver 1.5 (a float)", {"ver": 1.5}),
        ):
            tried = f"asking if a token with {label} is current (the user's version is 1)"
            expect(not await _is_current(ns, db, {**base, **extra}, tried), tried, "False", "True")


@ex5.case("logging out everywhere twice raises the version twice")
async def _(ns: Namespace) -> None:
    async with users_db("ada@acme.test") as (db, (ada,)):
        tokens = token_service()
        try:
            for _attempt in range(2):
                async with db.sessions() as session:
                    await call_async(ns, "log_out_everywhere", session, ada)
        except IntegrityError:
            raise CheckFailed(
                "calling log_out_everywhere a second time for the same user",
                "the existing row's version raised by one",
                "a duplicate-key error (IntegrityError): a second row was inserted",
            ) from None
        async with db.sessions() as session:
            stored = await session.scalar(
                select(TokenVersion.version).where(TokenVersion.user_id == ada)
            )
            token = await call_async(ns, "issue_for_user", session, ada, tokens=tokens)
        expect_equal(stored, 2, "reading Ada's version after two calls to log_out_everywhere")
        expect_equal(tokens.verify(token).get("ver"), 2, "reading ver in a token issued after that")


@ex5.case("two first log-outs-everywhere at once both count")
async def _(ns: Namespace) -> None:
    # Autocommit: each UPDATE that matches no row commits at once and locks nothing, as on
    # PostgreSQL; SQLite's whole-database write lock would otherwise hide the race.
    async with racing_db("ada@acme.test", autocommit=True) as (_db, sessions, (ada,)):

        async def log_out_everywhere() -> None:
            async with sessions() as session:
                await call_async(ns, "log_out_everywhere", session, ada)

        outcomes = unfinished_first(
            await asyncio.gather(log_out_everywhere(), log_out_everywhere(), return_exceptions=True)
        )
        tried = "two concurrent first calls of log_out_everywhere for Ada (no row yet)"
        failed = [error for error in outcomes if isinstance(error, BaseException)]
        expect(
            not failed,
            tried,
            "both to succeed: when the INSERT of the first row fails with IntegrityError, the"
            " other call created it meanwhile: roll back and run the UPDATE again",
            f"{type(failed[0]).__name__}: {failed[0]}" if failed else "",
        )
        async with sessions() as session:
            stored = await session.scalar(
                select(TokenVersion.version).where(TokenVersion.user_id == ada)
            )
        expect_equal(stored, 2, f"reading Ada's version after {tried}")
