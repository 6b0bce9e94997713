"""``--url``: the same probes against a running server (uvicorn on loopback)."""

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from authcourse.audit import Status, audit

from .labapp import Lab


@contextlib.contextmanager
def serving(app: object) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.anyio
async def test_audit_by_url_sends_real_http() -> None:
    lab = Lab(frozenset({"alg_none"}))
    probes = ["jwt.alg_none", "authorization.bola", "authorization.route_inventory", "transport.hsts_only_https"]
    with serving(lab.app) as url:
        by_url = await audit(None, lab.target("jwt"), only=probes, url=url)
        with_app = await audit(lab.app, lab.target("jwt"), only="authorization.route_inventory", url=url)
    assert by_url["jwt.alg_none"].status is Status.FAIL  # caught over the network too
    assert by_url["authorization.bola"].status is Status.PASS
    assert by_url["authorization.route_inventory"].status is Status.NOT_APPLICABLE
    assert by_url["transport.hsts_only_https"].status is Status.NOT_APPLICABLE
    assert with_app["authorization.route_inventory"].status is Status.PASS
