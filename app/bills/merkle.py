"""Merkle batches of bills, byte-for-byte as OpenZeppelin's StandardMerkleTree builds them.

A value is (billRef, contentHash) for registry v1, or (billRef, contentHash, totalFen) for registry v2,
whose leaves commit to the bill's total so the contract can cap what is reimbursed. Same as
``StandardMerkleTree.of(values, ["bytes32", "bytes32"])`` (v1) or ``[..., "uint256"]`` (v2) with its
default ``sortLeaves: true``: leaf = keccak256(keccak256(abi.encode(*value))) (double hashing: a leaf can
never pass for an inner node); leaves are sorted by hash (stable, so duplicates keep input order) and laid out as
a complete binary tree in one array, last leaf first; a node is keccak256 of its two children sorted.
That is what the registry's ``MerkleProof.verify`` expects, and it lets the JS library read our trees.

Speed: one flat list of bytes and a direct keccak function (pysha3 when present, else eth-hash's
backend), no objects per node: 10,000 bills build in a few tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Pair = tuple[bytes, bytes]
Triple = tuple[bytes, bytes, int]
Value = Pair | Triple
MAX_TOTAL_FEN = 2**64 - 1  # registry v2 stores reimbursed sums as uint64


def _pick_keccak() -> Callable[[bytes], bytes]:
    try:
        import sha3  # safe-pysha3: ~5x faster than pycryptodome here

        keccak_256 = sha3.keccak_256

        def fast(data: bytes) -> bytes:
            return bytes(keccak_256(data).digest())

        if fast(b"") == bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"):
            return fast
    except ImportError:
        pass
    from eth_hash.auto import keccak

    return keccak


keccak256: Callable[[bytes], bytes] = _pick_keccak()


def _check32(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes")


def _encode(value: Value, where: str = "value") -> bytes:
    """abi.encode of a leaf value: two bytes32, and for v2 a uint256 total."""
    _check32(f"{where} bill_ref", value[0])
    _check32(f"{where} content_hash", value[1])
    raw = bytes(value[0]) + bytes(value[1])
    if len(value) == 3:
        total = value[2]
        if not isinstance(total, int) or isinstance(total, bool) or not 0 < total <= MAX_TOTAL_FEN:
            raise ValueError(f"{where} total_fen must be a whole number of fen from 1 to 2**64-1")
        raw += total.to_bytes(32, "big")
    return raw


def leaf_hash(bill_ref: bytes, content_hash: bytes, total_fen: int | None = None) -> bytes:
    """keccak256(keccak256(abi.encode(billRef, contentHash[, totalFen]))), as the registries' leafOf."""
    value: Value = (bill_ref, content_hash) if total_fen is None else (bill_ref, content_hash, total_fen)
    return keccak256(keccak256(_encode(value)))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Commutative pair hash (OpenZeppelin ``Hashes.commutativeKeccak256``)."""
    return keccak256(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to from a leaf."""
    node = leaf
    for sibling in proof:
        node = keccak256(node + sibling if node <= sibling else sibling + node)
    return node


def verify_proof(
    root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes, total_fen: int | None = None
) -> bool:
    """True iff the bill's leaf is under ``root`` by ``proof``: offline, as the contract checks."""
    if len(root) != 32 or any(len(p) != 32 for p in proof):
        return False
    return process_proof(leaf_hash(bill_ref, content_hash, total_fen), proof) == bytes(root)


@dataclass(frozen=True)
class MerkleTree:
    """A built batch. ``values`` keep input order; ``proof(i)`` proves ``values[i]``."""

    values: tuple[Value, ...]
    nodes: tuple[bytes, ...] = field(repr=False)
    """The OpenZeppelin array layout: nodes[0] is the root, leaves at the end (last sorted leaf first)."""
    tree_index: tuple[int, ...] = field(repr=False)
    _lookup: dict[Value, int] = field(repr=False, compare=False)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.values)

    def index_of(self, value: Value) -> int:
        """Index of a value in ``values`` (the last if it occurs twice, as in OZ)."""
        try:
            return self._lookup[_normal(value)]
        except KeyError:
            raise KeyError("this bill is not in this tree") from None

    def leaf(self, index: int) -> bytes:
        return self.nodes[self.tree_index[index]]

    def proof(self, which: int | Value) -> list[bytes]:
        """Sibling hashes from the leaf up, as ``StandardMerkleTree.getProof`` returns them."""
        index = which if isinstance(which, int) else self.index_of(which)
        if not 0 <= index < len(self.values):
            raise IndexError(f"no value at index {index}")
        nodes = self.nodes
        i = self.tree_index[index]
        proof: list[bytes] = []
        while i > 0:
            proof.append(nodes[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return proof


def _normal(value: Value) -> Value:
    if len(value) == 3:
        return (bytes(value[0]), bytes(value[1]), value[2])
    return (bytes(value[0]), bytes(value[1]))


def build(pairs: Sequence[Value]) -> MerkleTree:
    """A tree over bills — all (bill_ref, content_hash) pairs (v1) or all (ref, hash, total_fen) triples
    (v2); for one bill the root is its leaf and the proof empty."""
    if not pairs:
        raise ValueError("a Merkle batch needs at least one bill")
    if len({len(v) for v in pairs}) != 1:
        raise ValueError("a Merkle batch holds v1 pairs or v2 triples, not both")
    k = keccak256
    leaves = [k(k(_encode(v, f"pairs[{i}]"))) for i, v in enumerate(pairs)]
    values = [_normal(v) for v in pairs]
    order = sorted(range(len(leaves)), key=leaves.__getitem__)  # stable: equal leaves keep input order
    n = len(leaves)
    size = 2 * n - 1
    nodes: list[bytes] = [b""] * size
    tree_index = [0] * n
    for sorted_pos, value_index in enumerate(order):
        tree_index[value_index] = size - 1 - sorted_pos
        nodes[size - 1 - sorted_pos] = leaves[value_index]
    for i in range(n - 2, -1, -1):
        a, b = nodes[2 * i + 1], nodes[2 * i + 2]
        nodes[i] = k(a + b if a <= b else b + a)
    lookup: dict[Value, int] = {}
    for i, value in enumerate(values):
        lookup[value] = i
    return MerkleTree(values=tuple(values), nodes=tuple(nodes), tree_index=tuple(tree_index), _lookup=lookup)
