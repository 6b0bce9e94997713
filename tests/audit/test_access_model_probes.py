"""The access-model probes catch each realistic mistake and pass the app without it.

``documents_app(flaws)`` is a small two-tenant document API (in memory, bearer tokens)
shaped like chapter 7's: same-tenant members read every document of their tenant, a share
lets one more user read one document, admins manage roles in their own tenant. Each flaw
is a mistake seen in real code: a list query without the tenant filter, a filter the
client can override, ``model_dump()`` straight into the row, a role lookup by user id
alone, a permission cache that outlives a revocation.
"""

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from authcourse.audit import (
    Account,
    Auth,
    Collection,
    Login,
    MemberRoles,
    Route,
    SecondTenant,
    Sharing,
    Status,
    Target,
    WhoAmI,
    audit,
)
from authcourse.audit.runner import select
from authcourse.audit.target import Role

pytestmark = pytest.mark.anyio

# probe id → the flaws (one variant each) it must catch.
CATCHES: dict[str, list[str]] = {
    "access_models.tenant_isolation": [
        "read_by_id_only",
        "list_all_tenants",
        "edit_any_tenant",
        "edit_then_check",
        "delete_any_tenant",
        "create_trusts_tenant_id",
        "admins_see_every_tenant",
    ],
    "access_models.list_bola": ["list_all_tenants", "list_filter_passthrough"],
    "access_models.demotion_immediate": ["role_cached_per_token"],
    "access_models.role_escalation": ["profile_model_dump", "role_route_unguarded", "role_lookup_any_tenant"],
    "access_models.sharing_revocation": [
        "share_cache",
        "share_flag_on_document",
        "share_by_anyone",
        "share_by_any_reader",
        "unshare_by_anyone",
        "list_shows_revoked_shares",
    ],
}
FLAWS = frozenset(flaw for flaws in CATCHES.values() for flaw in flaws)
# role → (user id, tenant id, role in the tenant)
PEOPLE: dict[str, tuple[int, int, str]] = {
    "user": (1, 1, "member"),
    "other": (2, 1, "member"),
    "admin": (3, 1, "admin"),
    "outsider": (4, 2, "member"),
    "outsider_admin": (5, 2, "admin"),
}


@dataclass
class Doc:
    id: int
    tenant_id: int
    owner_id: int
    title: str
    shared: bool = False  # the "share_flag_on_document" mistake's column


@dataclass
class Person:
    id: int
    tenant_id: int
    role: str
    display_name: str = ""


@dataclass
class Store:
    people: dict[int, Person] = field(default_factory=dict)
    docs: dict[int, Doc] = field(default_factory=dict)
    shares: set[tuple[int, int]] = field(default_factory=set)  # (document id, user id)
    listed_shares: set[tuple[int, int]] = field(default_factory=set)  # a denormalised copy
    cache: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)


class DocIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str


class DocInWithTenant(DocIn):
    tenant_id: int | None = None  # "so admins can create for a customer": trusted from anyone


class DocEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str


class ProfileAnything(BaseModel):
    model_config = ConfigDict(extra="allow")  # "the UI only sends display_name anyway"
    display_name: str | None = None


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str


class LoginIn(BaseModel):
    username: str
    password: str


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int


