"""Regression tests for issue 13: each attack the review sent against chapter 2, sent again.

- Sign-up activated an unverified account at once: login then told new addresses (200) from
  taken ones (401), anyone could claim any address, every stranger landed in tenant 1,
  addresses without ``@`` were accepted, 40 sign-ups in a burst from one IP all succeeded,
  and "new" did more work than "taken".
- The policy took 8 characters with no second factor, and the composed and decomposed forms
  of one password were two different passwords (200 vs 401).
- The audit log could be rewritten by the app's own database account (``DROP TRIGGER``,
  ``DELETE``, ``ALTER TABLE … RENAME``) without a trace.

Concurrency tests use a file-backed SQLite database (the in-memory one shares a single
connection, so it cannot show what two writers do to a real database).
"""

import asyncio
import hashlib
import unicodedata
from typing import Any

import pytest
from hot_path import count_statements
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from authcourse import FrozenClock, asgi_client
from clouddocs.accounts import register_user
from clouddocs.audit_log import (
    AuditEvent,
    AuditEventType,
    checkpoint,
    postgresql_role_ddl,
    record_event,
    verify_chain,
)
from clouddocs.db import Database, Tenant, User
from clouddocs.password_policy import PasswordPolicy
from clouddocs.passwords import TEST_ARGON2, PasswordHasher
from clouddocs.session_app import SessionAppSettings, create_session_app
from clouddocs.signup import MemoryOutbox, SignupToken

from .conftest import ADA

ORIGIN = {"Origin": "https://clouddocs.test"}

