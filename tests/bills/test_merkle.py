"""Merkle batches, cross-checked byte for byte against @openzeppelin/merkle-tree in node."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from app.bills.merkle import MerkleTree, build, leaf_hash, process_proof, verify_proof

Pair = tuple[bytes, bytes]


def pairs(count: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    return [(rng.randbytes(32), rng.randbytes(32)) for _ in range(count)]


def hex_values(values: list[Pair]) -> list[list[str]]:
    return [["0x" + a.hex(), "0x" + b.hex()] for a, b in values]


def assert_same_as_openzeppelin(
    tree: MerkleTree, values: list[Pair], indices: list[int], run_node: Callable[[str, Any], Any]
) -> None:
    answer = run_node("merkle.mjs", {"values": hex_values(values), "proofs": indices})
    assert answer["verified"] is True
    assert answer["root"] == "0x" + tree.root.hex()
    for k, i in enumerate(indices):
        assert answer["leaves"][k] == "0x" + tree.leaf(i).hex()
        assert answer["proofs"][k] == ["0x" + p.hex() for p in tree.proof(i)], i


@pytest.mark.parametrize("count", [1, 2, 3, 7, 1000])
def test_tree_matches_openzeppelin_for_every_proof(count: int, run_node: Callable[[str, Any], Any]) -> None:
    values = pairs(count, seed=count)
    tree = build(values)
    assert_same_as_openzeppelin(tree, values, list(range(count)), run_node)


def test_ten_thousand_leaves_match_openzeppelin_and_build_fast(run_node: Callable[[str, Any], Any]) -> None:
    values = pairs(10_000, seed=10_000)
    tree = build(values)  # its speed is measured by `make bench` (domain: Merkle build, 10,000 bills)
    sampled = [*sorted(random.Random(1).sample(range(10_000), 300)), 0, 9_999]
    assert_same_as_openzeppelin(tree, values, sampled, run_node)


def test_duplicate_values_behave_like_openzeppelin(run_node: Callable[[str, Any], Any]) -> None:
    values = pairs(4, seed=4)
    values.append(values[1])
    tree = build(values)
    assert_same_as_openzeppelin(tree, values, list(range(5)), run_node)


def test_single_bill_root_is_its_leaf_and_proof_is_empty() -> None:
    ref, digest = pairs(1, seed=9)[0]
    tree = build([(ref, digest)])
    assert tree.root == leaf_hash(ref, digest)
    assert tree.proof(0) == []
    assert verify_proof(tree.root, [], ref, digest)


def test_leaf_is_double_keccak_of_abi_encoding() -> None:
    ref, digest = pairs(1, seed=3)[0]
    assert leaf_hash(ref, digest) == keccak(keccak(encode(["bytes32", "bytes32"], [ref, digest])))


def test_proof_by_pair_equals_proof_by_index() -> None:
    values = pairs(33, seed=33)
    tree = build(values)
    assert tree.proof(values[17]) == tree.proof(17)
    assert tree.index_of(values[17]) == 17


def test_every_proof_verifies_and_processes_to_the_root() -> None:
    values = pairs(100, seed=100)
    tree = build(values)
    for i, (ref, digest) in enumerate(values):
        assert verify_proof(tree.root, tree.proof(i), ref, digest)
        assert process_proof(tree.leaf(i), tree.proof(i)) == tree.root


def test_proof_fails_for_a_changed_hash_or_ref_or_root() -> None:
    values = pairs(8, seed=8)
    tree = build(values)
    ref, digest = values[3]
    proof = tree.proof(3)
    assert not verify_proof(tree.root, proof, ref, bytes(32))
    assert not verify_proof(tree.root, proof, bytes(32), digest)
    assert not verify_proof(bytes(32), proof, ref, digest)
    assert not verify_proof(tree.root, proof[:-1], ref, digest)
    assert not verify_proof(tree.root, [*proof[:-1], b"\x00" * 31], ref, digest)


def test_unknown_pair_and_bad_index_are_refused() -> None:
    tree = build(pairs(3, seed=3))
    with pytest.raises(KeyError):
        tree.proof((bytes(32), bytes(32)))
    with pytest.raises(IndexError):
        tree.proof(3)


@pytest.mark.parametrize("bad", [[], [(b"\x00" * 31, b"\x00" * 32)], [(b"\x00" * 32, "00" * 32)]])
def test_build_refuses_bad_input(bad: Any) -> None:
    with pytest.raises(ValueError):
        build(bad)
