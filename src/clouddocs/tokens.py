# Generated from notebooks/03_jwt.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""Chapter 3's token layer in one import: ``from clouddocs.tokens import TokenService, ...``.

Each part lives in the module named after what it implements; this one only re-exports
them (``X as X``: an explicit re-export, as ``mypy --strict`` wants).
"""

# ruff: noqa: I001 (the ``X as X`` re-exports stay grouped per module, one import each)

from clouddocs.jwks import (
    ASYMMETRIC_ALGORITHMS as ASYMMETRIC_ALGORITHMS,
    JwksVerifier as JwksVerifier,
    jwks_document as jwks_document,
    jwks_router as jwks_router,
    keys_from_jwks as keys_from_jwks,
    new_ed25519_key as new_ed25519_key,
    new_rsa_key as new_rsa_key,
    public_jwk as public_jwk,
)
from clouddocs.jwt_tokens import (
    ACCESS_TOKEN_TYPE as ACCESS_TOKEN_TYPE,
    KEY_SOURCE_HEADERS as KEY_SOURCE_HEADERS,
    MAX_ACCESS_LIFETIME as MAX_ACCESS_LIFETIME,
    MAX_LEEWAY as MAX_LEEWAY,
    MIN_HS256_SECRET_BYTES as MIN_HS256_SECRET_BYTES,
    REFRESH_TOKEN_TYPE as REFRESH_TOKEN_TYPE,
    REQUIRED_CLAIMS as REQUIRED_CLAIMS,
    HS256Secret as HS256Secret,
    InvalidToken as InvalidToken,
    KeyRing as KeyRing,
    SigningKey as SigningKey,
    TokenService as TokenService,
    TokenSettings as TokenSettings,
    VerificationKey as VerificationKey,
    check_time_claims as check_time_claims,
    media_type as media_type,
    new_hs256_key as new_hs256_key,
    verify_jwt as verify_jwt,
)
from clouddocs.refresh_tokens import (
    IssuedRefresh as IssuedRefresh,
    RefreshFamily as RefreshFamily,
    RefreshReuse as RefreshReuse,
    RefreshTokenRecord as RefreshTokenRecord,
    RefreshTokens as RefreshTokens,
    family_is_live as family_is_live,
    revoke_all_families as revoke_all_families,
    revoke_family as revoke_family,
    rotate_refresh as rotate_refresh,
    start_family as start_family,
)
from clouddocs.token_app import (
    PUBLIC_ROUTES as PUBLIC_ROUTES,
    REFRESH_COOKIE as REFRESH_COOKIE,
    REFRESH_PATH as REFRESH_PATH,
    TokenAppSettings as TokenAppSettings,
    create_token_app as create_token_app,
    require_access_token as require_access_token,
    token_routes as token_routes,
)
from clouddocs.token_revocation import (
    FAMILY_CLAIM as FAMILY_CLAIM,
    VERSION_CLAIM as VERSION_CLAIM,
    DeniedToken as DeniedToken,
    TokenVersion as TokenVersion,
    bump_token_version as bump_token_version,
    current_version as current_version,
    deny as deny,
    end_all_sessions as end_all_sessions,
    is_revoked as is_revoked,
    prune_denylist as prune_denylist,
    REVOCATION_CHECK as REVOCATION_CHECK,
    revocation_params as revocation_params,
)
