"""Helpers for the app tests: organisations as the tests see them, waiting, sample bills."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from app.chain import Deployment
from app.extensions import db
from app.outbox.worker import AnchorWorker
from dev.devchain import ANVIL_DEV_KEYS, AnvilNode

_codes = itertools.count(1)


@dataclass
class Org:
    id: int
    name: str
    address: str
    token: str
    username: str
    password: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def credit_code() -> str:
    """A fresh valid unified social credit code per call."""
    from app.bills.identifiers import credit_code_check_char

    first17 = f"9111000010{next(_codes):07d}"
    return first17 + credit_code_check_char(first17)


def wait_until(app: Flask, condition: Callable[[], bool], timeout: float = 20.0, *, work: bool = True) -> None:
    """Poll `condition` in an app context; without a worker thread, run worker rounds here.

    `work=False` only polls, for tests where another process is the worker.
    """
    worker = app.extensions["billchain"].worker
    own = None
    if worker is None and work:  # one worker per app, so the lease stays with it between calls
        own = app.extensions.setdefault("test_worker", AnchorWorker(app, holder="tests"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if own is not None:
            own.run_once()
        with app.app_context():
            db.session.expire_all()
            if condition():
                return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def bill_payload(**overrides: Any) -> dict[str, Any]:
    """A school-fee bill as a school's system would send it (the one the demo and bench issue too)."""
    from dev.bootstrap import sample_bill_payload

    return sample_bill_payload(**overrides)


def next_number() -> int:
    return next(_codes)


def make_config(anvil: AnvilNode, deployment: Deployment, database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        # One process per test: per-process counting keeps tests apart (test_rate_limits uses Redis itself).
        "BILLCHAIN_RATELIMIT_STORAGE_URL": "memory://",
        "BILLCHAIN_DATABASE_URL": database_url,
        "BILLCHAIN_RPC_URL": anvil.rpc_url,
        "BILLCHAIN_REGISTRY": deployment.address,
        "BILLCHAIN_CHAIN_ID": deployment.chain_id,
        "BILLCHAIN_REGISTRY_VERSION": deployment.version,
        "BILLCHAIN_KEYSTORE_DIR": str(tmp_path / "keystore"),
        "BILLCHAIN_KEYSTORE_PASSWORD": "test-password",
        "BILLCHAIN_KEYSTORE_KDF_N": 2**10,  # fast keystores for tests only
        "BILLCHAIN_ADMIN_KEY": ANVIL_DEV_KEYS[0],
        "BILLCHAIN_ANCHOR_INTERVAL": 0.05,
        "BILLCHAIN_CHAIN_TIMEOUT": 2.0,
        "BILLCHAIN_CLAIM_WAIT": 15.0,
        "BILLCHAIN_SECRET_KEY": "test-secret",
    }
