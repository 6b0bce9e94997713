# Generated from notebooks/07_authorization.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""A DELIBERATELY VULNERABLE document API: chapter 7's "Break it" target. Never deploy it.

It authenticates properly (the same ``member_auth`` as the real app) and still has the three
classic authorization flaws of OWASP's API Security Top 10, so attacks can be run for real
and the audit's probes have something to catch:

- BOLA/IDOR (API1): ``GET /documents/{id}`` fetches by id alone;
- BFLA (API5): ``DELETE`` shares the route, and the *read* dependency, of ``GET``;
- mass assignment (API3): ``PATCH /me`` copies every field of the body onto the records.
"""

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clouddocs.db import Database, Document, RowId, User
from clouddocs.rbac import Member, Membership, member_auth, require_permission
from clouddocs.security import harden, not_found
from clouddocs.tokens import TokenService


def build_naive_documents_app(db: Database, tokens: TokenService) -> FastAPI:
    app = FastAPI(title="CloudDocs documents, naive (vulnerable on purpose)")
    authenticate = member_auth(tokens, db)
    Session = Annotated[AsyncSession, Depends(db.session)]
    Reader = Annotated[Member, Depends(require_permission("documents:read", authenticate))]

    @app.api_route("/documents/{document_id}", methods=["GET", "DELETE"])
    async def document(request: Request, document_id: RowId, member: Reader, session: Session) -> dict[str, Any]:
        found = await session.get(Document, document_id)  # FLAW: no tenant in the query
        if found is None:
            raise not_found()
        if request.method == "DELETE":  # FLAW: deleting needs only documents:read
            await session.delete(found)
            await session.commit()
            return {"deleted": document_id}
        return {"id": found.id, "tenant_id": found.tenant_id, "title": found.title, "body": found.body}

    @app.patch("/me")
    async def update_profile(
        body: Annotated[dict[str, Any], Body()], member: Annotated[Member, Depends(authenticate)], session: Session
    ) -> dict[str, Any]:
        user = await session.get(User, member.user_id)
        membership = await session.scalar(
            select(Membership).where(Membership.tenant_id == member.tenant_id, Membership.user_id == member.user_id)
        )
        for field, value in body.items():  # FLAW: every field the client sends is written
            for record in (user, membership):
                # (ids are skipped only so the demo cannot crash on a foreign key)
                if hasattr(record, field) and not field.endswith("id"):
                    setattr(record, field, value)
        await session.commit()
        return {"updated": sorted(body)}

    return harden(app)
