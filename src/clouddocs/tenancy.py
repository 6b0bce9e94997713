# Generated from notebooks/07_authorization.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Tenant isolation and object-level authorization (BOLA-safe data access).

Every query that touches tenant data carries the tenant (and, where the rule says so, the
owner) in its WHERE clause, so a row the caller may not see never leaves the database: an id
from another tenant finds nothing, exactly like an id that does not exist, unless the
document was *shared* with the caller (a relation tuple, read on every request). Inputs are parsed
by explicit schemas that list the fields a caller may set (``extra="forbid"``), so a
``"role": "owner"`` smuggled into a body is refused instead of assigned.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.db import Document
from clouddocs.rbac import Member


def documents_of(member: Member) -> Select[Document]:
    """The documents of the caller's tenant: the base of every document query."""
    return select(Document).where(Document.tenant_id == member.tenant_id)


async def readable_document(session: AsyncSession, member: Member, document_id: int) -> Document | None:
    """The document if it exists *in the caller's tenant*; None otherwise (one statement)."""
    found: Document | None = await session.scalar(documents_of(member).where(Document.id == document_id))
    return found


def may_edit(member: Member, document: Document) -> bool:
    """Members edit their own documents; admins and owners edit any in their tenant."""
    same_tenant = document.tenant_id == member.tenant_id
    return same_tenant and (document.owner_id == member.user_id or "documents:delete" in member.permissions)


class DocumentCreate(BaseModel):
    """What a client may send to create a document. Owner and tenant come from the caller."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Field(min_length=1, max_length=300)]
    body: Annotated[str, Field(max_length=100_000)] = ""


class DocumentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    body: Annotated[str | None, Field(max_length=100_000)] = None


class ProfileUpdate(BaseModel):
    """The only field of their own profile a user may change. No role, no tenant, no id."""

    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[str, Field(min_length=1, max_length=200)]


class DocumentOut(BaseModel):
    id: int
    title: str
    body: str
    owner_id: int


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(pattern="^(admin|member|viewer)$")  # owner is transferred, not granted


#: PostgreSQL row-level security for ``documents``: the database itself filters by tenant,
#: so a query that forgets ``WHERE tenant_id = …`` returns nothing instead of everything.
#: The app sets ``app.tenant_id`` per transaction (``SET_TENANT_SQL``) and connects as a role
#: that does not own the table (owners bypass RLS unless FORCE is set; superusers always do).
#: An unset tenant reads as NULL and matches no row: the policy fails closed.
POSTGRES_RLS_DDL = """
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer);
"""
#: Run at the start of each transaction; ``true`` makes the setting transaction-local, so a
#: pooled connection cannot carry one request's tenant into the next.
SET_TENANT_SQL = "SELECT set_config('app.tenant_id', :tenant_id, true)"


from sqlalchemy import ColumnElement, String, cast, exists, or_

from clouddocs.rebac import IMPLIED_BY, TupleRow

#: What a share may grant. Ownership is not shared: it stays with the author (``owner_id``).
SHARE_RELATIONS = ("viewer", "editor")


def document_object(document_id: int) -> str:
    """The ReBAC object of a document row: ``document:42``."""
    return f"document:{document_id}"


def user_subject(user_id: int) -> str:
    return f"user:{user_id}"


def holds(member: Member, relation: str) -> ColumnElement[bool]:
    """SQL: a tuple grants the caller ``relation`` (or a stronger one) on the document row."""
    return exists().where(
        TupleRow.object == "document:" + cast(Document.id, String),
        TupleRow.relation.in_(IMPLIED_BY[relation]),
        TupleRow.subject == user_subject(member.user_id),
        TupleRow.subject_relation == "",
    )


def visible_documents(member: Member) -> Select[Document]:
    """What the caller may read: their tenant's documents, plus those shared with them."""
    return select(Document).where(or_(Document.tenant_id == member.tenant_id, holds(member, "viewer")))


