"""Test kit for BillRegistry: a tiny StandardMerkleTree, deterministic bills, strict revert and event checks.

The Merkle helper is written here on purpose, independently of app/bills/merkle.py, so the contract is
checked against a second implementation of OpenZeppelin's StandardMerkleTree layout. It lives in its own
module rather than in conftest.py because pytest advises against importing conftest from test modules.
"""

from __future__ import annotations

from ast import literal_eval
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ape
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

# IBillRegistry.OrgKind and IBillRegistry.BillStatus, as their ABI integers.
KIND_NONE, KIND_ISSUER, KIND_CLAIMANT = 0, 1, 2
UNKNOWN, ISSUED, CLAIMED, VOIDED = 0, 1, 2, 3
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20

# A syntactically valid 18-character unified social credit code for test organisations.
CREDIT_CODE = "91110000MA01ABCD2X"


# ---------------------------------------------------------------- Merkle (StandardMerkleTree layout)


def leaf(bill_ref: bytes, content_hash: bytes) -> bytes:
    """The leaf of (billRef, contentHash): keccak256(keccak256(abi.encode(bytes32, bytes32)))."""
    return keccak(keccak(encode(["bytes32", "bytes32"], [bill_ref, content_hash])))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Inner node: the hash of the sorted pair, as OpenZeppelin's MerkleProof expects."""
    return keccak(min(a, b) + max(a, b))


@dataclass(frozen=True)
class Bill:
    """A bill as the chain sees it: a reference and a content hash, nothing else."""

    ref: bytes
    content_hash: bytes

    @property
    def leaf(self) -> bytes:
        return leaf(self.ref, self.content_hash)


def make_bill(label: str, version: int = 0) -> Bill:
    """A deterministic bill: same label → same billRef; another version → another content hash."""
    return Bill(keccak(text=f"ref:{label}"), keccak(text=f"content:{label}:{version}"))


class MerkleTree:
    """OpenZeppelin StandardMerkleTree over bills: sorted leaves in a flat complete binary tree."""

    def __init__(self, bills: Sequence[Bill]):
        if not bills:
            raise ValueError("a tree needs at least one bill")
        leaves = sorted({b.leaf for b in bills})
        n = len(leaves)
        self.nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, node in enumerate(leaves):
            self.nodes[len(self.nodes) - 1 - i] = node
        for i in range(len(self.nodes) - 1 - n, -1, -1):
            self.nodes[i] = hash_pair(self.nodes[2 * i + 1], self.nodes[2 * i + 2])
        self._index = {node: len(self.nodes) - 1 - i for i, node in enumerate(leaves)}
        self.bills = list(bills)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, bill: Bill) -> list[bytes]:
        """The sibling path from the bill's leaf up to the root."""
        i = self._index[bill.leaf]
        path = []
        while i > 0:
            path.append(self.nodes[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return path


def process_proof(proof: Sequence[bytes], node: bytes) -> bytes:
    """What MerkleProof.processProof computes: used to check the helper itself."""
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


# ---------------------------------------------------------------- strict revert and event checks


def _normalise(value: Any) -> Any:
    """Compare addresses, accounts, bytes and ints by value whatever type Ape decoded them to."""
    if hasattr(value, "address"):
        return to_checksum_address(value.address)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def _redecode(exc: Any, error: Any) -> Any:
    """Work around ape 0.8.51's in-process provider: it turns revert data back into hex only when
    Python's repr of the bytes uses single quotes, so data containing 0x27 (') stays b"..." text and
    is not decoded as a custom error. Decode such data here, against the expected error's contract."""
    message = exc.revert_message or ""
    if not (message.startswith('b"') and message.endswith('"')):
        return None
    data = HexBytes(literal_eval(message))
    return ape.chain.provider.network.ecosystem.decode_custom_error(data, error.contract.address)


@contextmanager
def reverts(error: Any, **inputs: Any) -> Iterator[Any]:
    """`ape.reverts` plus what it skips in 0.8.51: the error must decode as that custom error, and
    every argument must be named and equal (ape ignores unknown names and undecoded errors)."""
    with ape.reverts(error) as info:
        yield info
    exc = info.value
    if not isinstance(exc, ape.exceptions.CustomError):
        exc = info.value = _redecode(exc, error) or exc
    assert isinstance(exc, ape.exceptions.CustomError), f"expected {error.__name__}, got {exc!r}"
    assert exc.name == error.__name__, f"expected {error.__name__}, got {exc.name}"
    actual = {k: _normalise(v) for k, v in exc.inputs.items()}
    expected = {k: _normalise(v) for k, v in inputs.items()}
    assert actual == expected, f"{exc.name}: expected {expected}, got {actual}"


def assert_events(receipt: Any, *expected: Any) -> None:
    """The receipt emitted exactly these events, in order, with every argument as given."""
    actual = [(log.event_name, {k: _normalise(v) for k, v in log.event_arguments.items()}) for log in receipt.events]
    wanted = [(mock.event_name, {k: _normalise(v) for k, v in mock.event_arguments.items()}) for mock in expected]
    assert actual == wanted


def timestamp_of(receipt: Any) -> int:
    """The block time of a transaction: what the contract stores as anchoredAt / at / revokedAt."""
    return ape.chain.blocks[receipt.block_number].timestamp