NEW_PASSWORD = "a fresh long passphrase for zoe"


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts every hash and verification."""

    def __init__(self) -> None:
        self.calls = 0
        super().__init__(TEST_ARGON2)

    def hash(self, password: str) -> str:
        self.calls += 1
        return super().hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        self.calls += 1
        return super().verify(stored_hash, password)


def _app(
    database: Database, outbox: MemoryOutbox, hasher: PasswordHasher | None = None, **settings: Any
) -> Any:
    defaults: dict[str, Any] = {
        "login_rate_per_ip": "1000/minute",
        "register_rate_per_ip": "1000/minute",
        "register_rate_per_address": "1000/minute",
        "clock": FrozenClock(),
    }
    return create_session_app(
        SessionAppSettings(
            database=database,
            hasher=hasher or PasswordHasher(TEST_ARGON2),
            outbox=outbox,
            **{**defaults, **settings},
        )
    )


# --------------------------------------------------------------------------------------
# Verified sign-up
# --------------------------------------------------------------------------------------


# Attack: register an address with a password of your choice, then log in with it. The old
# flow created the account at once, so login answered 200 for a new address and 401 for a
# taken one, whatever /register said.
@pytest.mark.anyio
async def test_register_then_login_tells_nothing_about_the_address(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as attacker:
        answers = []
        for email in ["ada@example.com", "zoe@example.com"]:
            registered = await attacker.post(
                "/register", json={"email": email, "password": NEW_PASSWORD, "display_name": "M"}
            )
            login = await attacker.post("/login", json={"email": email, "password": NEW_PASSWORD})
            answers.append((registered.status_code, registered.content, login.status_code))
    assert answers[0] == answers[1]
    assert answers[0][0] == 202 and answers[0][2] == 401


# Attack: claim someone else's address. Until its owner follows the emailed link, a pending
# sign-up has no credential, no user and no tenant.
@pytest.mark.anyio
async def test_a_pending_sign_up_has_no_user_no_credential_and_no_tenant(
    memory_db: Database,
) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as client:
        await client.post("/register", json={"email": "zoe@example.com"})
    async with memory_db.sessions() as db:
        users = await db.scalar(select(func.count()).where(User.email == "zoe@example.com"))
        tenants = await db.scalar(select(func.count()).select_from(Tenant))
        pending = (await db.scalars(select(SignupToken))).all()
    assert users == 0 and tenants == 1
    assert len(pending) == 1 and pending[0].tenant_id is None


@pytest.mark.anyio
async def test_the_link_activates_once_stores_only_a_hash_and_expires(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    clock = FrozenClock()
    app = _app(memory_db, outbox, clock=clock)
    async with asgi_client(app, headers=ORIGIN) as client:
        await client.post("/register", json={"email": "Zoe@Example.com"})
        (mail,) = outbox.messages
        assert mail.to == "zoe@example.com" and mail.token is not None
        assert "#token=" in (mail.link or "")  # a fragment: never sent to a server or a log
        async with memory_db.sessions() as db:
            stored = (await db.scalars(select(SignupToken.token_hash))).all()
        assert mail.token not in stored
        assert hashlib.sha256(mail.token.encode()).hexdigest() in stored
        finish = {"token": mail.token, "password": NEW_PASSWORD, "display_name": "Zoe"}
        first = await client.post("/signup/activate", json=finish)
        again = await client.post("/signup/activate", json=finish)
        login = await client.post(
            "/login", json={"email": "zoe@example.com", "password": NEW_PASSWORD}
        )
        # An expired link is refused like an unknown one.
        await client.post("/register", json={"email": "yan@example.com"})
        clock.advance(hours=1, seconds=1)
        late = await client.post(
            "/signup/activate",
            json={"token": outbox.messages[-1].token, "password": NEW_PASSWORD, "display_name": "Y"},
        )
    assert first.status_code == 201 and login.status_code == 200
    assert again.status_code == 400 and late.status_code == 400
    assert again.content == late.content


@pytest.mark.anyio
async def test_a_self_service_sign_up_never_joins_an_existing_tenant(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as client:
        await client.post("/register", json={"email": "zoe@example.com"})
        token = outbox.messages[-1].token
        await client.post(
            "/signup/activate",
            json={"token": token, "password": NEW_PASSWORD, "display_name": "Zoe"},
        )
    async with memory_db.sessions() as db:
        zoe = await db.scalar(select(User).where(User.email == "zoe@example.com"))
    assert zoe is not None and zoe.tenant_id != 1


@pytest.mark.anyio
async def test_tenant_membership_comes_only_from_an_invitation(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as ada:
        login = await ada.post("/login", json=ADA)
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        invited = await ada.post("/invitations", json={"email": "ben@example.com"}, headers=csrf)
    assert invited.status_code == 202
    (mail,) = [m for m in outbox.messages if m.to == "ben@example.com"]
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as ben:
        accepted = await ben.post(
            "/signup/activate",
            json={"token": mail.token, "password": NEW_PASSWORD, "display_name": "Ben"},
        )
    async with memory_db.sessions() as db:
        ben_row = await db.scalar(select(User).where(User.email == "ben@example.com"))
    assert accepted.status_code == 201 and ben_row is not None and ben_row.tenant_id == 1


@pytest.mark.anyio
async def test_an_existing_owner_gets_you_already_have_an_account(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as client:
        await client.post("/register", json={"email": "ADA@example.com"})
    (mail,) = outbox.messages
    assert mail.to == "ada@example.com" and mail.token is None
    assert "already have an account" in mail.body


# The two paths must do the same work: the same statements (text and number), the same
# number of password hashes and of outbox writes. (Timing itself belongs to `make bench`.)
@pytest.mark.anyio
async def test_new_and_taken_addresses_cost_the_same_work(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    hasher = CountingHasher()
    app = _app(memory_db, outbox, hasher)
    work = []
    async with asgi_client(app, headers=ORIGIN) as client:
        for email in ["ada@example.com", "zoe@example.com", "ada@example.com", "yan@example.com"]:
            hasher.calls, before = 0, len(outbox.messages)
            with count_statements(memory_db.engine) as sql:
                response = await client.post("/register", json={"email": email})
            work.append(
                (response.status_code, response.content, sql.statements, hasher.calls,
                 len(outbox.messages) - before)
            )
    assert work[0] == work[1] == work[2] == work[3]
    assert work[0][4] == 1 and len(work[0][2]) >= 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "email", ["not-an-email", "ada@", "@example.com", "a b@example.com", "ada@example..com"]
)
async def test_register_refuses_an_address_that_is_not_one(memory_db: Database, email: str) -> None:
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as client:
        response = await client.post("/register", json={"email": email})
    assert response.status_code in (400, 422)
    assert outbox.messages == []


# Attack: 40 sign-ups in a burst from one IP all went through.
@pytest.mark.anyio
async def test_register_is_limited_per_ip(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    app = _app(memory_db, outbox, register_rate_per_ip="5/minute")
    async with asgi_client(app, headers=ORIGIN, client_ip="203.0.113.40") as burst:
        statuses = [
            (await burst.post("/register", json={"email": f"u{n}@example.com"})).status_code
            for n in range(40)
        ]
    assert statuses == [202] * 5 + [429] * 35
    assert len(outbox.messages) == 5


# Attack: mail-bomb one address from many IPs. The answer stays the same 202 (it must not
# tell anything about the address) but the address receives no more than its limit.
@pytest.mark.anyio
async def test_register_is_limited_per_address(memory_db: Database) -> None:
    outbox = MemoryOutbox()
    app = _app(memory_db, outbox, register_rate_per_address="3/hour")
    answers = set()
    for n in range(6):
        async with asgi_client(app, headers=ORIGIN, client_ip=f"198.51.100.{n}") as client:
            response = await client.post("/register", json={"email": "zoe@example.com"})
            answers.add((response.status_code, response.content))
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    assert len([m for m in outbox.messages if m.to == "zoe@example.com"]) == 3


@pytest.mark.anyio
async def test_concurrent_uses_of_one_link_activate_one_account(file_db: Database) -> None:
    outbox = MemoryOutbox()
    app = _app(file_db, outbox)
    async with asgi_client(app, headers=ORIGIN) as client:
        await client.post("/register", json={"email": "zoe@example.com"})
        finish = {"token": outbox.messages[-1].token, "password": NEW_PASSWORD, "display_name": "Z"}
        responses = await asyncio.gather(
            *(client.post("/signup/activate", json=finish) for _ in range(5))
        )
    assert sorted(r.status_code for r in responses) == [201] + [400] * 4
    async with file_db.sessions() as db:
        count = await db.scalar(select(func.count()).where(User.email == "zoe@example.com"))
    assert count == 1


# --------------------------------------------------------------------------------------
# Password policy and Unicode
# --------------------------------------------------------------------------------------


def test_the_default_minimum_is_15_for_a_single_factor_password() -> None:
    policy = PasswordPolicy()
    assert policy.problems("fourteen chars") != []  # 14 characters
    assert policy.problems("fifteen chars!!") == []
    assert PasswordPolicy(min_length=8).problems("eight ch") == []  # only with a second factor


def test_the_policy_counts_characters_after_nfkc() -> None:
    # 15 characters as typed, but "ﬁ" (one ligature) is two letters after NFKC: 16.
    assert PasswordPolicy().problems("\ufb01ve long words!") == []
    # Composed and decomposed forms are one password for the policy.
    composed = "caf\u00e9 au lait, s'il vous pla\u00eet"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > len(composed)
    assert PasswordPolicy(max_length=len(composed)).problems(decomposed) == []


@pytest.mark.anyio
async def test_composed_and_decomposed_forms_of_a_password_both_log_in(memory_db: Database) -> None:
    composed = "cr\u00e8me br\u00fbl\u00e9e for breakfast"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    async with memory_db.sessions() as db:
        await register_user(
            db,
            tenant_id=1,
            email="chef@example.com",
            password=decomposed,
            display_name="Chef",
            hasher=PasswordHasher(TEST_ARGON2),
        )
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox), headers=ORIGIN) as client:
        login = await client.post("/login", json={"email": "chef@example.com", "password": composed})
    assert login.status_code == 200


@pytest.mark.anyio
async def test_a_hash_of_the_unnormalised_password_is_upgraded_at_login(memory_db: Database) -> None:
    # Hashes stored before normalisation existed were made from the password as typed.
    hasher = PasswordHasher(TEST_ARGON2)
    typed = unicodedata.normalize("NFD", "d\u00e9j\u00e0 vu, encore une fois")
    legacy = hasher._argon2.hash(typed)  # what the old code stored
    async with memory_db.sessions() as db:
        ada = await db.scalar(select(User).where(User.email == ADA["email"]))
        assert ada is not None
        await db.execute(
            text("UPDATE password_credentials SET password_hash = :h WHERE user_id = :u"),
            {"h": legacy, "u": ada.id},
        )
        await db.commit()
    outbox = MemoryOutbox()
    async with asgi_client(_app(memory_db, outbox, hasher), headers=ORIGIN) as client:
        login = await client.post("/login", json={"email": ADA["email"], "password": typed})
    async with memory_db.sessions() as db:
        stored = await db.scalar(text("SELECT password_hash FROM password_credentials"))
    assert login.status_code == 200 and stored != legacy
    normalized = unicodedata.normalize("NFKC", typed)
    assert hasher._argon2.verify(stored, normalized)


# --------------------------------------------------------------------------------------
# Tamper-evident audit log
# --------------------------------------------------------------------------------------


def _tampering(db: AsyncSession, statement: str) -> str:
    """The attacker's way past the triggers: SQLite drops them; on PostgreSQL the table's
    owner (the account these tests use) disables them."""
    if statement.startswith("DROP TRIGGER") and db.get_bind().dialect.name == "postgresql":
        return "ALTER TABLE audit_events DISABLE TRIGGER USER"
    return statement


async def _events(database: Database, count: int) -> None:
    clock = FrozenClock()
    async with database.sessions() as db:
        for n in range(count):
            await record_event(db, AuditEventType.LOGIN_FAILED, clock=clock, client_ip=f"10.0.0.{n}")


@pytest.mark.anyio
async def test_an_untouched_chain_verifies(memory_db: Database) -> None:
    await _events(memory_db, 5)
    async with memory_db.sessions() as db:
        report = await verify_chain(db)
    assert report.ok and report.checked == 5 and report.problems == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        # The app's own account drops the trigger, then rewrites or deletes a row.
        (
            [
                "DROP TRIGGER audit_events_no_update",
                "UPDATE audit_events SET client_ip = '192.0.2.1' WHERE id = 3",
            ],
            "row 3",
        ),
        (["DROP TRIGGER audit_events_no_delete", "DELETE FROM audit_events WHERE id = 2"], "row 2"),
        # Reordering: two rows swap their contents.
        (
            [
                "DROP TRIGGER audit_events_no_update",
                "UPDATE audit_events SET client_ip = CASE id WHEN 2 THEN '10.0.0.3'"
                " ELSE '10.0.0.1' END WHERE id IN (2, 4)",
            ],
            "row 2",
        ),
    ],
)
async def test_verify_finds_a_rewrite_a_deletion_or_a_reordering(
    memory_db: Database, tamper: list[str], found: str
) -> None:
    await _events(memory_db, 5)
    async with memory_db.sessions() as db:
        for statement in tamper:
            await db.execute(text(_tampering(db, statement)))
        await db.commit()
        report = await verify_chain(db)
    assert not report.ok and any(found in problem for problem in report.problems)


# Attack: delete the newest rows (or rename the table away and start a fresh one). The chain
# alone cannot see a missing tail; a checkpoint copied out of the database can.
@pytest.mark.anyio
@pytest.mark.parametrize(
    "tamper",
    [
        ["DROP TRIGGER audit_events_no_delete", "DELETE FROM audit_events WHERE id >= 4"],
        ["DROP TRIGGER audit_events_no_delete", "DELETE FROM audit_events"],
        ["ALTER TABLE audit_events RENAME TO old_events"],
    ],
)
async def test_a_checkpoint_kept_elsewhere_finds_a_missing_tail(
    memory_db: Database, tamper: list[str]
) -> None:
    await _events(memory_db, 5)
    async with memory_db.sessions() as db:
        saved = await checkpoint(db)
        for statement in tamper:
            await db.execute(text(_tampering(db, statement)))
        await db.commit()
    await memory_db.create_all()  # a renamed table is recreated, empty, by the next deploy
    async with memory_db.sessions() as db:
        report = await verify_chain(db, checkpoint=saved)
    assert saved.seq == 5 and not report.ok


# Attack: rewrite a row and recompute every later hash. A keyless chain then verifies on its
# own; the checkpoint no longer matches.
@pytest.mark.anyio
async def test_a_rebuilt_chain_does_not_match_the_checkpoint(memory_db: Database) -> None:
    from clouddocs.audit_log import GENESIS, chain_hash

    await _events(memory_db, 4)
    async with memory_db.sessions() as db:
        saved = await checkpoint(db)
        await db.execute(text(_tampering(db, "DROP TRIGGER audit_events_no_update")))
        await db.execute(text("UPDATE audit_events SET client_ip = '192.0.2.99' WHERE id = 2"))
        previous = GENESIS
        for row in (await db.scalars(select(AuditEvent).order_by(AuditEvent.id))).all():
            row.prev_hash, row.row_hash = previous, chain_hash(previous, row)
            previous = row.row_hash
        await db.commit()
        alone, anchored = await verify_chain(db), await verify_chain(db, checkpoint=saved)
    assert alone.ok and not anchored.ok


# Two writers appending at once must not fork the chain (two rows claiming one position).
@pytest.mark.anyio
async def test_concurrent_appends_keep_one_chain(file_db: Database) -> None:
    clock = FrozenClock()

    async def append(n: int) -> None:
        async with file_db.sessions() as db:
            await record_event(db, AuditEventType.LOGIN_FAILED, clock=clock, client_ip=f"10.1.0.{n}")

    await asyncio.gather(*(append(n) for n in range(20)))
    async with file_db.sessions() as db:
        report = await verify_chain(db)
        ips = (await db.scalars(select(AuditEvent.client_ip))).all()
    assert report.ok and report.checked == 20 and len(set(ips)) == 20


def test_the_postgresql_role_ddl_makes_the_app_insert_only() -> None:
    statements = postgresql_role_ddl(owner="cd_owner", app="cd_app", schema="cd")
    ddl = "\n".join(statements)
    assert "CREATE SCHEMA IF NOT EXISTS cd AUTHORIZATION cd_owner" in ddl
    assert "GRANT SELECT, INSERT ON cd.audit_events TO cd_app" in ddl
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON cd.audit_events FROM cd_app" in ddl
    from clouddocs import audit_log

    assert "BEFORE TRUNCATE" in " ".join(audit_log._APPEND_ONLY_DDL["postgresql"])
    with pytest.raises(ValueError):
        postgresql_role_ddl(owner="x; DROP TABLE users", app="cd_app")
