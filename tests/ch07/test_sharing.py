"""Chapter 7's share routes: relation tuples in the database, honoured by reads and lists.

Every refusal is pinned to its exact status and body: a stranger gets the 404 of a missing
id (existence stays hidden), someone who can see the document but may not share it a 403,
no token a 401 with a challenge. Revocation is checked with the *same* token on the very
next request: nothing may be cached between the two.
"""

from collections.abc import AsyncIterator

import pytest
from hot_path import count_statements
from service_urls import database_url
from sqlalchemy import func, select

from authcourse import FrozenClock, asgi_client
from authcourse.checks.ch07_support import World, world
from clouddocs.rbac import TENANT_CLAIM
from clouddocs.rebac import TupleRow
from clouddocs.tenancy import build_documents_app, document_object
from clouddocs.tokens import KeyRing, TokenService, TokenSettings, new_hs256_key

pytestmark = pytest.mark.anyio

TOKENS = TokenService(
    KeyRing(new_hs256_key("test")),
    TokenSettings(issuer="https://clouddocs.test", audience="https://api.clouddocs.test"),
    FrozenClock(),
)
NOT_FOUND = {"detail": "Not Found"}
MAY_NOT_SHARE = {"detail": "Only the owner, an admin or an editor may share"}
MAY_NOT_EDIT = {"detail": "Only the owner, an admin or an editor may edit"}


@pytest.fixture
async def w() -> AsyncIterator[World]:
    # PostgreSQL under `make test-services` (the tuple join casts an id to text there too).
    async with database_url("sqlite+aiosqlite:///:memory:") as url, world(url=url) as seeded:
        yield seeded


def login(w: World, name: str, tenant: str | None = None) -> dict[str, str]:
    home = tenant or ("globex" if name in ("dave", "erin") else "acme")
    token = TOKENS.issue(str(w.users[name]), claims={TENANT_CLAIM: w.acme if home == "acme" else w.globex})
    return {"Authorization": f"Bearer {token}"}


def shares(w: World, document: str = "roadmap") -> str:
    return f"/documents/{w.documents[document]}/shares"


async def stored_shares(w: World, document: str = "roadmap") -> int:
    async with w.db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(TupleRow).where(TupleRow.object == document_object(w.documents[document]))
        )
    return int(count or 0)


async def test_a_share_lets_one_guest_read_and_list_and_revocation_applies_on_the_next_request(w: World) -> None:
    url = f"/documents/{w.documents['roadmap']}"
    dave = login(w, "dave")  # Globex admin: the guest; one token for the whole test
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        assert (await client.get(url, headers=dave)).json() == NOT_FOUND
        granted = await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
        assert granted.status_code == 201
        assert granted.json() == {"document_id": w.documents["roadmap"], "user_id": w.users["dave"], "relation": "viewer"}
        assert (await client.get(url, headers=dave)).status_code == 200
        listed = [d["id"] for d in (await client.get("/documents", headers=dave)).json()]
        assert w.documents["roadmap"] in listed and w.documents["minutes"] not in listed
        third = await client.get(url, headers=login(w, "erin"))  # Globex too, not shared with
        assert (third.status_code, third.json()) == (404, NOT_FOUND)
        revoked = await client.delete(f"{shares(w)}/{w.users['dave']}", headers=login(w, "bob"))
        assert (revoked.status_code, revoked.content) == (204, b"")
        after = await client.get(url, headers=dave)
        missing = await client.get("/documents/987654", headers=dave)
        listed_after = [d["id"] for d in (await client.get("/documents", headers=dave)).json()]
    assert (after.status_code, after.content) == (missing.status_code, missing.content) == (404, after.content)
    assert after.json() == NOT_FOUND and w.documents["roadmap"] not in listed_after
    assert await stored_shares(w) == 0


