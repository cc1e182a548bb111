"""Fixtures for the BillRegistryV2 tests: one v2 deployment a session beside v1, anchored batches.

Accounts by role (`admin`, `issuer`, `other_issuer`, `claimant`, `other_claimant`, `stranger`, `applicant`) are
the parent conftest's (tests/contracts/conftest.py, which also isolates tests on Ganache); everything
v2-specific here is named `*_v2` or `third_*` so nothing shadows a v1 fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from v2kit import ADMIN_DELAY, MAX_LOCK, ORGS, Bill, MerkleTree, OrgKind, credit_code, make_bill, register


@pytest.fixture(scope="session")
def third_issuer(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def third_claimant(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def successor(accounts):
    """The finance department's next admin account, in the two-step handover tests."""
    return accounts[9]


@pytest.fixture(scope="session")
def registry_v2(project, request, admin):
    """One v2 registry a session with two issuers (ids 1, 2) and two claimants (ids 3, 4) admitted."""
    registry = project.BillRegistryV2.deploy(admin, ADMIN_DELAY, MAX_LOCK, sender=admin)
    for n, (fixture, name, kind) in enumerate(ORGS, start=1):
        assert register(registry, admin, request.getfixturevalue(fixture), name, credit_code(n), kind) == n
    return registry


@pytest.fixture(scope="session")
def roles_v2(registry_v2) -> dict[str, bytes]:
    return {
        "admin": registry_v2.DEFAULT_ADMIN_ROLE(),
        "issuer": registry_v2.ISSUER_ROLE(),
        "claimant": registry_v2.CLAIMANT_ROLE(),
    }


@pytest.fixture
def anchor_v2(registry_v2) -> Callable[[Sequence[Bill], Any], MerkleTree]:
    """Anchor a tree of bills as `sender`; the tree."""

    def anchor(bills: Sequence[Bill], sender: Any) -> MerkleTree:
        tree = MerkleTree(bills)
        registry_v2.anchor(tree.root, sender=sender)
        return tree

    return anchor


@pytest.fixture
def batch_v2(anchor_v2, issuer) -> MerkleTree:
    """Four bills of 100.00 yuan anchored by `issuer` (id 1) under one root."""
    return anchor_v2([make_bill(f"batch-{i}") for i in range(4)], issuer)


@pytest.fixture
def bill_v2(batch_v2) -> Bill:
    return batch_v2.bills[0]


@pytest.fixture
def third_issuer_id(registry_v2, admin, third_issuer) -> int:
    """Admit `third_issuer` (id 5) for this test."""
    return register(registry_v2, admin, third_issuer, "第三开票单位", credit_code(5), OrgKind.ISSUER)
