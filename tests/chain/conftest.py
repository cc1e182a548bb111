"""Real Anvil for the chain client tests: one node and one registry per session, a snapshot per test.

The logic lives in dev.devchain so tests/app and the benchmarks start chains the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `pytest tests/chain` puts only this folder on sys.path; the repo root holds `app`. (Redundant once
# pyproject's [tool.pytest.ini_options] sets pythonpath = ["."].)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from eth_account.signers.local import LocalAccount

from app.chain import RegistryClient
from dev import devchain
from dev.devchain import AnvilNode, DevRegistry


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    with devchain.start_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def dev_registry(anvil: AnvilNode) -> DevRegistry:
    return devchain.deploy_dev_registry(anvil.rpc_url)


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test that uses the session registry sees it fresh: evm_snapshot before, evm_revert after."""
    if "dev_registry" not in request.fixturenames:
        yield
        return
    registry: DevRegistry = request.getfixturevalue("dev_registry")
    snap = devchain.snapshot(registry.node_url)
    yield
    devchain.revert(registry.node_url, snap)


@pytest.fixture
def client(dev_registry: DevRegistry) -> RegistryClient:
    return dev_registry.client


@pytest.fixture
def admin(dev_registry: DevRegistry) -> LocalAccount:
    return dev_registry.admin


@pytest.fixture
def issuer(dev_registry: DevRegistry) -> LocalAccount:
    return dev_registry.issuer


@pytest.fixture
def other_issuer(dev_registry: DevRegistry) -> LocalAccount:
    return dev_registry.other_issuer


@pytest.fixture
def claimant(dev_registry: DevRegistry) -> LocalAccount:
    return dev_registry.claimant


@pytest.fixture
def stranger(dev_registry: DevRegistry) -> LocalAccount:
    return dev_registry.stranger


@pytest.fixture
def unmined_registry() -> Iterator[DevRegistry]:
    """A registry on its own node with automine off: transactions wait in the pool until evm_mine."""
    with devchain.start_anvil() as node:
        registry = devchain.deploy_dev_registry(node.rpc_url)
        devchain.rpc(node.rpc_url, "evm_setAutomine", [False])
        yield registry
