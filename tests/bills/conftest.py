"""Shared fixtures for the pure bill core: valid bill data, a domain, issuer keys, node cross-checks."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from billkit import (  # noqa: F401
    ISSUER_CREDIT_CODE,
    JS_DIR,
    PAYER_ID_NUMBER,
    PAYER_ORG_CREDIT_CODE,
    REGISTRY,
    REPO,
    SALT,
    bill_data,
    make_bill,
    many_items_bill,
)
from eth_account import Account
from eth_account.signers.local import LocalAccount

from app.bills.hashing import Domain
from app.bills.model import Bill


@pytest.fixture
def bill() -> Bill:
    return make_bill()


@pytest.fixture(scope="session")
def domain() -> Domain:
    return Domain(chain_id=31337, verifying_contract=REGISTRY)


@pytest.fixture(scope="session")
def issuer_account() -> LocalAccount:
    return Account.from_key("0x" + "11" * 32)


@pytest.fixture(scope="session")
def stranger_account() -> LocalAccount:
    return Account.from_key("0x" + "22" * 32)


@pytest.fixture(scope="session")
def run_node() -> Callable[[str, Any], Any]:
    """Run tests/bills/js/<script> with JSON on stdin and parse its JSON answer."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required for the cross-checks (it ships with the project's toolchain)")
    if not (REPO / "node_modules" / "ethers").is_dir():
        pytest.fail("run `npm ci` first: the cross-checks use ethers and @openzeppelin/merkle-tree")

    def run(script: str, payload: Any) -> Any:
        result = subprocess.run(
            [node, str(JS_DIR / script)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run
