"""The OpenID Provider metadata served at /.well-known/openid-configuration."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from authcourse.idp.claims import CLAIMS_SUPPORTED, IDENTITY_SCOPES
from authcourse.idp.keys import SIGNING_ALGORITHM

#: Endpoint paths, relative to the issuer URL.
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"
USERINFO_PATH = "/userinfo"
JWKS_PATH = "/jwks"
REVOCATION_PATH = "/revoke"
INTROSPECTION_PATH = "/introspect"
END_SESSION_PATH = "/logout"
DISCOVERY_PATH = "/.well-known/openid-configuration"

_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def provider_metadata(issuer: str, client_scopes: Iterable[str]) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3 metadata (with the RFC 8414 / RFC 9207 additions)."""
    scopes = list(dict.fromkeys([*IDENTITY_SCOPES, *client_scopes]))
    return {
        # OpenID Connect Discovery §4.3: issuer MUST be identical to the URL it is served under.
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "userinfo_endpoint": issuer + USERINFO_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "revocation_endpoint": issuer + REVOCATION_PATH,
        "introspection_endpoint": issuer + INTROSPECTION_PATH,
        # OpenID Connect RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": issuer + END_SESSION_PATH,
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
        "token_endpoint_auth_methods_supported": [*_CLIENT_AUTH_METHODS, "none"],
        "revocation_endpoint_auth_methods_supported": [*_CLIENT_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }
