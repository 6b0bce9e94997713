"""Authorization models: tenant isolation, lists that leak, role escalation, sharing.

Part 1 (``authorization``) asks whether one object is reachable by id. These probes ask
the questions chapter 7's models raise: does a second *tenant* stay out of the first one's
data (by id, in lists, on writes)? Does a list route return exactly what ``check`` allows
(``list_objects`` semantics), whatever filters a client adds? Can a user raise their own
role or move tenant by sending fields? Does a share reach one user only, and does its
revocation apply on the very next request?

Each probe creates its own object through ``Target.collection``, so it never depends on
what another probe left behind, and it compares answers *between identities*, so it needs
no knowledge of the app's rules beyond "the owner may, an outsider may not".
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import httpx2

from authcourse.audit.checks import accepted, require
from authcourse.audit.context import Context
from authcourse.audit.framework import NotApplicable, Verdict, failed, passed, probe
from authcourse.audit.target import Auth, Collection, Role

#: Query parameters a list route might pass straight into its query: paging, "show all"
#: switches and owner/tenant filters. A BOLA-safe list ignores or refuses every one.
LIST_PARAMETERS: tuple[dict[str, str], ...] = (
    {},
    {"limit": "1000"},
    {"offset": "0", "limit": "1000", "page_size": "1000", "per_page": "1000"},
    {"all": "true", "include_shared": "true", "scope": "all"},
)
#: Listed items whose readability by id is verified, per identity (a budget, not a rule).
MAX_ITEMS_CHECKED = 25
OTHERS: tuple[Role, ...] = ("other", "outsider", "outsider_admin")


# -- identities and objects -------------------------------------------------------------


async def sign_in(ctx: Context, role: Role) -> Auth:
    """Credentials for any role, the second tenant's included (``Target.second_tenant``)."""
    if role not in ("outsider", "outsider_admin") or ctx.target.sign_in is not None:
        return await ctx.sign_in(role)
    tenant = ctx.target.second_tenant
    account = None if tenant is None else (tenant.user if role == "outsider" else tenant.admin)
    field = "user" if role == "outsider" else "admin"
    require(account, f"the target names no second-tenant account (Target.second_tenant.{field})")
    assert account is not None
    ctx.remember(account.password)
    response = await ctx.login(account)
    if not response.is_success:
        ctx.cite(response, f"logging in as {role}")
    require(response.is_success, f"logging in as the target's {role} failed ({response.status_code})")
    return ctx.auth_from(response)


async def maybe_sign_in(ctx: Context, role: Role) -> Auth | None:
    """Like ``sign_in``, None when the target does not describe this identity."""
    try:
        return await sign_in(ctx, role)
    except (NotApplicable, KeyError):
        return None


def collection(ctx: Context) -> Collection:
    found = ctx.target.collection
    require(found, "the target names no collection of objects (Target.collection)")
    assert found is not None
    return found


