"""Rate limits hold across processes (Redis) and see through trusted proxies only.

Real processes: gunicorn serving app.wsgi (the production entry) on free loopback ports, sharing the
test's database and one Redis (127.0.0.1:6379, database 11 + the xdist worker's number, emptied first; it
belongs to this file).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
import requests
from appkit import make_config
from flask import Flask

from app.extensions import ROUTE_LIMITS, ratelimit_storage
from dev.devchain import AnvilNode

# A Redis database per xdist worker: two workers' tests must not count into (or flush) one bucket.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = f"redis://127.0.0.1:6379/{11 + _WORKER % 5}"
LIMIT = 4
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(app: Flask, anvil: AnvilNode, deployment, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a gunicorn process of the app on this test's database; returns its base URL."""
    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.RedisError:
        pytest.skip("needs Redis at 127.0.0.1:6379")
    config = make_config(anvil, deployment, app.config["BILLCHAIN_DATABASE_URL"], tmp_path)
    base_env = {k: str(v) for k, v in config.items() if k.startswith("BILLCHAIN_")}
    with ExitStack() as stack:

        def start(**settings: str) -> str:
            port = _free_port()
            env = {
                **os.environ,
                **base_env,
                "BILLCHAIN_INSTANCE_PATH": str(tmp_path / f"instance-{port}"),
                "BILLCHAIN_WORKER": "0",
                "BILLCHAIN_RATELIMIT_STORAGE_URL": REDIS_URL,
                "BILLCHAIN_RATELIMIT_ROUTES": f"{LIMIT} per minute",
                **settings,
            }
            log = stack.enter_context((tmp_path / f"gunicorn-{port}.log").open("wb"))
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "app.wsgi:app"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, (tmp_path / f"gunicorn-{port}.log").read_text()
                try:  # an unlimited page: the worker has loaded the app once it answers
                    requests.get(f"{url}/login", timeout=30)
                    return url
                except requests.ConnectionError:
                    time.sleep(0.1)
            raise AssertionError("gunicorn did not start")

        yield start


def _statuses(url: str, n: int, headers: dict[str, str] | None = None) -> list[int]:
    return [requests.get(url, headers=headers or {}, timeout=10).status_code for _ in range(n)]


def test_two_processes_share_one_bucket(serve):
    first, second = serve(), serve()

    seen = _statuses(f"{first}/api/v1/health", 2) + _statuses(f"{second}/api/v1/health", 2)

    assert 429 not in seen
    assert _statuses(f"{first}/api/v1/health", 1) == [429]
    assert _statuses(f"{second}/api/v1/health", 1) == [429]


def test_behind_one_trusted_proxy_clients_get_their_own_buckets(serve):
    proxied = serve(BILLCHAIN_TRUSTED_PROXIES="1")
    url = f"{proxied}/api/v1/health"

    assert 429 not in _statuses(url, LIMIT, {"X-Forwarded-For": "10.0.0.1"})
    assert _statuses(url, 1, {"X-Forwarded-For": "10.0.0.1"}) == [429]
    assert _statuses(url, 1, {"X-Forwarded-For": "10.0.0.2"}) == [200]


def test_a_spoofed_forwarded_header_without_a_trusted_proxy_changes_nothing(serve):
    direct = serve()
    url = f"{direct}/api/v1/health"

    seen = [_statuses(url, 1, {"X-Forwarded-For": f"10.0.1.{i}"})[0] for i in range(LIMIT + 1)]

    assert seen == [200] * LIMIT + [429]


def test_claims_tx_pages_imports_and_wallet_pages_are_limited():
    """The routes the issue names are in the one table of limits."""
    for endpoint in (
        "api_health.health",
        "chain.transaction",
        "api_bills.claim_bill",
        "claim.claim_bill",
        "imports.upload",
        "wallet.bill_pdf",
    ):
        assert endpoint in ROUTE_LIMITS


def test_limiter_storage_is_redis_when_one_answers_else_memory(monkeypatch):
    assert ratelimit_storage("redis://example:1/0") == "redis://example:1/0"
    assert ratelimit_storage(None) == "redis://127.0.0.1:6379"
    monkeypatch.setattr("app.extensions.LOCAL_REDIS", f"redis://127.0.0.1:{_free_port()}")
    assert ratelimit_storage(None) == "memory://"


class _Monitor:
    """Redis MONITOR in a thread: the commands clients send to this file's database (11) while it runs.

    ECHOs of markers on database 11 open and close the record, so nothing sent in between is missed.
    """

    MARK = "test-rate-limits-monitor"

    def __init__(self) -> None:
        self.commands: list[str] = []
        self._recording = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._client = redis.Redis.from_url(REDIS_URL)

    def _run(self) -> None:
        db = REDIS_URL.rsplit("/", 1)[1]
        with redis.Redis.from_url(REDIS_URL).monitor() as monitor:
            while True:
                seen = monitor.next_command()
                # what clients send (a script's own INCRBY and EXPIRE run inside Redis: client_type "lua")
                if str(seen.get("db")) != db or seen.get("client_type") == "lua":
                    continue
                if f"{self.MARK}-stop" in str(seen["command"]):
                    return
                if f"{self.MARK}-start" in str(seen["command"]):
                    self._recording.set()
                elif self._recording.is_set():
                    self.commands.append(str(seen["command"]).split()[0].upper())

    def __enter__(self) -> _Monitor:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._recording.wait(0.1):  # the monitor is up once it sees the marker
            assert time.monotonic() < deadline, "MONITOR saw nothing"
            self._client.echo(f"{self.MARK}-start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.echo(f"{self.MARK}-stop")
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_a_limited_request_that_passes_is_one_redis_round_trip(serve):
    """Issue 15: one EVALSHA (incr-and-expire) per request, no window read for X-RateLimit headers."""
    url = f"{serve()}/api/v1/health"
    session = requests.Session()
    assert session.get(url, timeout=10).status_code == 200  # the limiter's script is loaded by now

    with _Monitor() as seen:
        answers = [session.get(url, timeout=10) for _ in range(LIMIT - 1)]

    assert [a.status_code for a in answers] == [200] * (LIMIT - 1)
    assert seen.commands == ["EVALSHA"] * (LIMIT - 1)
    assert not any(h.lower().startswith("x-ratelimit") for a in answers for h in a.headers)


def test_a_refusal_says_when_to_come_back(serve):
    url = f"{serve()}/api/v1/health"
    assert 429 not in _statuses(url, LIMIT)

    refused = requests.get(url, timeout=10)

    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == str(LIMIT)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= time.time()
