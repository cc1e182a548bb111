"""Rate limits hold across processes (Redis) and see through trusted proxies only.

Real processes: gunicorn serving app.wsgi (the production entry) on free loopback ports, sharing the
test's database and one Redis (127.0.0.1:6379, database 11, emptied first; it belongs to this file).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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

REDIS_URL = "redis://127.0.0.1:6379/11"
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
