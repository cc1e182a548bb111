"""Helpers for the chain client tests.

A tiny stand-in for the real merkle module (written in parallel): StandardMerkleTree's leaf encoding and
the sorted-pair parent, enough for single-bill roots (root = leaf) and two-bill roots (proof = sibling).
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak


def leaf(bill_ref: bytes, content_hash: bytes) -> bytes:
    return keccak(keccak(encode(["bytes32", "bytes32"], [bill_ref, content_hash])))


def parent(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def bill(n: int) -> tuple[bytes, bytes]:
    """(bill_ref, content_hash) of test bill n."""
    return keccak(text=f"ref-{n}"), keccak(text=f"content-{n}")


CLAIM_REF = keccak(text="case-2026-001")
