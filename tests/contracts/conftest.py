"""Fixtures for the BillRegistry tests: one deployment a session, accounts named by role, anchored batches.

Tests run isolated (Ape snapshots the chain around every test), so the session deployment is shared safely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from ape_node.provider import GethDev
from registry_testkit import (
    CREDIT_CODE,
    KIND_CLAIMANT,
    KIND_ISSUER,
    Bill,
    MerkleTree,
    make_bill,
    timestamp_of,
)

# ---------------------------------------------------------------- Ganache isolation
# Ape 0.8 has no Ganache plugin; `ethereum:local:node` treats any node as geth and isolates tests with
# `debug_setHead`, which Ganache does not implement, so state would leak from test to test. Ganache has
# Anvil's `evm_snapshot` / `evm_revert`, which is what ape-foundry uses: route to those for Ganache only.
_geth_snapshot, _geth_restore = GethDev.snapshot, GethDev.restore


def _is_ganache(provider: GethDev) -> bool:
    return "ganache" in (provider.client_version or "").lower()


def _snapshot(self: GethDev) -> Any:
    return self.make_request("evm_snapshot", []) if _is_ganache(self) else _geth_snapshot(self)


def _restore(self: GethDev, snapshot_id: Any) -> None:
    if not _is_ganache(self):
        _geth_restore(self, snapshot_id)
    elif not self.make_request("evm_revert", [snapshot_id]):
        raise RuntimeError(f"Ganache could not revert to snapshot {snapshot_id}")


GethDev.snapshot = _snapshot  # type: ignore[method-assign]
GethDev.restore = _restore  # type: ignore[method-assign]


# ---------------------------------------------------------------- accounts by role


@pytest.fixture(scope="session")
def admin(accounts):
    """The finance department: DEFAULT_ADMIN_ROLE."""
    return accounts[0]


@pytest.fixture(scope="session")
def issuer(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def other_issuer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def claimant(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def other_claimant(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def stranger(accounts):
    """Holds no role and no organisation record."""
    return accounts[5]


@pytest.fixture(scope="session")
def applicant(accounts):
    """Not yet registered: the account an organisation test admits."""
    return accounts[6]


# ---------------------------------------------------------------- deployment


@pytest.fixture(scope="session")
def registry(project, admin, issuer, other_issuer, claimant, other_claimant):
    """One registry a session, with two issuers and two claimants admitted; tests run isolated."""
    registry = project.BillRegistry.deploy(admin, sender=admin)
    for account, name, kind in [
        (issuer, "北京市第一中学", KIND_ISSUER),
        (other_issuer, "北京协和医院", KIND_ISSUER),
        (claimant, "中国人民保险北京分公司", KIND_CLAIMANT),
        (other_claimant, "北京大学财务处", KIND_CLAIMANT),
    ]:
        registry.registerOrganisation(account, name, CREDIT_CODE, kind, sender=admin)
    return registry


@pytest.fixture(scope="session")
def issuer_role(registry):
    return registry.ISSUER_ROLE()


@pytest.fixture(scope="session")
def claimant_role(registry):
    return registry.CLAIMANT_ROLE()


@pytest.fixture(scope="session")
def admin_role(registry):
    return registry.DEFAULT_ADMIN_ROLE()


@dataclass
class Batch:
    """A root anchored on chain, with the tree that proves its bills."""

    tree: MerkleTree
    receipt: Any

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def bills(self) -> list[Bill]:
        return self.tree.bills

    @property
    def anchored_at(self) -> int:
        return timestamp_of(self.receipt)

    def args(self, bill: Bill) -> tuple[bytes, list[bytes], bytes, bytes]:
        """(root, proof, billRef, contentHash): the first four arguments of claim, voidBill and verify."""
        return self.root, self.tree.proof(bill), bill.ref, bill.content_hash


@pytest.fixture
def anchor_bills(registry):
    """Anchor a batch of bills as `sender` and return the Batch."""

    def anchor(bills: Sequence[Bill], sender: Any) -> Batch:
        tree = MerkleTree(bills)
        receipt = registry.anchor(tree.root, sender=sender)
        return Batch(tree, receipt)

    return anchor


@pytest.fixture
def batch(anchor_bills, issuer):
    """Four bills anchored by `issuer` under one root."""
    return anchor_bills([make_bill(f"batch-{i}") for i in range(4)], issuer)


@pytest.fixture
def bill(batch):
    """One bill of `batch`."""
    return batch.bills[0]