def documents_app(flaws: frozenset[str] = frozenset()) -> FastAPI:
    unknown = flaws - FLAWS
    assert not unknown, unknown
    store = Store(people={uid: Person(uid, tid, role) for uid, tid, role in PEOPLE.values()})
    app = FastAPI()
    bearer = HTTPBearer(auto_error=False)
    tokens = {f"token-{role}": uid for role, (uid, _, _) in PEOPLE.items()}

    sessions: dict[str, Person] = {}

    def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Person:
        uid = tokens.get(credentials.credentials) if credentials else None
        if uid is None:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        if "role_cached_per_token" in flaws:  # "one lookup per token is plenty"
            assert credentials is not None
            return sessions.setdefault(credentials.credentials, replace(store.people[uid]))
        return store.people[uid]

    Caller = Annotated[Person, Depends(caller)]
    NewDoc = DocInWithTenant if "create_trusts_tenant_id" in flaws else DocIn
    Profile = ProfileAnything if "profile_model_dump" in flaws else ProfileIn

    def may_read(person: Person, doc: Doc) -> bool:
        if doc.tenant_id == person.tenant_id:
            return True
        if "admins_see_every_tenant" in flaws and person.role == "admin":
            return True  # "our support admins need to see everything"
        if "share_flag_on_document" in flaws:
            return doc.shared
        if "share_cache" in flaws:
            # Grants cached for 60 seconds "to spare the database", never invalidated on revoke.
            key = (doc.id, person.id)
            hit = store.cache.get(key)
            if hit is not None and hit[1] > time.monotonic():
                return hit[0]
            allowed = key in store.shares
            if allowed:
                store.cache[key] = (True, time.monotonic() + 60)
            return allowed
        return (doc.id, person.id) in store.shares

    def may_manage(person: Person, doc: Doc) -> bool:
        return doc.tenant_id == person.tenant_id and (doc.owner_id == person.id or person.role == "admin")

    def found(doc_id: int, person: Person, *, check: bool = True) -> Doc:
        doc = store.docs.get(doc_id)
        if doc is None or (check and not may_read(person, doc)):
            raise HTTPException(404, "Not found")
        return doc

    def out(doc: Doc) -> dict[str, Any]:
        return {"id": doc.id, "title": doc.title, "owner_id": doc.owner_id}

    @app.post("/login")
    async def login(body: LoginIn) -> dict[str, str]:
        role = body.username.partition("@")[0]
        if role not in PEOPLE or not secrets.compare_digest(body.password, f"{role} long passphrase"):
            raise HTTPException(401, "Wrong username or password", headers={"WWW-Authenticate": "Bearer"})
        return {"access_token": f"token-{role}", "token_type": "bearer"}

    @app.get("/documents")
    async def list_documents(person: Caller, request: Request) -> list[dict[str, Any]]:
        tenant = person.tenant_id
        if "list_filter_passthrough" in flaws and "tenant_id" in request.query_params:
            tenant = int(request.query_params["tenant_id"])  # "lets support staff filter"
        shared = store.listed_shares if "list_shows_revoked_shares" in flaws else store.shares
        return [
            out(d)
            for d in store.docs.values()
            if "list_all_tenants" in flaws or d.tenant_id == tenant or (d.id, person.id) in shared
        ]

    @app.post("/documents", status_code=201)
    async def create(body: NewDoc, person: Caller) -> dict[str, Any]:  # type: ignore[valid-type]
        if person.role == "viewer":
            raise HTTPException(403, "Missing permission: documents:write")
        values = {"tenant_id": person.tenant_id, **body.model_dump(exclude_none=True)}
        doc = Doc(id=len(store.docs) + 1, owner_id=person.id, **values)
        store.docs[doc.id] = doc
        return out(doc)

    @app.get("/documents/{doc_id}")
    async def read(doc_id: int, person: Caller) -> dict[str, Any]:
        return out(found(doc_id, person, check="read_by_id_only" not in flaws))

    @app.patch("/documents/{doc_id}")
    async def edit(doc_id: int, body: DocEdit, person: Caller) -> dict[str, Any]:
        if "edit_then_check" in flaws and doc_id in store.docs:
            store.docs[doc_id].title = body.title  # "UPDATE … WHERE id = :id", checked after
        doc = found(doc_id, person, check="edit_any_tenant" not in flaws)
        if "edit_any_tenant" not in flaws and not may_manage(person, doc):
            raise HTTPException(403, "Only the owner or an admin may edit")
        doc.title = body.title
        return out(doc)

    @app.delete("/documents/{doc_id}", status_code=204)
    async def delete(doc_id: int, person: Caller) -> Response:
        doc = found(doc_id, person, check="delete_any_tenant" not in flaws)
        if "delete_any_tenant" not in flaws and not may_manage(person, doc):
            raise HTTPException(403, "Only the owner or an admin may delete")
        del store.docs[doc.id]
        return Response(status_code=204)

    @app.post("/documents/{doc_id}/shares", status_code=201)
    async def share(doc_id: int, body: ShareIn, person: Caller) -> dict[str, int]:
        doc = found(doc_id, person, check="share_by_anyone" not in flaws)
        # "share_by_any_reader": whoever can see it may share it (found() checked reading).
        if not flaws & {"share_by_anyone", "share_by_any_reader"} and not may_manage(person, doc):
            raise HTTPException(403, "Only the owner or an admin may share")
        if body.user_id not in store.people:
            raise HTTPException(404, "No such user")
        store.shares.add((doc.id, body.user_id))
        store.listed_shares.add((doc.id, body.user_id))
        doc.shared = True
        return {"document_id": doc.id, "user_id": body.user_id}

    @app.delete("/documents/{doc_id}/shares/{user_id}", status_code=204)
    async def unshare(doc_id: int, user_id: int, person: Caller) -> Response:
        doc = found(doc_id, person, check="unshare_by_anyone" not in flaws)
        if "unshare_by_anyone" not in flaws and not may_manage(person, doc):
            raise HTTPException(403, "Only the owner or an admin may revoke")
        store.shares.discard((doc.id, user_id))
        doc.shared = any(d == doc.id for d, _ in store.shares)
        return Response(status_code=204)

    @app.get("/me")
    async def me(person: Caller) -> dict[str, Any]:
        return {"user_id": person.id, "tenant_id": person.tenant_id, "role": person.role}

    @app.patch("/me")
    async def profile(body: Profile, person: Caller) -> dict[str, Any]:  # type: ignore[valid-type]
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(person, name, value)
        return {"display_name": person.display_name}

    @app.put("/members/{user_id}/role")
    async def set_role(user_id: int, body: RoleIn, person: Caller) -> dict[str, Any]:
        if "role_route_unguarded" not in flaws and person.role != "admin":
            raise HTTPException(403, "Missing permission: members:manage")
        member = store.people.get(user_id)
        same_tenant = member is not None and member.tenant_id == person.tenant_id
        if member is None or ("role_lookup_any_tenant" not in flaws and not same_tenant):
            raise HTTPException(404, "Not found")
        member.role = body.role
        return {"user_id": user_id, "role": member.role}

    return app


