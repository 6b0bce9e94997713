"""HTTP clients that talk to FastAPI apps in-process, through the ASGI transport.

No server, no sockets: each request is handed straight to the app, which is why every
chapter runs in seconds and offline. The base URL is https so that cookies marked
``Secure`` (and ``__Host-``/``__Secure-`` prefixed ones) round-trip as they would in a
real browser.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx2
from starlette.types import ASGIApp

DEFAULT_BASE_URL = "https://clouddocs.test"


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run an ASGI app's startup and shutdown around a block (the ASGI transport does not)."""
    # FastAPI/Starlette apps expose their lifespan through the router; any other ASGI app
    # simply has none and we skip it.
    router = getattr(app, "router", None)
    context = getattr(router, "lifespan_context", None)
    if context is None:
        yield
        return
    async with context(app):
        yield


@contextlib.asynccontextmanager
async def asgi_client(
    app: ASGIApp,
    base_url: str = DEFAULT_BASE_URL,
    *,
    client_ip: str = "203.0.113.10",
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[httpx2.AsyncClient]:
    """An ``httpx2.AsyncClient`` wired to ``app`` in-process, with the app's lifespan running.

    ``client_ip`` is what the app sees as ``request.client.host`` (the default is from the
    TEST-NET-3 documentation range), so per-IP rate limits can be demonstrated by opening
    a second client with another address.

    >>> async with asgi_client(app) as client:           # doctest: +SKIP
    ...     response = await client.get("/health")
    """
    transport = httpx2.ASGITransport(
        app=app, client=(client_ip, 50000), raise_app_exceptions=raise_app_exceptions
    )
    async with lifespan(app):
        async with httpx2.AsyncClient(
            transport=transport,
            base_url=base_url,
            headers=dict(headers or {}),
            follow_redirects=follow_redirects,
        ) as client:
            yield client


@contextlib.asynccontextmanager
async def browser(
    apps: Mapping[str, ASGIApp],
    *,
    client_ip: str = "203.0.113.10",
    follow_redirects: bool = False,
) -> AsyncIterator[httpx2.AsyncClient]:
    """One client, one cookie jar, several in-process sites, like a browser with many tabs.

    ``apps`` maps an origin to its app, e.g.
    ``{"https://clouddocs.test": rp_app, "https://idp.test": idp.app}``. Requests are
    routed by their absolute URL, so redirects between the relying party and the
    identity provider work as they would on the web, and each site only sees its own
    cookies.
    """
    mounts: dict[str, httpx2.AsyncBaseTransport | None] = {
        _mount_key(origin): httpx2.ASGITransport(app=app, client=(client_ip, 50000))
        for origin, app in apps.items()
    }
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(lifespan(app))
        client = await stack.enter_async_context(
            httpx2.AsyncClient(mounts=mounts, follow_redirects=follow_redirects)
        )
        yield client


def _mount_key(origin: str) -> str:
    """httpx2 mount patterns are ``scheme://host``; accept a trailing slash and keep ports."""
    url = httpx2.URL(origin)
    if url.path not in ("", "/"):
        raise ValueError(f"browser() takes origins, not URLs with a path: {origin!r}")
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"