def marked_body(body: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """``body`` with ``marker`` appended to its first text field: finds the object in lists."""
    marked = dict(body)
    for key, value in marked.items():
        if isinstance(value, str):
            marked[key] = f"{value} {marker}".strip()
            break
    return marked


async def create(ctx: Context, auth: Auth, label: str, extra: Mapping[str, Any] | None = None) -> str:
    """Create an object as ``auth``; its id (NotApplicable when the owner cannot create)."""
    coll = collection(ctx)
    marker = f"audit-{secrets.token_hex(4)}"
    response = await ctx.request(
        "POST", coll.path, auth=auth, json_body={**marked_body(coll.create_body, marker), **(extra or {})}
    )
    ctx.cite(response, label)
    object_id = _id_of(response, coll)
    require(
        accepted(response) and object_id is not None,
        f"creating an object failed ({response.status_code}) or its answer has no"
        f" {coll.id_field!r}; check Target.collection",
    )
    assert object_id is not None
    return object_id


def _id_of(response: httpx2.Response, coll: Collection) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(coll.id_field) if isinstance(body, dict) else None
    return None if value is None or isinstance(value, (dict, list)) else str(value)


async def read(ctx: Context, auth: Auth, object_id: str) -> httpx2.Response:
    return await ctx.request("GET", collection(ctx).item(object_id), auth=auth)


async def listed_ids(
    ctx: Context, auth: Auth, params: Mapping[str, str] | None = None
) -> tuple[httpx2.Response, list[str]]:
    """The list route's answer and the ids in it (empty when the list was refused)."""
    coll = collection(ctx)
    query = str(httpx2.QueryParams(params or {}))
    response = await ctx.request("GET", coll.path + (f"?{query}" if query else ""), auth=auth)
    if not response.is_success:
        return response, []
    try:
        body = response.json()
    except ValueError:
        return response, []
    items = body.get(coll.items_field) if coll.items_field and isinstance(body, dict) else body
    if not isinstance(items, list):
        return response, []
    ids = [str(item[coll.id_field]) for item in items if isinstance(item, dict) and coll.id_field in item]
    return response, ids


async def whoami(ctx: Context, auth: Auth) -> dict[str, Any]:
    """The caller's own record (``Target.whoami``): role and tenant as the app reports them."""
    route = ctx.target.whoami
    require(route, "the target names no route answering the caller's own role (Target.whoami)")
    assert route is not None
    response = await ctx.request(route.method, route.path, auth=auth)
    require(response.is_success, f"{route.method} {route.path} failed ({response.status_code}); check Target.whoami")
    try:
        body = response.json()
    except ValueError:
        body = None
    require(isinstance(body, dict), f"{route.path} does not answer a JSON object")
    fields = [name for name in (route.role_field, route.tenant_field) if name]
    return {name: body.get(name) for name in fields}


# -- tenant isolation -------------------------------------------------------------------


@probe(
    "access_models.tenant_isolation",
    "A user of another tenant cannot read, list, edit, delete or create this tenant's objects",
    "OWASP API1:2023 (BOLA)",
    "ASVS 5.0 8.4.1",
    "ASVS 5.0 8.2.2",
)
async def tenant_isolation(ctx: Context) -> Verdict:
    collection(ctx)  # not applicable without one, before anyone signs in
    owner = await sign_in(ctx, "user")
    outsiders: list[tuple[str, Auth]] = [("outsider", await sign_in(ctx, "outsider"))]
    # The other tenant's admin too: "admins see everything" is a classic cross-tenant leak.
    outsider_admin = await maybe_sign_in(ctx, "outsider_admin")
    if outsider_admin is not None:
        outsiders.append(("outsider_admin", outsider_admin))
    object_id = await create(ctx, owner, "the owner creates an object")
    before = await read(ctx, owner, object_id)
    require(accepted(before), f"the owner cannot read what they created ({before.status_code})")
    breaches: list[str] = []
    for who, auth in outsiders:
        found, gone = await _cross_tenant_attempts(ctx, who, auth, owner, object_id, before)
        breaches += found
        if gone:
            break  # deleted by an outsider: the next one has nothing left to try
    breaches += await _smuggled_creates(ctx, owner, outsiders[0][1])
    if breaches:
        return failed("another tenant's user got through: " + "; ".join(breaches))
    names = " and ".join(who for who, _ in outsiders)
    return passed(f"the other tenant's {names} were refused on every route; no write landed in this tenant")


async def _cross_tenant_attempts(
    ctx: Context, who: str, outsider: Auth, owner: Auth, object_id: str, before: httpx2.Response
) -> tuple[list[str], bool]:
    """``who`` (of the other tenant) reads, lists, edits and deletes the owner's object.

    Returns the breaches, and whether the object is gone (an outsider's delete landed)."""
    coll, breaches = collection(ctx), []

    def refused(label: str, response: httpx2.Response) -> None:
        if accepted(response) or response.status_code >= 500:
            ctx.cite(response, label)
            breaches.append(f"{label}: {response.status_code}")

    refused(f"the {who} reads it by id", await read(ctx, outsider, object_id))
    listing, ids = await listed_ids(ctx, outsider)
    if object_id in ids:
        ctx.cite(listing, f"the {who} lists the collection")
        breaches.append(f"the {who}'s list contains it")
    if coll.update_body is not None:
        edit = await ctx.request(coll.update_method, coll.item(object_id), auth=outsider, json_body=dict(coll.update_body))
        refused(f"the {who} edits it", edit)
        after = await read(ctx, owner, object_id)
        if accepted(after) and _took(after, coll.update_body) and not _took(before, coll.update_body):
            ctx.cite(after, "the owner reads it again")
            breaches.append(f"the object changed after the {who}'s edit")
    if coll.deletable:
        refused(f"the {who} deletes it", await ctx.request("DELETE", coll.item(object_id), auth=outsider))
        still = await read(ctx, owner, object_id)
        if not accepted(still):
            ctx.cite(still, f"the owner reads it after the {who}'s delete")
            breaches.append(f"the object is gone after the {who}'s delete ({still.status_code})")
            return breaches, True
    return breaches, False


def _took(response: httpx2.Response, values: Mapping[str, Any]) -> bool:
    """Whether the object in ``response`` holds every one of ``values`` (an edit landed)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and all(body.get(key) == value for key, value in values.items())


async def _smuggled_creates(ctx: Context, owner: Auth, outsider: Auth) -> list[str]:
    """The outsider creates with this tenant's id in the body, then in the query string.

    "Landed in this tenant" is judged against a control: an object the outsider creates
    without any tenant id. If the owner sees the control too, reads or lists leak across
    tenants already (reported above) and say nothing about where the write went.
    """
    tenant = ctx.target.second_tenant
    if tenant is None or tenant.tenant_id is None:
        ctx.note("no Target.second_tenant.tenant_id: creating inside this tenant was not tried")
        return []
    coll, breaches = collection(ctx), []
    control = await create(ctx, outsider, "the outsider creates an object in their own tenant")
    if await _owner_sees(ctx, owner, control):
        ctx.note("the owner sees the outsider's plain object: writes into this tenant cannot be told apart")
        return []
    smuggled = {tenant.tenant_field: _as_sent(tenant.tenant_id)}
    query = str(httpx2.QueryParams({tenant.tenant_field: tenant.tenant_id}))
    for label, path, extra in (
        (f"the outsider creates with {tenant.tenant_field} in the body", coll.path, smuggled),
        (f"the outsider creates with {tenant.tenant_field} in the query", f"{coll.path}?{query}", {}),
    ):
        marker = f"audit-{secrets.token_hex(4)}"
        body = {**marked_body(coll.create_body, marker), **extra}
        response = ctx.cite(await ctx.request("POST", path, auth=outsider, json_body=body), label)
        created = _id_of(response, coll)
        if accepted(response) and created is not None and await _owner_sees(ctx, owner, created):
            breaches.append(f"{label}: the object landed in this tenant")
    return breaches


async def _owner_sees(ctx: Context, owner: Auth, object_id: str) -> bool:
    _, owner_ids = await listed_ids(ctx, owner)
    return object_id in owner_ids or accepted(await read(ctx, owner, object_id))


def _as_sent(value: str) -> Any:
    """An id as a JSON client would send it: a number when it looks like one."""
    return int(value) if value.isdigit() else value


# -- lists ------------------------------------------------------------------------------


@probe(
    "access_models.list_bola",
    "A list route returns only objects the caller may read, whatever filters are added",
    "OWASP API1:2023 (BOLA)",
    "ASVS 5.0 8.2.2",
)
async def list_bola(ctx: Context) -> Verdict:
    owner = await sign_in(ctx, "user")
    object_id = await create(ctx, owner, "the owner creates an object")
    _, owner_ids = await listed_ids(ctx, owner)
    require(object_id in owner_ids, "the owner's own list does not show the object they created; check Target.collection")
    leaks: list[str] = []
    refused_by: list[str] = []
    for role in OTHERS:
        auth = await maybe_sign_in(ctx, role)
        if auth is None:
            continue
        refused = not accepted(await read(ctx, auth, object_id))
        if refused:
            refused_by.append(role)
        checked: set[str] = set()
        for params in _list_variants(ctx):
            listing, ids = await listed_ids(ctx, auth, params)
            if refused and object_id in ids:
                ctx.cite(listing, f"the {role} user lists with {params or 'no parameters'}")
                leaks.append(f"{role} sees it with {params or 'no parameters'}")
            # list ⊆ check: whatever the list shows, reading by id must allow too.
            for listed in [i for i in ids if i not in checked][: MAX_ITEMS_CHECKED - len(checked)]:
                checked.add(listed)
                answer = await read(ctx, auth, listed)
                if not accepted(answer):
                    ctx.cite(answer, f"the {role} user reads listed item {listed}")
                    leaks.append(f"{role}'s list shows item {listed} that reading by id refuses")
    require(refused_by, "no identity besides the owner is refused the object by id: nothing to compare")
    if leaks:
        return failed("the list shows what the caller may not read: " + "; ".join(sorted(set(leaks))))
    return passed(f"lists agree with reads for {', '.join(refused_by)} ({len(_list_variants(ctx))} parameter sets each)")


def _list_variants(ctx: Context) -> list[dict[str, str]]:
    variants = [dict(params) for params in LIST_PARAMETERS]
    filters: dict[str, str] = {}
    tenant = ctx.target.second_tenant
    if tenant is not None and tenant.tenant_id is not None:
        filters[tenant.tenant_field] = tenant.tenant_id
    if "user" in ctx.target.user_ids:
        filters["owner_id"] = filters["user_id"] = ctx.target.user_ids["user"]
    if filters:
        variants.append(filters)
    return variants


# -- roles ------------------------------------------------------------------------------

#: Fields a client might send to raise their own role.
ROLE_FIELDS: dict[str, Any] = {"is_admin": True, "is_superuser": True, "roles": ["admin"], "scopes": ["admin"]}


@probe(
    "access_models.role_escalation",
    "No one raises their own role or changes tenant by sending fields; admins stay in their tenant",
    "OWASP API3:2023 (BOPLA, mass assignment)",
    "OWASP API5:2023 (BFLA)",
    "ASVS 5.0 8.2.3",
    "ASVS 5.0 8.4.1",
)
async def role_escalation(ctx: Context) -> Verdict:
    target, routes = ctx.target, ctx.target.member_roles
    require(
        target.profile_route is not None or routes is not None,
        "the target names neither a profile route (Target.profile_route) nor a member-role route (Target.member_roles)",
    )
    require(target.whoami, "the target names no route answering the caller's own role (Target.whoami)")
    require(target.whoami is not None and target.whoami.role_field, "Target.whoami names no role field")
    user = await sign_in(ctx, "user")
    before = await whoami(ctx, user)
    assert target.whoami is not None and target.whoami.role_field is not None
    role_field, tenant_field = target.whoami.role_field, target.whoami.tenant_field
    privileged = routes.privileged if routes is not None else "admin"
    outsider = await maybe_sign_in(ctx, "outsider")
    elsewhere = (await whoami(ctx, outsider)).get(tenant_field or "") if outsider is not None else None
    breaches: list[str] = []

    async def unchanged(label: str) -> bool:
        # A fresh sign-in too: an app that keeps the role in its tokens shows a change there.
        for how, auth in (("same credentials", user), ("fresh sign-in", await sign_in(ctx, "user"))):
            after = await whoami(ctx, auth)
            if after != before:
                ctx.note(f"after {label} ({how}): before {before}, after {after}")
                breaches.append(f"{label} changed the user's record from {before} to {after}")
                return False
        return True

    if target.profile_route is not None:
        fields = {**ROLE_FIELDS, role_field: privileged}
        if tenant_field and elsewhere is not None:
            fields[tenant_field] = elsewhere
        route = target.profile_route
        answer = await ctx.request(route.method, route.path, auth=user, json_body=fields)
        ctx.cite(answer, "the user sends role and tenant fields to their profile")
        if answer.status_code >= 500:
            breaches.append(f"{route} answered {answer.status_code}")
        if not await unchanged(f"{route} with role and tenant fields"):
            return failed("; ".join(breaches))
    if routes is not None and "user" in target.user_ids:
        url = routes.path.replace("{id}", target.user_ids["user"])
        answer = await ctx.request(routes.method, url, auth=user, json_body={routes.role_field: privileged})
        if accepted(answer):
            ctx.cite(answer, "the user sets their own role")
            breaches.append(f"an ordinary user set their own role through {routes.method} {url} ({answer.status_code})")
        await unchanged(f"{routes.method} {url} by the user")
    breaches += await _cross_tenant_role_change(ctx)
    if breaches:
        return failed("; ".join(breaches))
    return passed(f"role and tenant unchanged ({before}); role changes stayed inside the admin's tenant")


async def _cross_tenant_role_change(ctx: Context) -> list[str]:
    """The first tenant's admin sets a role in the second tenant: refused, nothing changes."""
    routes, ids = ctx.target.member_roles, ctx.target.user_ids
    if routes is None or "outsider" not in ids or "user" not in ids:
        ctx.note("cross-tenant role change not tried: needs Target.member_roles and user_ids for user and outsider")
        return []
    admin, outsider = await sign_in(ctx, "admin"), await maybe_sign_in(ctx, "outsider")
    assert ctx.target.whoami is not None and ctx.target.whoami.role_field is not None
    role_field = ctx.target.whoami.role_field
    # Precondition: in their own tenant the admin may set the user's role (to what it is).
    current = (await whoami(ctx, await sign_in(ctx, "user"))).get(role_field)
    own = await ctx.request(
        routes.method, routes.path.replace("{id}", ids["user"]), auth=admin, json_body={routes.role_field: current}
    )
    ctx.cite(own, "the admin sets the user (same tenant) to their current role")
    require(accepted(own), f"the admin cannot set roles in their own tenant ({own.status_code}); check Target.member_roles")
    require(outsider is not None, "the target names no second-tenant user (Target.second_tenant.user)")
    assert outsider is not None
    before = await whoami(ctx, outsider)
    url = routes.path.replace("{id}", ids["outsider"])
    answer = await ctx.request(routes.method, url, auth=admin, json_body={routes.role_field: routes.privileged})
    ctx.cite(answer, "the admin sets a role in the other tenant")
    after = await whoami(ctx, outsider)
    breaches = []
    if accepted(answer):
        breaches.append(f"the admin changed a role in another tenant ({routes.method} {url} → {answer.status_code})")
    if after != before:
        breaches.append(f"the other tenant's user went from {before} to {after}")
    return breaches


@probe(
    "access_models.demotion_immediate",
    "A demoted user loses the role's rights on their very next request",
    "ASVS 5.0 8.3.2",
    "OWASP API5:2023 (BFLA)",
)
async def demotion_immediate(ctx: Context) -> Verdict:
    routes, ids, coll = ctx.target.member_roles, ctx.target.user_ids, collection(ctx)
    require(routes is not None and routes.demoted, "the target names no read-only role (Target.member_roles.demoted)")
    require("user" in ids, "the target gives no id for the user (Target.user_ids)")
    require(ctx.target.whoami is not None and ctx.target.whoami.role_field, "Target.whoami names no role field")
    assert routes is not None and routes.demoted is not None and ctx.target.whoami is not None
    role_field = ctx.target.whoami.role_field or ""
    user, admin = await sign_in(ctx, "user"), await sign_in(ctx, "admin")
    original = (await whoami(ctx, user)).get(role_field)
    await create(ctx, user, "the user creates an object before the demotion")  # they may
    url = routes.path.replace("{id}", ids["user"])
    demoted = await ctx.request(routes.method, url, auth=admin, json_body={routes.role_field: routes.demoted})
    ctx.cite(demoted, f"the admin makes the user {routes.demoted}")
    require(accepted(demoted), f"the admin could not demote the user ({demoted.status_code}); check Target.member_roles")
    try:
        # The same credentials as before: a role copied into a token or a cache shows here.
        attempt = await ctx.request("POST", coll.path, auth=user, json_body=marked_body(coll.create_body, "demoted"))
        seen = (await whoami(ctx, user)).get(role_field)
    finally:
        restored = await ctx.request(routes.method, url, auth=admin, json_body={routes.role_field: original})
        if not accepted(restored):
            ctx.cite(restored, f"restoring the user's role ({original})")
    if accepted(attempt):
        ctx.cite(attempt, f"the {routes.demoted} user creates on their next request")
        return failed(f"right after the demotion the user still created an object ({attempt.status_code})")
    if seen != routes.demoted:
        return failed(f"right after the demotion the app still reports the role {seen!r}")
    return passed(f"the next request after the demotion was refused ({attempt.status_code}) and showed {seen!r}")


# -- sharing ----------------------------------------------------------------------------


@probe(
    "access_models.sharing_revocation",
    "A share reaches one user only, only the owner shares, and revocation applies on the next request",
    "OWASP API1:2023 (BOLA)",
    "ASVS 5.0 8.3.2",
    "ASVS 5.0 8.2.2",
)
async def sharing_revocation(ctx: Context) -> Verdict:
    sharing, ids = ctx.target.sharing, ctx.target.user_ids
    require(sharing, "the target names no share and unshare routes (Target.sharing)")
    assert sharing is not None
    owner = await sign_in(ctx, "user")
    object_id = await create(ctx, owner, "the owner creates an object")
    strangers = await _strangers(ctx, object_id, ids)
    require(
        len(strangers) >= 2,
        "sharing needs two identities with ids in Target.user_ids that cannot read the owner's object",
    )
    (grantee_role, grantee), (third_role, third) = strangers[0], strangers[1]
    breaches: list[str] = []

    async def must_refuse(auth: Auth, who: str, when: str) -> None:
        answer = await read(ctx, auth, object_id)
        if accepted(answer):
            ctx.cite(answer, f"the {who} reads it {when}")
            breaches.append(f"the {who} reads it {when}")

    # 1. A non-owner cannot share it, not even with themselves.
    self_share = await _share(ctx, "share", third, object_id, ids[third_role])
    if accepted(self_share):
        ctx.cite(self_share, f"the {third_role} user shares it with themselves")
        breaches.append(f"the {third_role} user (not the owner) shared it ({self_share.status_code})")
        await _share(ctx, "unshare", owner, object_id, ids[third_role])
    # 2. The owner shares with one user; that user reads it, nobody else does.
    granted = ctx.cite(await _share(ctx, "share", owner, object_id, ids[grantee_role]), "the owner shares it")
    require(accepted(granted), f"the owner's share was refused ({granted.status_code}); check Target.sharing")
    reads = ctx.cite(await read(ctx, grantee, object_id), f"the {grantee_role} user reads the shared object")
    require(accepted(reads), f"the share was accepted but the {grantee_role} user still cannot read ({reads.status_code})")
    await must_refuse(third, f"{third_role} user", "while it is shared with someone else")
    _, third_ids = await listed_ids(ctx, third)
    if object_id in third_ids:
        breaches.append(f"the {third_role} user's list shows an object shared with someone else")
    # A read-only share does not let its holder pass the object on.
    passed_on = await _share(ctx, "share", grantee, object_id, ids[third_role])
    if accepted(passed_on):
        ctx.cite(passed_on, f"the {grantee_role} user shares it on with the {third_role} user")
        breaches.append(f"the {grantee_role} user (not the owner, shared to read) passed it on ({passed_on.status_code})")
        await _share(ctx, "unshare", owner, object_id, ids[third_role])
    # 3. A non-owner cannot take the share away either.
    revoke_by_third = await _share(ctx, "unshare", third, object_id, ids[grantee_role])
    if accepted(revoke_by_third):
        ctx.cite(revoke_by_third, f"the {third_role} user revokes the share")
        breaches.append(f"the {third_role} user (not the owner) revoked the share ({revoke_by_third.status_code})")
        await _share(ctx, "share", owner, object_id, ids[grantee_role])
    # 4. The owner revokes; the very next request is refused (no cache window).
    revoked = ctx.cite(await _share(ctx, "unshare", owner, object_id, ids[grantee_role]), "the owner revokes it")
    require(accepted(revoked), f"the owner's revocation was refused ({revoked.status_code}); check Target.sharing")
    await must_refuse(grantee, f"{grantee_role} user", "right after the revocation")
    _, grantee_ids = await listed_ids(ctx, grantee)
    if object_id in grantee_ids:
        breaches.append(f"the {grantee_role} user's list still shows it after the revocation")
    if breaches:
        return failed("; ".join(breaches))
    return passed(
        f"shared with {grantee_role} only, refused to {third_role}; non-owners could neither share nor revoke;"
        " the next read after revocation was refused"
    )


async def _strangers(ctx: Context, object_id: str, ids: Mapping[str, str]) -> list[tuple[Role, Auth]]:
    """Identities with an id that cannot read the object: grantee and third party candidates."""
    found: list[tuple[Role, Auth]] = []
    for role in _with_ids(ids):
        auth = await maybe_sign_in(ctx, role)
        if auth is not None and not accepted(await read(ctx, auth, object_id)):
            found.append((role, auth))
    return found


def _with_ids(ids: Mapping[str, str]) -> Iterable[Role]:
    return [role for role in OTHERS if role in ids]


async def _share(ctx: Context, action: str, auth: Auth, object_id: str, user_id: str) -> httpx2.Response:
    sharing = ctx.target.sharing
    assert sharing is not None
    route = sharing.share if action == "share" else sharing.unshare
    path = route.path.replace("{id}", object_id)
    body: dict[str, Any] | None = {sharing.user_field: _as_sent(user_id), **sharing.extra}
    if "{user}" in path:
        path, body = path.replace("{user}", user_id), None if route.method.upper() in ("DELETE", "GET") else body
    return await ctx.request(route.method, path, auth=auth, json_body=body)
