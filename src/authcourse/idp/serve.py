"""Serve a provider over real HTTP on the loopback interface (uvicorn in a background thread)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from authcourse.idp.provider import IdentityProvider

_STARTUP_TIMEOUT = 10.0  # seconds


@contextlib.contextmanager
def serve(idp: IdentityProvider, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``idp.app`` on ``host:port`` for the duration of a ``with`` block; yield its base URL.

    ``port=0`` picks a free port. Only loopback addresses are accepted: this provider is
    test infrastructure and must never be reachable from the network.

    >>> with serve(idp) as base_url:                       # doctest: +SKIP
    ...     httpx2.get(base_url + "/.well-known/openid-configuration").json()
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"serve() only binds loopback addresses, not {host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    bound_port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(idp.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"idp-{bound_port}", daemon=True
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_TIMEOUT)
        listener.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the identity provider's HTTP server did not start")
        time.sleep(0.01)