async def test_sharing_twice_stores_one_tuple(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        for _ in range(2):
            again = await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
            assert again.status_code == 201
    assert await stored_shares(w) == 1


async def test_only_whoever_may_edit_shares_or_revokes(w: World) -> None:
    app = build_documents_app(w.db, TOKENS)
    async with asgi_client(app) as client:
        # carol (Acme viewer) and bob (member, not the owner of the minutes) can read: 403.
        viewer = await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "carol"))
        not_owner = await client.post(shares(w, "minutes"), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
        # erin (Globex) cannot even see it: the 404 of an id that does not exist.
        stranger = await client.post(shares(w), json={"user_id": w.users["erin"]}, headers=login(w, "erin"))
        missing = await client.post("/documents/987654/shares", json={"user_id": w.users["erin"]}, headers=login(w, "erin"))
        # alice (Acme owner) may share anyone's document of her tenant.
        admin = await client.post(shares(w, "minutes"), json={"user_id": w.users["dave"]}, headers=login(w, "alice"))
        await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
        revoke_viewer = await client.delete(f"{shares(w)}/{w.users['dave']}", headers=login(w, "carol"))
        revoke_stranger = await client.delete(f"{shares(w)}/{w.users['dave']}", headers=login(w, "erin"))
        still = await client.get(f"/documents/{w.documents['roadmap']}", headers=login(w, "dave"))
    assert (viewer.status_code, viewer.json()) == (403, MAY_NOT_SHARE)
    assert (not_owner.status_code, not_owner.json()) == (403, MAY_NOT_SHARE)
    assert (stranger.status_code, stranger.content) == (missing.status_code, missing.content)
    assert stranger.json() == NOT_FOUND and stranger.status_code == 404
    assert admin.status_code == 201
    assert (revoke_viewer.status_code, revoke_viewer.json()) == (403, MAY_NOT_SHARE)
    assert (revoke_stranger.status_code, revoke_stranger.json()) == (404, NOT_FOUND)
    assert still.status_code == 200 and await stored_shares(w) == 1


async def test_an_editor_share_allows_editing_and_sharing_on_a_viewer_share_neither(w: World) -> None:
    url = f"/documents/{w.documents['roadmap']}"
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        bob, dave, erin = login(w, "bob"), login(w, "dave"), login(w, "erin")
        await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=bob)
        viewer_edit = await client.patch(url, json={"title": "guest edit"}, headers=dave)
        viewer_share = await client.post(shares(w), json={"user_id": w.users["erin"]}, headers=dave)
        promoted = await client.post(shares(w), json={"user_id": w.users["dave"], "relation": "editor"}, headers=bob)
        editor_edit = await client.patch(url, json={"title": "guest edit"}, headers=dave)
        editor_share = await client.post(shares(w), json={"user_id": w.users["erin"]}, headers=dave)
        erin_reads = await client.get(url, headers=erin)
        # A guest never deletes: deletion looks in the caller's own tenant only.
        guest_delete = await client.delete(url, headers=dave)
    assert (viewer_edit.status_code, viewer_edit.json()) == (403, MAY_NOT_EDIT)
    assert (viewer_share.status_code, viewer_share.json()) == (403, MAY_NOT_SHARE)
    assert promoted.status_code == 201 and promoted.json()["relation"] == "editor"
    assert editor_edit.status_code == 200 and editor_edit.json()["title"] == "guest edit"
    assert editor_share.status_code == 201 and erin_reads.status_code == 200
    assert (guest_delete.status_code, guest_delete.json()) == (404, NOT_FOUND)


async def test_bad_share_requests_are_refused_and_store_nothing(w: World) -> None:
    bob = login(w, "bob")
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        nobody = await client.post(shares(w), json={"user_id": 987654}, headers=bob)
        owner = await client.post(shares(w), json={"user_id": w.users["dave"], "relation": "owner"}, headers=bob)
        smuggled = await client.post(shares(w), json={"user_id": w.users["dave"], "tenant_id": w.globex}, headers=bob)
        huge = await client.post(shares(w), json={"user_id": 2**40}, headers=bob)
        anonymous = await client.post(shares(w), json={"user_id": w.users["dave"]})
        anonymous_revoke = await client.delete(f"{shares(w)}/{w.users['dave']}")
    # A tuple for a missing user would grant whoever is given that id later.
    assert (nobody.status_code, nobody.json()) == (404, NOT_FOUND)
    assert owner.status_code == smuggled.status_code == huge.status_code == 422
    for response in (anonymous, anonymous_revoke):
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer ")
    assert await stored_shares(w) == 0


async def test_deleting_a_document_deletes_its_shares(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
        assert await stored_shares(w) == 1
        deleted = await client.delete(f"/documents/{w.documents['roadmap']}", headers=login(w, "alice"))
    assert deleted.status_code == 204 and await stored_shares(w) == 0


async def test_a_share_aware_read_is_still_one_statement_besides_the_membership(w: World) -> None:
    async with asgi_client(build_documents_app(w.db, TOKENS)) as client:
        dave = login(w, "dave")
        await client.post(shares(w), json={"user_id": w.users["dave"]}, headers=login(w, "bob"))
        await client.get(f"/documents/{w.documents['roadmap']}", headers=dave)  # warm up
        with count_statements(w.db.engine) as sql:
            read = await client.get(f"/documents/{w.documents['roadmap']}", headers=dave)
    assert read.status_code == 200 and len(sql.statements) == 2 and not sql.writes
