"""Small predicates probes share: how to read an answer, a header, a status."""

from __future__ import annotations

import httpx2

from authcourse.audit.framework import NotApplicable

EVIL_ORIGIN = "https://evil.example"


def refused(response: httpx2.Response) -> bool:
    """A 4xx: the app said no (a 5xx is a crash, not a refusal)."""
    return 400 <= response.status_code < 500


def accepted(response: httpx2.Response) -> bool:
    return response.is_success or response.is_redirect


def status_line(response: httpx2.Response) -> str:
    return f"{response.request.method} {response.request.url.path} → {response.status_code}"


def cache_control(response: httpx2.Response) -> set[str]:
    value = response.headers.get("cache-control", "")
    return {part.strip().split("=")[0].lower() for part in value.split(",") if part.strip()}


def require(condition: object, reason: str) -> None:
    """Stop the probe as not applicable unless ``condition`` holds."""
    if not condition:
        raise NotApplicable(reason)
