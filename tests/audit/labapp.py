"""One small app that does every audited thing right, and can be told to get any one wrong.

``build(flaws)`` returns the app, its audit targets and its counters. With no flaws it
must pass every probe that applies; each flaw in ``FLAWS`` breaks exactly the behaviour
one probe checks. In memory, no database: a full probe run takes milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from authcourse.audit import (
    Account,
    ApiKeys,
    AuditEvents,
    IssuedKey,
    Login,
    ObjectRoute,
    Refresh,
    Registration,
    Route,
    Target,
)
from authcourse.audit import jwt_attacks as forge
from authcourse.clock import FrozenClock

ORIGIN = "https://lab.test"
ISSUER, AUDIENCE = "https://lab.test", "https://api.lab.test"
COMMON = {"qwertyuiop12345", "basketball12345", "password"}
PASSWORDS = {
    "alice@lab.test": "alice correct horse battery",
    "bob@lab.test": "bob correct horse battery",
    "root@lab.test": "root correct horse battery",
    "carol@lab.test": "carol correct horse battery",
}
FLAWS = frozenset(
    {
        # transport
        "no_hsts", "hsts_over_http", "no_nosniff", "cacheable", "login_cacheable",
        "cors_wildcard", "cors_reflect", "token_in_query", "no_body_limit",
        # passwords
        "min8", "long_refused", "no_max", "no_blocklist", "truncate72", "no_normalize",
        "echo_password",
        # brute force
        "enum_messages", "register_reveals", "skip_dummy_hash", "register_fast_path",
        "no_ip_limit", "no_retry_after", "no_lockout",
        # sessions
        "cookie_insecure", "cookie_script", "cookie_no_samesite", "cookie_no_prefix",
        "fixation", "logout_noop", "no_csrf", "no_idle_timeout", "no_absolute_timeout",
        # jwt
        "alg_none", "no_signature_check", "alg_confusion", "trust_jwk", "trust_jku",
        "kid_path", "weak_secret", "no_exp", "long_tokens", "no_exp_check",
        "no_nbf_check", "no_aud_check", "no_iss_check", "typ_jwt", "typ_unchecked",
        "refresh_as_access",
        # refresh
        "refresh_in_body", "refresh_cookie_lax", "no_rotation", "no_family_revoke",
        "logout_keeps_refresh",
        # api keys
        "key_in_query", "scope_unchecked", "key_no_expiry", "revocation_cached",
        "no_key_limit", "no_key_prefix",
        # authorization
        "no_challenge", "malformed_500", "unprotected_route", "bola", "admin_open",
        "delete_unchecked", "inconsistent_404", "mass_assignment",
        # logging
        "no_login_events", "no_failure_events", "no_logout_event", "no_refresh_event",
        "no_authz_events", "log_secrets",
    }
)


@dataclass
class Lab:
    flaws: frozenset[str]
    rs256: bool = False
    clock: FrozenClock = field(default_factory=FrozenClock)
    hashes: int = 0  # the meter: password hash computations so far
    events: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[int, int] = field(default_factory=lambda: {1: 1, 2: 2})
    sessions: dict[str, dict[str, float]] = field(default_factory=dict)
    families: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    ip_hits: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        unknown = self.flaws - FLAWS
        assert not unknown, f"unknown flaws: {unknown}"
        self.secret = b"your-secret-key" if "weak_secret" in self.flaws else secrets.token_bytes(32)
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.rs256 else None
        self.dummy = self.hash("dummy password never used", salt=b"dummy")
        for user_id, (email, password) in enumerate(PASSWORDS.items(), start=1):
            role = "admin" if email.startswith("root") else "user"
            self.users[email] = {"id": user_id, "hash": self.hash(password), "role": role}
        self.app = self._build()

    def has(self, flaw: str) -> bool:
        return flaw in self.flaws

    # -- passwords ------------------------------------------------------------------------

    def hash(self, password: str, salt: bytes | None = None) -> str:
        self.hashes += 1
        if not self.has("no_normalize"):
            password = unicodedata.normalize("NFKC", password)
        data = password.encode()
        if self.has("truncate72"):
            data = data[:72]
        salt = salt or secrets.token_bytes(8)
        return salt.hex() + ":" + hashlib.pbkdf2_hmac("sha256", data, salt, 1).hex()

    def verify(self, stored: str, password: str) -> bool:
        salt, _ = stored.split(":")
        return hmac.compare_digest(self.hash(password, bytes.fromhex(salt)), stored)

    def event(self, kind: str, **fields: Any) -> None:
        self.events.append({"event": kind, "at": self.clock.time(), **fields})

    # -- tokens -----------------------------------------------------------------------------

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        """Sign with the app's own key (what Target.sign is for)."""
        if self.rsa is not None:
            head = forge.b64url(json.dumps({**header, "alg": "RS256"}).encode())
            body = forge.b64url(json.dumps(dict(claims)).encode())
            signature = self.rsa.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), SHA256())
            return f"{head}.{body}.{forge.b64url(signature)}"
        return forge.hmac_signed({**header, "kid": "k1"}, claims, self.secret)

    def issue(self, user_id: int, typ: str = "at+jwt", lifetime: float | None = None, jti: str | None = None) -> str:
        now = int(self.clock.time())
        lifetime = lifetime or (1800 if self.has("long_tokens") else 600)
        claims: dict[str, Any] = {"iss": ISSUER, "sub": str(user_id), "iat": now, "jti": jti or secrets.token_hex(8)}
        claims["aud"] = AUDIENCE if typ == "at+jwt" else ISSUER
        if not self.has("no_exp"):
            claims["exp"] = now + int(lifetime)
        header = {"typ": "JWT" if self.has("typ_jwt") else typ, "kid": "k1"}
        return self.sign(claims, header)

    def verify_token(self, token: str, typ: str = "at+jwt") -> dict[str, Any] | None:
        parsed = forge.parse(token)
        if parsed is None:
            return None
        header, claims, alg = parsed.header, parsed.claims, parsed.algorithm
        if not self._signature_ok(parsed, header, alg):
            return None
        types = {typ, "refresh+jwt"} if self.has("refresh_as_access") else {typ}
        if not self.has("typ_unchecked") and not self.has("typ_jwt") and header.get("typ") not in types:
            return None
        audiences = {AUDIENCE, ISSUER} if self.has("refresh_as_access") else {AUDIENCE if typ == "at+jwt" else ISSUER}
        if not self.has("no_aud_check") and claims.get("aud") not in audiences:
            return None
        if not self.has("no_iss_check") and claims.get("iss") != ISSUER:
            return None
        now = self.clock.time()
        exp = claims.get("exp")
        if not self.has("no_exp") and not isinstance(exp, int):
            return None
        if not self.has("no_exp_check") and isinstance(exp, int) and now >= exp + 30:
            return None
        nbf = claims.get("nbf")
        if not self.has("no_nbf_check") and isinstance(nbf, int) and now + 30 < nbf:
            return None
        if claims.get("jti") in self.denied:
            return None
        return claims

    def _signature_ok(self, parsed: forge.Jwt, header: Mapping[str, Any], alg: str) -> bool:
        if self.has("no_signature_check"):
            return True
        if alg.lower() == "none":
            return self.has("alg_none")
        if "jwk" in header:
            return self.has("trust_jwk") and _rsa_ok(parsed, header["jwk"])
        if "jku" in header:
            if not self.has("trust_jku"):
                return False
            keys = forge.ATTACKER_SITE.get(str(header["jku"]), {}).get("keys", [])
            return any(_rsa_ok(parsed, key) for key in keys)
        if header.get("kid") != "k1":
            if self.has("kid_path"):
                with open(str(header.get("kid")), "rb") as key_file:  # the classic mistake
                    return forge.hmac_matches(parsed, key_file.read())
            return False
        if self.rsa is not None:
            if alg == "HS256" and self.has("alg_confusion"):
                return any(forge.hmac_matches(parsed, pem) for pem in [self.public_pem()])
            return alg == "RS256" and _rsa_ok(parsed, self.jwk())
        return alg == "HS256" and forge.hmac_matches(parsed, self.secret)

    def public_pem(self) -> bytes:
        assert self.rsa is not None
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        assert self.rsa is not None
        numbers = self.rsa.public_key().public_numbers()

        def integer(value: int) -> str:
            return forge.b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "kid": "k1", "alg": "RS256", "n": integer(numbers.n), "e": integer(numbers.e)}

    # -- API keys ---------------------------------------------------------------------------

    def issue_key(self, scopes: list[str] | tuple[str, ...]) -> IssuedKey:
        key = secrets.token_hex(20) if self.has("no_key_prefix") else "lab_live_" + secrets.token_hex(16)
        key_id = str(len(self.keys) + 1)
        self.keys[hashlib.sha256(key.encode()).hexdigest()] = {
            "id": key_id, "scopes": set(scopes), "created": self.clock.time(), "revoked": False, "hits": 0,
        }
        return IssuedKey(key, key_id)

    def revoke_key(self, key_id: str) -> None:
        for record in self.keys.values():
            if record["id"] == key_id:
                record["revoked"] = True

    def key_record(self, key: str) -> dict[str, Any] | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        if self.has("revocation_cached") and digest in self.key_cache:
            return self.key_cache[digest]
        record = self.keys.get(digest)
        if record is None or record["revoked"]:
            return None
        if not self.has("key_no_expiry") and self.clock.time() - record["created"] > 90 * 86400:
            return None
        self.key_cache[digest] = record
        return record

    def target(self, mode: str = "jwt") -> Target:
        """The audit target for this app: "jwt" (bearer + refresh cookie) or "session"."""
        refresh = None
        if mode == "jwt":
            login = Login("/auth/login", username_field="email")
            logout = Route("POST", "/auth/logout")
            refresh = (
                Refresh("/auth/refresh", body_field="refresh_token")
                if self.has("refresh_in_body")
                else Refresh("/auth/refresh", cookie="__Secure-refresh")
            )
        else:
            login = Login("/session/login", username_field="email", token_field=None, csrf_field="csrf_token")
            logout = Route("POST", "/session/logout")

        async def read_events() -> list[dict[str, Any]]:
            return list(self.events)

        async def issue(ctx: object, scopes: Any) -> IssuedKey:
            return self.issue_key(list(scopes))

        async def revoke(ctx: object, issued: IssuedKey) -> None:
            self.revoke_key(issued.key_id)

        return Target(
            name=f"lab app ({mode}{', ' + ', '.join(sorted(self.flaws)) if self.flaws else ''})",
            origin=ORIGIN,
            protected=Route("GET", "/me"),
            user=Account("alice@lab.test", PASSWORDS["alice@lab.test"]),
            other_user=Account("bob@lab.test", PASSWORDS["bob@lab.test"]),
            admin=Account("root@lab.test", PASSWORDS["root@lab.test"]),
            spare=Account("carol@lab.test", PASSWORDS["carol@lab.test"]),
            login=login,
            logout=logout,
            refresh=refresh,
            registration=Registration("/register", username_template="new-{n}@lab.test"),
            admin_route=Route("GET", "/admin/users"),
            object_route=ObjectRoute("GET", "/documents/{id}", object_id="1"),
            api_keys=ApiKeys(
                issue=issue,
                revoke=revoke,
                scoped_route=Route("GET", "/reports"),
                needed_scope="reports:read",
                other_scope="docs:read",
                burst=150,
            ),
            events=AuditEvents(read=read_events, authorization_failed="authz.denied"),
            clock=self.clock,
            sign=self.sign,
            public_routes=frozenset(
                {
                    "POST /auth/login",
                    "POST /auth/refresh",
                    "POST /session/login",
                    "POST /register",
                    "GET /health",
                    "GET /.well-known/jwks.json",
                }
            ),
            meter=lambda: float(self.hashes),
            timing_samples=5,
        )

    def _build(self) -> FastAPI:
        from .labapp_routes import build_app

        return build_app(self)


def _rsa_ok(parsed: forge.Jwt, jwk: Mapping[str, Any]) -> bool:
    try:
        n = int.from_bytes(forge.b64url_decode(str(jwk["n"])), "big")
        e = int.from_bytes(forge.b64url_decode(str(jwk["e"])), "big")
        rsa.RSAPublicNumbers(e, n).public_key().verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), SHA256())
    except Exception:
        return False
    return True


def unauthorized(lab: Lab, error: str | None = None) -> HTTPException:
    headers = {} if lab.has("no_challenge") else {"WWW-Authenticate": "Bearer realm=\"lab\"" + (f', error="{error}"' if error else "")}
    return HTTPException(401, "not authenticated", headers=headers)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


__all__ = ["FLAWS", "Lab", "Request", "Response", "json_response", "timedelta"]