async def visible_document(session: AsyncSession, member: Member, document_id: int) -> Document | None:
    """The document if the caller may read it; None otherwise (one statement, never cached)."""
    found: Document | None = await session.scalar(visible_documents(member).where(Document.id == document_id))
    return found


async def is_editor(session: AsyncSession, member: Member, document: Document) -> bool:
    """May edit and share: the owner, an admin of the tenant, or an editor it was shared with."""
    if may_edit(member, document):
        return True
    shared = select(Document.id).where(Document.id == document.id, holds(member, "editor"))
    return await session.scalar(shared) is not None


from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Response, status
from sqlalchemy import update

from clouddocs.db import Database, RowId, User
from clouddocs.rbac import MemberDependency, Membership, Role, member_auth, require_permission
from clouddocs.security import harden, not_found
from clouddocs.tokens import TokenService


def _answer(description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"detail": {"type": "string"}}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: What the document routes may answer besides success (the 401 comes from harden()).
#: 404 when the caller may not learn the document exists (another tenant's and not shared
#: with them, or none; a share naming no user too); 403 when they can see it but their role
#: or ownership does not allow the change.
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: _answer("Authenticated, but the role or ownership does not allow this")}
HIDDEN: dict[int | str, dict[str, Any]] = {404: _answer("No such document visible to the caller (or no such user to share with)")}


def build_documents_app(db: Database, tokens: TokenService) -> FastAPI:
    """CloudDocs' document API with RBAC dependencies and tenant-filtered queries."""
    app = FastAPI(title="CloudDocs documents (chapter 7)")
    authenticate = member_auth(tokens, db)
    _document_routes(app, db, authenticate)
    _member_routes(app, db, authenticate)
    _share_routes(app, db, authenticate)
    return harden(app)


from sqlalchemy import delete


def _document_routes(app: FastAPI, db: Database, authenticate: MemberDependency) -> None:
    Session = Annotated[AsyncSession, Depends(db.session)]
    Reader = Annotated[Member, Depends(require_permission("documents:read", authenticate))]
    Writer = Annotated[Member, Depends(require_permission("documents:write", authenticate))]
    Deleter = Annotated[Member, Depends(require_permission("documents:delete", authenticate))]

    @app.get("/documents", responses=FORBIDDEN)
    async def list_documents(member: Reader, session: Session) -> list[DocumentOut]:
        rows = await session.scalars(visible_documents(member).order_by(Document.id).limit(100))
        return [DocumentOut.model_validate(row, from_attributes=True) for row in rows]

    @app.post("/documents", status_code=201, responses=FORBIDDEN)
    async def create_document(body: DocumentCreate, member: Writer, session: Session) -> DocumentOut:
        document = Document(tenant_id=member.tenant_id, owner_id=member.user_id, **body.model_dump())
        session.add(document)
        await session.commit()
        return DocumentOut.model_validate(document, from_attributes=True)

    @app.get("/documents/{document_id}", responses=FORBIDDEN | HIDDEN)
    async def read_document(document_id: RowId, member: Reader, session: Session) -> DocumentOut:
        document = await visible_document(session, member, document_id)
        if document is None:
            raise not_found()
        return DocumentOut.model_validate(document, from_attributes=True)

    @app.patch("/documents/{document_id}", responses=FORBIDDEN | HIDDEN)
    async def edit_document(
        document_id: RowId, body: DocumentUpdate, member: Writer, session: Session
    ) -> DocumentOut:
        document = await visible_document(session, member, document_id)
        if document is None:
            raise not_found()
        if not await is_editor(session, member, document):  # they can see it: 403 hides nothing
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the owner, an admin or an editor may edit")
        for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
            setattr(document, field, value)
        await session.commit()
        return DocumentOut.model_validate(document, from_attributes=True)

    @app.delete("/documents/{document_id}", status_code=204, responses=FORBIDDEN | HIDDEN)
    async def delete_document(document_id: RowId, member: Deleter, session: Session) -> Response:
        document = await readable_document(session, member, document_id)
        if document is None:
            raise not_found()
        # Its shares go too: a tuple left behind would grant a future row that reuses the id.
        await session.execute(delete(TupleRow).where(TupleRow.object == document_object(document.id)))
        await session.delete(document)
        await session.commit()
        return Response(status_code=204)