async def sign_in(ctx: Any, role: Role) -> Auth:
    return Auth.bearer(f"token-{role}")


def documents_target() -> Target:
    return Target(
        protected=Route("GET", "/documents"),
        sign_in=sign_in,
        profile_route=Route("PATCH", "/me"),
        second_tenant=SecondTenant(tenant_id="1"),
        collection=Collection("/documents", "/documents/{id}", {"title": "Plan"}, {"title": "Changed"}),
        member_roles=MemberRoles("/members/{id}/role", demoted="viewer"),
        sharing=Sharing(Route("POST", "/documents/{id}/shares"), Route("DELETE", "/documents/{id}/shares/{user}")),
        whoami=WhoAmI("/me"),
        user_ids={role: str(uid) for role, (uid, _, _) in PEOPLE.items()},
    )


async def _result(probe_id: str, flaws: frozenset[str], target: Target | None = None) -> tuple[Status, str]:
    report = await audit(documents_app(flaws), target or documents_target(), only=probe_id)
    result = report[probe_id]
    return result.status, result.summary + "\n" + "\n".join(result.evidence)


def test_every_access_model_probe_has_vulnerable_variants() -> None:
    assert {p.id for p in select("access_models")} == set(CATCHES)
    assert all(len(flaws) >= 1 for flaws in CATCHES.values())


@pytest.mark.parametrize("probe_id", sorted(CATCHES))
async def test_the_fixed_app_passes(probe_id: str) -> None:
    status, details = await _result(probe_id, frozenset())
    assert status is Status.PASS, details


@pytest.mark.parametrize(("probe_id", "flaw"), [(p, f) for p, flaws in sorted(CATCHES.items()) for f in flaws])
async def test_the_vulnerable_variant_fails(probe_id: str, flaw: str) -> None:
    status, details = await _result(probe_id, frozenset({flaw}))
    assert status is Status.FAIL, details


async def test_without_their_inputs_the_probes_are_not_applicable_and_say_why() -> None:
    target = Target(protected=Route("GET", "/documents"), sign_in=sign_in)
    report = await audit(documents_app(), target, only="access_models")
    assert {r.status for r in report.results} == {Status.NOT_APPLICABLE}
    assert "Target.collection" in report["access_models.tenant_isolation"].summary
    assert "Target.sharing" in report["access_models.sharing_revocation"].summary
    assert "Target.profile_route" in report["access_models.role_escalation"].summary


async def test_second_tenant_accounts_log_in_with_a_password_when_there_is_no_sign_in_hook() -> None:
    def account(role: str) -> Account:
        return Account(f"{role}@example.com", f"{role} long passphrase")

    target = documents_target()
    target.sign_in = None
    target.login = Login("/login")
    target.user, target.other_user, target.admin = account("user"), account("other"), account("admin")
    target.second_tenant = SecondTenant(user=account("outsider"), admin=account("outsider_admin"), tenant_id="1")
    assert (await _result("access_models.sharing_revocation", frozenset(), target))[0] is Status.PASS
    status, details = await _result("access_models.tenant_isolation", frozenset({"read_by_id_only"}), target)
    assert status is Status.FAIL, details
    target.second_tenant = SecondTenant(tenant_id="1")
    status, details = await _result("access_models.tenant_isolation", frozenset(), target)
    assert status is Status.NOT_APPLICABLE and "Target.second_tenant.user" in details
