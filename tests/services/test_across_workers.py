"""Two uvicorn workers, one PostgreSQL database, one Redis: what one worker decides holds on
the other. Requests alternate between the two ports (each response names its worker), in
loops of a fixed length: a logout, a revoked API key, a spent refresh token, an account
lockout, a per-IP and a per-key rate limit. And, with the opt-in credential cache, how long
the other worker keeps accepting a revoked key: until its cache entry's TTL runs out.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from service_urls import admin_execute, database_server, redis_server
from sqlalchemy import make_url

from clouddocs.accounts import register_user
from clouddocs.apikeys import issue_api_key
from clouddocs.clock import SystemClock
from clouddocs.db import Database, Tenant

from .roles import Base  # noqa: F401  (imports every chapter, so create_all makes all tables)
from .servers import free_port, stop_process
from .worker_app import HASHER

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = {"Origin": "https://clouddocs.test"}
ADA = {"email": "ada@acme.test", "password": "correct horse battery staple"}
CAROL = {"email": "carol@acme.test", "password": "a third long passphrase"}
DAVE = {"email": "dave@acme.test", "password": "a fourth long passphrase"}
REGISTER_RATE, KEY_RATE = 4, 6  # per minute
#: The cached API-key app's TTL (seconds): long enough that the key is revoked while the
#: other worker's entry is still alive, short enough to wait out.
CACHE_TTL = 5.0


@dataclass
class Workers:
    ports: list[int]
    keys: dict[str, Any]
    seen: list[str] = field(default_factory=list)

    def call(self, turn: int, method: str, path: str, **options: Any) -> httpx2.Response:
        """One request to worker ``turn % 2``, on a fresh connection and without a cookie jar
        (cookies go in by hand: the apps' cookies are Secure, the test speaks plain HTTP)."""
        port = self.ports[turn % 2]
        response = httpx2.request(method, f"http://127.0.0.1:{port}{path}", timeout=30, **options)
        self.seen.append(response.headers["X-Worker"])
        assert response.headers["X-Worker"] == f"worker-{turn % 2}"
        return response


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cookie(response: httpx2.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


async def _seed(url: str) -> dict[str, Any]:
    database = Database(url)
    try:
        await database.create_all()
        async with database.sessions() as db:
            tenant = Tenant(name="Acme")
            db.add(tenant)
            await db.commit()
            for person in (ADA, CAROL, DAVE):
                await register_user(
                    db, tenant_id=tenant.id, display_name="x", hasher=HASHER, **person
                )
            clock = SystemClock()
            keys = {
                name: await issue_api_key(db, tenant_id=tenant.id, name=name, scopes=scopes, clock=clock)
                for name, scopes in [("manager", ["keys:manage", "docs:read"]),
                                     ("victim", ["docs:read"]), ("busy", ["docs:read"]),
                                     ("cached", ["docs:read"])]
            }  # fmt: skip
        return keys
    finally:
        await database.dispose()


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker on port {port} exited:\n{log.read_text()[-3000:]}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"worker on port {port} did not answer within 60 s")


@pytest.fixture(scope="module")
def workers(worker_id: str) -> Iterator[Workers]:
    server, redis_base = database_server(), redis_server()
    if server is None or redis_base is None:
        pytest.skip("needs PostgreSQL and Redis: run `make test-services`")
    name = f"workers_{secrets.token_hex(6)}"
    asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    # A Redis database of its own, apart from the per-test ones conftest empties.
    number = 32 + (0 if worker_id == "master" else int(worker_id.removeprefix("gw")))
    redis_url = f"{redis_base}/{number}"
    processes: list[subprocess.Popen[bytes]] = []
    logs = tempfile.TemporaryDirectory(prefix="clouddocs-workers-")
    try:
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
        keys = asyncio.run(_seed(url))
        shared = {
            "CLOUDDOCS_DATABASE_URL": url,
            "CLOUDDOCS_REDIS_URL": redis_url,
            "CLOUDDOCS_LOCKOUT_KEY": _b64(secrets.token_bytes(32)),
            "CLOUDDOCS_JWT_KEY": _b64(secrets.token_bytes(32)),
            "CLOUDDOCS_REGISTER_RATE": f"{REGISTER_RATE}/minute",
            "CLOUDDOCS_KEY_RATE": f"{KEY_RATE}/minute",
            "CLOUDDOCS_CACHE_TTL": str(CACHE_TTL),
        }
        ports = [free_port(), free_port()]
        for n, port in enumerate(ports):
            log = Path(logs.name) / f"worker-{n}.log"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "tests/services"),
                     "--factory", "worker_app:create_app", "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1", "--log-level", "warning",
                     "--no-access-log"],
                    env={**os.environ, **shared, "CLOUDDOCS_WORKER": f"worker-{n}"},
                    stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
                )
            )  # fmt: skip
        for process, port, n in zip(processes, ports, range(2), strict=True):
            _wait_until_serving(process, port, Path(logs.name) / f"worker-{n}.log")
        yield Workers(ports, keys)
    finally:
        for process in processes:
            stop_process(process)
        logs.cleanup()
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_logout_on_one_worker_ends_the_session_on_both(workers: Workers) -> None:
    login = workers.call(0, "POST", "/ch2/login", json=ADA, headers=ORIGIN)
    assert login.status_code == 200, login.text
    session = {"Cookie": _cookie(login, "__Host-session")}
    csrf = {"X-CSRF-Token": login.json()["csrf_token"], **ORIGIN}
    assert [workers.call(t, "GET", "/ch2/me", headers=session).status_code for t in range(4)] == [
        200
    ] * 4
    assert workers.call(1, "POST", "/ch2/logout", headers=session | csrf).status_code == 204
    after = [workers.call(t, "GET", "/ch2/me", headers=session) for t in range(4)]
    assert [r.status_code for r in after] == [401] * 4
    assert all("WWW-Authenticate" in r.headers for r in after)


