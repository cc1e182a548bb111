"""Helpers for the chain client tests: deterministic bills and their leaves and roots.

Leaves and inner nodes come from app.bills.merkle, the module the app anchors with, so these tests
exercise the chain with exactly the trees the app builds (tests/bills checks that module against
@openzeppelin/merkle-tree).
"""

from __future__ import annotations

from eth_utils import keccak

from app.bills.merkle import leaf_hash as leaf
from app.bills.merkle import node_hash as parent

__all__ = ["CLAIM_REF", "bill", "leaf", "parent"]


def bill(n: int) -> tuple[bytes, bytes]:
    """(bill_ref, content_hash) of test bill n."""
    return keccak(text=f"ref-{n}"), keccak(text=f"content-{n}")


CLAIM_REF = keccak(text="case-2026-001")
