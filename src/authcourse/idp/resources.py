"""RFC 8707 resource indicators: which API an access token is for, and so its ``aud``."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not allowed for the client."""

    error = "invalid_target"
    status_code = 400


def is_resource_identifier(value: str) -> bool:
    """RFC 8707 §2: an absolute URI, without a fragment (and, SHOULD, without a query)."""
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and not parts.fragment and not parts.query