def test_a_token_logout_on_one_worker_holds_on_both(workers: Workers) -> None:
    login = workers.call(0, "POST", "/ch3/auth/login", json=ADA)
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    refresh = {"Cookie": _cookie(login, "__Secure-refresh")}
    assert [workers.call(t, "GET", "/ch3/me", headers=bearer).status_code for t in range(4)] == [
        200
    ] * 4
    logout = workers.call(1, "DELETE", "/ch3/auth/refresh", headers=bearer | refresh)
    assert logout.status_code == 204
    assert [workers.call(t, "GET", "/ch3/me", headers=bearer).status_code for t in range(4)] == [
        401
    ] * 4
    assert workers.call(0, "POST", "/ch3/auth/refresh", headers=refresh).status_code == 401


def test_a_spent_refresh_token_is_refused_by_the_other_worker(workers: Workers) -> None:
    login = workers.call(0, "POST", "/ch3/auth/login", json=ADA)
    first = {"Cookie": _cookie(login, "__Secure-refresh")}
    rotated = workers.call(1, "POST", "/ch3/auth/refresh", headers=first)
    assert rotated.status_code == 200, rotated.text
    second = {"Cookie": _cookie(rotated, "__Secure-refresh")}
    # The first token is spent: replayed on either worker it is refused, and the replay
    # revokes the whole family, so the legitimate successor dies too.
    assert workers.call(0, "POST", "/ch3/auth/refresh", headers=first).status_code == 401
    assert workers.call(1, "POST", "/ch3/auth/refresh", headers=first).status_code == 401
    assert workers.call(0, "POST", "/ch3/auth/refresh", headers=second).status_code == 401


def test_a_revoked_api_key_is_refused_by_both_workers(workers: Workers) -> None:
    victim, manager = workers.keys["victim"], workers.keys["manager"]
    key = {"Authorization": f"Bearer {victim.plaintext}"}
    assert [
        workers.call(t, "GET", "/ch4/documents", headers=key).status_code for t in range(4)
    ] == [200] * 4
    revoke = workers.call(
        0,
        "DELETE",
        f"/ch4/api-keys/{victim.record.id}",
        headers={"Authorization": f"Bearer {manager.plaintext}"},
    )
    assert revoke.status_code == 204, revoke.text
    after = [workers.call(t, "GET", "/ch4/documents", headers=key) for t in range(4)]
    assert [r.status_code for r in after] == [401] * 4


