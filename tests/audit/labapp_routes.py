"""The lab app's routes and middleware (see labapp.py for the flaws they can be given)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from .labapp import Lab

from .labapp import COMMON, ORIGIN, unauthorized

QUERY_CREDENTIALS = {"access_token", "api_key", "apikey", "key", "token"}
SESSION = "__Host-sid"
REFRESH = "__Secure-refresh"


class Headers:
    """Body limit, security headers, CORS (and their flaws), as one ASGI middleware."""

    def __init__(self, app: ASGIApp, lab: Lab) -> None:
        self.app, self.lab = app, lab

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lab = self.lab
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not lab.has("no_body_limit") and int(headers.get("content-length") or 0) > 1_048_576:
            await JSONResponse({"detail": "too large"}, 413)(scope, receive, send)
            return
        credentialed = "authorization" in headers or "cookie" in headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                https = scope.get("scheme") == "https"
                if (https or lab.has("hsts_over_http")) and not lab.has("no_hsts"):
                    out["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
                if not lab.has("no_nosniff"):
                    out["X-Content-Type-Options"] = "nosniff"
                sets_cookie = "set-cookie" in out
                if not lab.has("cacheable") and (credentialed or message["status"] in (401, 403)):
                    out["Cache-Control"] = "no-store"
                if sets_cookie and not lab.has("login_cacheable"):
                    out["Cache-Control"] = "no-store"
                origin = headers.get("origin")
                if lab.has("cors_wildcard"):
                    out["Access-Control-Allow-Origin"] = "*"
                elif lab.has("cors_reflect") and origin:
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(lab: Lab) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else "?"

    def credential_in_query(request: Request, name: str) -> str | None:
        return request.query_params.get(name)

    async def caller(request: Request, *, scope: str | None = None) -> dict[str, Any]:
        """Who is calling: bearer JWT, API key or session cookie; 401 otherwise."""
        for name in request.query_params:
            allowed = (name == "access_token" and lab.has("token_in_query")) or (
                name == "api_key" and lab.has("key_in_query")
            )
            if name in QUERY_CREDENTIALS and not allowed:
                raise HTTPException(400, "credentials go in headers, never in the URL")
        authorization = request.headers.get("authorization", "")
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        token = token or credential_in_query(request, "access_token") or credential_in_query(request, "api_key")
        if token is not None:
            if token.count(".") == 2:
                if lab.has("malformed_500") and token.startswith("e30"):
                    raise RuntimeError("unhandled token parsing error")
                claims = lab.verify_token(token)
                if claims is None:
                    raise unauthorized(lab, "invalid_token")
                user = next(u for u in lab.users.values() if str(u["id"]) == claims["sub"]) if any(str(u["id"]) == claims.get("sub") for u in lab.users.values()) else None
                if user is None:
                    raise unauthorized(lab, "invalid_token")
                return {**user, "jti": claims.get("jti"), "exp": claims.get("exp")}
            record = lab.key_record(token)
            if record is None:
                raise unauthorized(lab, "invalid_token")
            record["hits"] += 1
            if record["hits"] > 100 and not lab.has("no_key_limit"):
                raise HTTPException(429, "slow down", headers={"Retry-After": "60"})
            if scope and scope not in record["scopes"] and not lab.has("scope_unchecked"):
                raise HTTPException(403, f"needs {scope}")
            return {"id": 0, "role": "key", "key": record["id"]}
        sid = request.cookies.get(SESSION if not lab.has("cookie_no_prefix") else "sid")
        session = lab.sessions.get(sid or "")
        if session is not None:
            now = lab.clock.time()
            idle = now - session["seen"] > 1800 and not lab.has("no_idle_timeout")
            old = now - session["created"] > 12 * 3600 and not lab.has("no_absolute_timeout")
            if idle or old:
                del lab.sessions[sid or ""]
            else:
                session["seen"] = now
                if request.method not in ("GET", "HEAD", "OPTIONS") and not lab.has("no_csrf"):
                    expected = hmac.new((sid or "").encode(), b"csrf", hashlib.sha256).hexdigest()
                    if request.headers.get("origin") != ORIGIN or not hmac.compare_digest(
                        request.headers.get("x-csrf-token", ""), expected
                    ):
                        raise HTTPException(403, "cross-site request refused")
                user = next(u for u in lab.users.values() if u["id"] == session["user"])
                return {**user, "sid": sid}
        raise unauthorized(lab)

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(422, "a JSON object is expected") from None
        if not isinstance(data, dict):
            raise HTTPException(422, "a JSON object is expected")
        return data

    def refuse_password(password: Any) -> None:
        if not isinstance(password, str) or len(password) > (10**9 if lab.has("no_max") else 128):
            detail = f"invalid password {password!r}" if lab.has("echo_password") else "invalid password"
            raise HTTPException(422, detail)

    async def check_login(request: Request) -> dict[str, Any]:
        ip = client_ip(request)
        lab.ip_hits[ip] = lab.ip_hits.get(ip, 0) + 1
        if lab.ip_hits[ip] > 20 and not lab.has("no_ip_limit"):
            headers = {} if lab.has("no_retry_after") else {"Retry-After": "60"}
            raise HTTPException(429, "too many attempts", headers=headers)
        data = await body(request)
        email, password = str(data.get("email", "")), data.get("password")
        refuse_password(password)
        if lab.failures.get(email, 0) >= 5 and not lab.has("no_lockout"):
            raise HTTPException(429, "account locked", headers={"Retry-After": "900"})
        user = lab.users.get(email)
        if user is None and lab.has("skip_dummy_hash"):
            matches = False
        else:
            matches = lab.verify(user["hash"] if user else lab.dummy, str(password))
        if user is None or not matches:
            lab.failures[email] = lab.failures.get(email, 0) + 1
            if not lab.has("no_failure_events"):
                lab.event("login.failed", ip=ip, **({"password": password} if lab.has("log_secrets") else {}))
            if lab.has("enum_messages"):
                raise HTTPException(401 if user else 404, "wrong password" if user else "no such user")
            raise HTTPException(401, "email or password is incorrect", headers={"WWW-Authenticate": 'Bearer realm="lab"'})
        lab.failures.pop(email, None)
        if not lab.has("no_login_events"):
            lab.event("login.succeeded", user_id=user["id"], ip=ip)
        return user

    def new_family(user_id: int) -> str:
        family = secrets.token_hex(8)
        lab.families[family] = {"user": user_id, "revoked": False}
        return refresh_token(family, user_id)

    def refresh_token(family: str, user_id: int) -> str:
        jti = secrets.token_hex(8)
        lab.refresh_tokens[jti] = {"family": family, "used": False}
        return lab.issue(user_id, typ="refresh+jwt", lifetime=86400, jti=jti)

    def token_answer(user: dict[str, Any], refresh: str) -> JSONResponse:
        payload: dict[str, Any] = {"access_token": lab.issue(user["id"]), "token_type": "Bearer"}
        if lab.has("refresh_in_body"):
            payload["refresh_token"] = refresh
        response = JSONResponse(payload)
        if not lab.has("refresh_in_body"):
            same_site = "lax" if lab.has("refresh_cookie_lax") else "strict"
            response.set_cookie(REFRESH, refresh, path="/auth", secure=True, httponly=True, samesite=same_site)
        if not lab.has("login_cacheable"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/auth/login")
    async def token_login(request: Request) -> Response:
        user = await check_login(request)
        return token_answer(user, new_family(user["id"]))

    @app.post("/auth/refresh")
    async def refresh(request: Request) -> Response:
        presented = request.cookies.get(REFRESH)
        if lab.has("refresh_in_body"):
            presented = str((await body(request)).get("refresh_token", ""))
        claims = lab.verify_token(presented or "", typ="refresh+jwt")
        record = lab.refresh_tokens.get(str(claims.get("jti"))) if claims else None
        family = lab.families.get(record["family"]) if record else None
        if claims is None or record is None or family is None or family["revoked"]:
            raise unauthorized(lab, "invalid_token")
        user = next(u for u in lab.users.values() if str(u["id"]) == claims["sub"])
        if lab.has("no_rotation"):
            response = token_answer(user, presented or "")
        else:
            if record["used"]:
                if not lab.has("no_family_revoke"):
                    family["revoked"] = True
                raise unauthorized(lab, "invalid_token")
            record["used"] = True
            response = token_answer(user, refresh_token(record["family"], user["id"]))
        if not lab.has("no_refresh_event"):
            lab.event("token.refreshed", user_id=user["id"])
        return response

    @app.post("/auth/logout", status_code=204)
    async def token_logout(request: Request) -> Response:
        who = await caller(request)
        if not lab.has("logout_noop"):
            lab.denied.add(str(who.get("jti")))
        presented = request.cookies.get(REFRESH)
        claims = lab.verify_token(presented or "", typ="refresh+jwt")
        record = lab.refresh_tokens.get(str(claims.get("jti"))) if claims else None
        if record and not lab.has("logout_keeps_refresh"):
            lab.families[record["family"]]["revoked"] = True
        if not lab.has("no_logout_event"):
            lab.event("logout", user_id=who["id"])
        return Response(status_code=204)

    @app.post("/session/login")
    async def session_login(request: Request) -> Response:
        user = await check_login(request)
        brought = request.cookies.get(SESSION)
        if lab.has("fixation") and brought in lab.sessions:
            sid = brought or ""
            response = JSONResponse({"csrf_token": _csrf(sid)})
        else:
            lab.sessions.pop(brought or "", None)
            sid = secrets.token_urlsafe(32)
            now = lab.clock.time()
            lab.sessions[sid] = {"user": user["id"], "created": now, "seen": now}
            response = JSONResponse({"csrf_token": _csrf(sid)})
            response.set_cookie(
                "sid" if lab.has("cookie_no_prefix") else SESSION,
                sid,
                path="/",
                secure=not lab.has("cookie_insecure"),
                httponly=not lab.has("cookie_script"),
                samesite=None if lab.has("cookie_no_samesite") else "lax",  # type: ignore[arg-type]
            )
        return response

    @app.post("/session/logout", status_code=204)
    async def session_logout(request: Request) -> Response:
        who = await caller(request)
        if not lab.has("logout_noop"):
            lab.sessions.pop(str(who.get("sid")), None)
        if not lab.has("no_logout_event"):
            lab.event("logout", user_id=who["id"])
        return Response(status_code=204)

    @app.post("/register", status_code=202)
    async def register(request: Request) -> dict[str, str]:
        data = await body(request)
        email, password = str(data.get("email", "")), data.get("password")
        refuse_password(password)
        assert isinstance(password, str)
        problems = []
        if len(password) < (8 if lab.has("min8") else 15):
            problems.append("too short")
        if len(password) > 50 and lab.has("long_refused"):  # "at most 50 characters"
            problems.append("too long")
        if password.lower() in COMMON and not lab.has("no_blocklist"):
            problems.append("too common")
        if problems:
            raise HTTPException(400, problems)
        if lab.has("register_fast_path") and email in lab.users:
            return {"detail": "check your inbox"}
        hashed = lab.hash(password)
        if email in lab.users:
            if lab.has("register_reveals"):
                raise HTTPException(409, "email already registered")
            return {"detail": "check your inbox"}
        role = str(data.get("role", "user")) if lab.has("mass_assignment") else "user"
        lab.users[email] = {"id": len(lab.users) + 1, "hash": hashed, "role": role}
        return {"detail": "check your inbox"}

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        who = await caller(request)
        return {"id": who["id"], "role": who["role"]}

    @app.get("/documents/{document_id}")
    async def read_document(document_id: int, request: Request) -> dict[str, Any]:
        who = await caller(request)
        owner = lab.documents.get(document_id)
        if owner is None:
            raise HTTPException(404, "Not Found")
        if owner != who["id"] and not lab.has("bola"):
            if not lab.has("no_authz_events"):
                lab.event("authz.denied", user_id=who["id"], document_id=document_id)
            raise HTTPException(404, "not yours" if lab.has("inconsistent_404") else "Not Found")
        return {"id": document_id, "owner": owner}

    @app.delete("/documents/{document_id}", status_code=204)
    async def delete_document(document_id: int, request: Request) -> Response:
        who = await caller(request)
        owner = lab.documents.get(document_id)
        if owner is None or (owner != who["id"] and not lab.has("delete_unchecked")):
            raise HTTPException(404, "Not Found")
        return Response(status_code=204)

    @app.get("/admin/users")
    async def admin_users(request: Request) -> dict[str, int]:
        who = await caller(request)
        if who["role"] != "admin" and not lab.has("admin_open"):
            if not lab.has("no_authz_events"):
                lab.event("authz.denied", user_id=who["id"], route="/admin/users")
            raise HTTPException(403, "admins only")
        return {"users": len(lab.users)}

    @app.get("/reports")
    async def reports(request: Request) -> dict[str, str]:
        await caller(request, scope="reports:read")
        return {"report": "ok"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if lab.has("unprotected_route"):

        @app.get("/debug/config")
        async def debug_config() -> dict[str, str]:
            return {"database": "postgresql://prod"}

    if lab.rsa is not None:

        @app.get("/.well-known/jwks.json")
        async def jwks() -> dict[str, Any]:
            return {"keys": [lab.jwk()]}

    @app.exception_handler(RuntimeError)
    async def crash(request: Request, error: RuntimeError) -> Response:
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_middleware(Headers, lab=lab)
    return app


def _csrf(sid: str) -> str:
    return hmac.new(sid.encode(), b"csrf", hashlib.sha256).hexdigest()