def _member_routes(app: FastAPI, db: Database, authenticate: MemberDependency) -> None:
    Session = Annotated[AsyncSession, Depends(db.session)]
    Anyone = Annotated[Member, Depends(authenticate)]
    Manager = Annotated[Member, Depends(require_permission("members:manage", authenticate))]

    @app.get("/me")
    async def who_am_i(member: Anyone) -> dict[str, object]:
        return {"user_id": member.user_id, "tenant_id": member.tenant_id, "role": member.role}

    @app.patch("/me")
    async def update_profile(body: ProfileUpdate, member: Anyone, session: Session) -> dict[str, str]:
        # Only the fields ProfileUpdate declares can reach the database; "role" is a 422.
        await session.execute(
            update(User).where(User.id == member.user_id).values(**body.model_dump())
        )
        await session.commit()
        return {"display_name": body.display_name}

    @app.put("/members/{user_id}/role", responses=FORBIDDEN | HIDDEN)
    async def change_role(
        user_id: RowId, body: RoleChange, manager: Manager, session: Session
    ) -> dict[str, object]:
        target = await session.scalar(
            select(Membership).where(
                Membership.tenant_id == manager.tenant_id, Membership.user_id == user_id
            )
        )
        if target is None:
            raise not_found()
        if target.role == Role.OWNER or (
            Role.ADMIN in (body.role, target.role) and manager.role != Role.OWNER
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the owner grants or removes admin")
        target.role = body.role
        await session.commit()
        return {"user_id": user_id, "role": target.role}


from sqlalchemy.exc import IntegrityError

from clouddocs.rebac import RelationTuple, row_values


class ShareRequest(BaseModel):
    """Share a document with one user, of any tenant (a guest is what sharing is for)."""

    model_config = ConfigDict(extra="forbid")
    user_id: RowId
    relation: str = Field(default="viewer", pattern="^(viewer|editor)$")


class ShareOut(BaseModel):
    document_id: int
    user_id: int
    relation: str


def _share_routes(app: FastAPI, db: Database, authenticate: MemberDependency) -> None:
    Session = Annotated[AsyncSession, Depends(db.session)]
    Reader = Annotated[Member, Depends(require_permission("documents:read", authenticate))]

    async def shareable(session: AsyncSession, member: Member, document_id: int) -> Document:
        document = await visible_document(session, member, document_id)
        if document is None:
            raise not_found()
        if not await is_editor(session, member, document):  # they can see it: 403 hides nothing
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the owner, an admin or an editor may share")
        return document

    @app.post("/documents/{document_id}/shares", status_code=201, responses=FORBIDDEN | HIDDEN)
    async def share_document(document_id: RowId, body: ShareRequest, member: Reader, session: Session) -> ShareOut:
        document = await shareable(session, member, document_id)
        if await session.get(User, body.user_id) is None:
            raise not_found()
        grant = RelationTuple(document_object(document.id), body.relation, user_subject(body.user_id))
        shared = ShareOut(document_id=document.id, user_id=body.user_id, relation=body.relation)
        session.add(TupleRow(**row_values(grant)))
        try:
            await session.commit()
        except IntegrityError:  # shared this way already: the unique constraint keeps one row
            await session.rollback()
        return shared

    @app.delete("/documents/{document_id}/shares/{user_id}", status_code=204, responses=FORBIDDEN | HIDDEN)
    async def revoke_share(document_id: RowId, user_id: RowId, member: Reader, session: Session) -> Response:
        document = await shareable(session, member, document_id)
        await session.execute(
            delete(TupleRow).where(
                TupleRow.object == document_object(document.id),
                TupleRow.subject == user_subject(user_id),
                TupleRow.subject_relation == "",
                TupleRow.relation.in_(SHARE_RELATIONS),
            )
        )
        await session.commit()  # the next read asks the table again: nothing to expire
        return Response(status_code=204)