def test_an_account_locked_on_one_worker_is_locked_on_both(workers: Workers) -> None:
    wrong = {"email": CAROL["email"], "password": "not the password at all"}
    failures = [workers.call(t, "POST", "/ch2/login", json=wrong, headers=ORIGIN) for t in range(5)]
    assert [r.status_code for r in failures] == [401] * 5
    # Five failures spread over two workers lock the account: the right password now gets
    # a 429 from either worker, as it would after five failures on one.
    right = [workers.call(t, "POST", "/ch2/login", json=CAROL, headers=ORIGIN) for t in range(4)]
    assert [r.status_code for r in right] == [429] * 4
    assert all(int(r.headers["Retry-After"]) > 0 for r in right)


def test_parallel_guesses_on_both_workers_get_no_more_than_five_tries(workers: Workers) -> None:
    # Each attempt is counted in the database before the password is checked, in one
    # UPDATE: twelve guesses sent at once, half to each worker, still get five tries.
    wrong = {"email": DAVE["email"], "password": "not the password at all"}
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(
            pool.map(
                lambda t: workers.call(t, "POST", "/ch2/login", json=wrong, headers=ORIGIN),
                range(12),
            )
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * 5 + [429] * 7, statuses


def test_the_per_ip_limit_counts_requests_to_both_workers(workers: Workers) -> None:
    answers = [
        workers.call(
            t, "POST", "/ch2/register", json={"email": f"new{t}@example.com"}, headers=ORIGIN
        )
        for t in range(REGISTER_RATE + 4)
    ]
    statuses = [r.status_code for r in answers]
    # One count across the workers: a per-process limit would have let 2 x 4 through.
    assert statuses == [202] * REGISTER_RATE + [429] * 4, statuses
    assert {r.headers["X-Worker"] for r in answers[REGISTER_RATE:]} == {"worker-0", "worker-1"}


def test_the_per_key_limit_counts_requests_to_both_workers(workers: Workers) -> None:
    key = {"Authorization": f"Bearer {workers.keys['busy'].plaintext}"}
    answers = [workers.call(t, "GET", "/ch4/documents", headers=key) for t in range(KEY_RATE + 4)]
    statuses = [r.status_code for r in answers]
    assert statuses == [200] * KEY_RATE + [429] * 4, statuses
    assert all("Retry-After" in r.headers for r in answers[KEY_RATE:])


def test_with_the_credential_cache_the_other_worker_accepts_a_revoked_key_until_its_ttl(
    workers: Workers,
) -> None:
    cached, manager = workers.keys["cached"], workers.keys["manager"]
    key = {"Authorization": f"Bearer {cached.plaintext}"}
    # Worker 1 caches the key now: its entry lives until at most CACHE_TTL from here.
    cached_at = time.monotonic()
    assert workers.call(1, "GET", "/ch4-cached/documents", headers=key).status_code == 200
    assert workers.call(0, "GET", "/ch4-cached/documents", headers=key).status_code == 200
    revoke = workers.call(
        0,
        "DELETE",
        f"/ch4-cached/api-keys/{cached.record.id}",
        headers={"Authorization": f"Bearer {manager.plaintext}"},
    )
    assert revoke.status_code == 204, revoke.text
    revoked_at = time.monotonic()
    assert revoked_at - cached_at < CACHE_TTL, (
        "too slow to show the window; rerun on a quieter machine"
    )
    # The worker that revoked forgot its entry after the commit: refused at once.
    assert workers.call(0, "GET", "/ch4-cached/documents", headers=key).status_code == 401
    # The other worker keeps serving its entry, then asks the database again and refuses.
    accepted_after_revocation = 0
    while (
        answer := workers.call(1, "GET", "/ch4-cached/documents", headers=key)
    ).status_code == 200:
        accepted_after_revocation += 1
        assert time.monotonic() - cached_at < CACHE_TTL + 2.5, "still accepted past the TTL"
        time.sleep(0.1)
    refused_at = time.monotonic()
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    assert accepted_after_revocation >= 1  # the window exists...
    assert refused_at - cached_at <= CACHE_TTL + 2.5  # ...and the TTL bounds it (+ request time)
    # The uncached app on the same workers refused the revoked key at once, on both.
    assert [
        workers.call(t, "GET", "/ch4/documents", headers=key).status_code for t in range(2)
    ] == [401] * 2
