"""Pinned vectors: the app's Python recomputes hashes, leaves, roots and proofs that ethers and OpenZeppelin made once.

tests/bills/vectors/pinned-v1.json was written once by js/make_vectors.mjs (ethers' TypedDataEncoder,
@openzeppelin/merkle-tree) and committed. These tests run no node: they hold the Python encoding to
those bytes, so a change that would orphan anchored bills fails here even if the JS cross-checks
change with it. A failure means "this breaks bills already on chain", not "regenerate the file".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from app.bills import merkle
from app.bills.hashing import BILL_TYPES, DOMAIN_NAME, DOMAIN_VERSION, Domain, bill_message, content_hash
from app.bills.hexstr import from_hex, to_hex
from app.bills.model import Bill

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "pinned-v1.json").read_text(encoding="utf-8"))
CASES = VECTORS["bills"]
LABELS = [case["label"] for case in CASES]
DOMAIN = Domain(VECTORS["domain"]["chainId"], VECTORS["domain"]["verifyingContract"])
V1, V2 = VECTORS["v1"], VECTORS["v2"]


def unhex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def hexed(value: Any) -> Any:
    """Bytes as 0x hex, recursively: how the vector file writes them."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: hexed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hexed(v) for v in value]
    return value


@pytest.fixture(scope="module")
def bills() -> list[Bill]:
    """The pinned documents as the app reads them (this also checks every check code)."""
    return [Bill.from_dict(case["document"]) for case in CASES]


@pytest.fixture(scope="module")
def v1_tree(bills: list[Bill]) -> merkle.MerkleTree:
    return merkle.build([(b.bill_ref, content_hash(b, DOMAIN)) for b in bills])


def v2_leaf(bill: Bill) -> bytes:
    """The coming leaf, keccak256(keccak256(abi.encode(billRef, contentHash, totalFen))); no app function yet."""
    return keccak(
        keccak(encode(["bytes32", "bytes32", "uint256"], [bill.bill_ref, content_hash(bill, DOMAIN), bill.total_fen]))
    )


# ---------------------------------------------------------------- the encoding itself


def test_eip712_types_are_the_pinned_types() -> None:
    assert VECTORS["primaryType"] == "Bill"
    assert VECTORS["types"] == BILL_TYPES


def test_domain_name_and_version_are_pinned() -> None:
    assert (VECTORS["domain"]["name"], VECTORS["domain"]["version"]) == (DOMAIN_NAME, DOMAIN_VERSION)
    assert DOMAIN.to_eip712() == VECTORS["domain"]


def test_vectors_cover_the_cases_the_issue_names() -> None:
    """Chinese text, an emoji, a 0.5 quantity, 120 items, a payer without id number."""
    docs = [case["document"] for case in CASES]
    texts = json.dumps(docs, ensure_ascii=False)
    assert "张三" in texts and "🧾" in texts
    assert any(item["quantity"] == "0.5" for doc in docs for item in doc["items"])
    assert any(len(doc["items"]) == 120 for doc in docs)
    assert any(doc["payer"]["id_number"] is None for doc in docs)


# ---------------------------------------------------------------- each bill


@pytest.mark.parametrize("index", range(len(CASES)), ids=LABELS)
def test_pinned_document_is_canonical(index: int, bills: list[Bill]) -> None:
    assert bills[index].to_dict() == CASES[index]["document"]


@pytest.mark.parametrize("index", range(len(CASES)), ids=LABELS)
def test_bill_ref_is_pinned(index: int, bills: list[Bill]) -> None:
    assert "0x" + bills[index].bill_ref.hex() == CASES[index]["billRef"]


@pytest.mark.parametrize("index", range(len(CASES)), ids=LABELS)
def test_eip712_message_is_pinned(index: int, bills: list[Bill]) -> None:
    assert hexed(bill_message(bills[index])) == CASES[index]["message"]


@pytest.mark.parametrize("index", range(len(CASES)), ids=LABELS)
def test_content_hash_is_pinned(index: int, bills: list[Bill]) -> None:
    assert "0x" + content_hash(bills[index], DOMAIN).hex() == CASES[index]["contentHash"]


# ---------------------------------------------------------------- v1: leaf (billRef, contentHash), anchored today


def test_v1_values_are_the_bills_in_order(bills: list[Bill]) -> None:
    assert V1["leafEncoding"] == ["bytes32", "bytes32"]
    assert V1["values"] == [[case["billRef"], case["contentHash"]] for case in CASES]


def test_v1_leaves_are_pinned(bills: list[Bill], v1_tree: merkle.MerkleTree) -> None:
    leaves = [merkle.leaf_hash(b.bill_ref, content_hash(b, DOMAIN)) for b in bills]

    assert hexed(leaves) == V1["leaves"]
    assert hexed([v1_tree.leaf(i) for i in range(len(bills))]) == V1["leaves"]


def test_v1_root_and_node_layout_are_pinned(v1_tree: merkle.MerkleTree) -> None:
    assert "0x" + v1_tree.root.hex() == V1["root"]
    assert hexed(list(v1_tree.nodes)) == V1["tree"]


def test_v1_proofs_are_pinned(bills: list[Bill], v1_tree: merkle.MerkleTree) -> None:
    assert [hexed(v1_tree.proof(i)) for i in range(len(bills))] == V1["proofs"]


def test_v1_pinned_proofs_verify_offline(bills: list[Bill]) -> None:
    root = unhex(V1["root"])
    for bill, proof in zip(bills, V1["proofs"], strict=True):
        assert merkle.verify_proof(root, [unhex(p) for p in proof], bill.bill_ref, content_hash(bill, DOMAIN))


# ---------------------------------------------------------------- v2: leaf (billRef, contentHash, totalFen), coming


def test_v2_values_are_the_bills_with_their_totals(bills: list[Bill]) -> None:
    assert V2["leafEncoding"] == ["bytes32", "bytes32", "uint256"]
    assert V2["values"] == [
        [c["billRef"], c["contentHash"], str(b.total_fen)] for c, b in zip(CASES, bills, strict=True)
    ]


def test_v2_leaves_are_pinned(bills: list[Bill]) -> None:
    assert hexed([v2_leaf(b) for b in bills]) == V2["leaves"]


def test_v2_pinned_tree_is_the_standard_layout_of_those_leaves() -> None:
    """Sorted leaves at the end (last first), each inner node the sorted-pair hash of its children."""
    nodes = [unhex(n) for n in V2["tree"]]
    count = len(V2["leaves"])

    assert len(nodes) == 2 * count - 1
    assert nodes[count - 1 :] == sorted((unhex(leaf) for leaf in V2["leaves"]), reverse=True)
    assert all(nodes[i] == merkle.node_hash(nodes[2 * i + 1], nodes[2 * i + 2]) for i in range(count - 1))
    assert nodes[0] == unhex(V2["root"])


def test_v2_pinned_proofs_lead_from_each_leaf_to_the_root(bills: list[Bill]) -> None:
    root = unhex(V2["root"])
    for bill, proof in zip(bills, V2["proofs"], strict=True):
        assert merkle.process_proof(v2_leaf(bill), [unhex(p) for p in proof]) == root


def test_v2_tree_of_app_bills_merkle_matches_the_pinned_tree() -> None:
    """The app's own builder over (ref, hash, total) triples gives the pinned v2 root, nodes and proofs."""
    values = [(from_hex(ref), from_hex(content), int(total)) for ref, content, total in V2["values"]]
    tree = merkle.build(values)
    assert to_hex(tree.root) == V2["root"]
    assert [to_hex(n) for n in tree.nodes] == V2["tree"]
    for i, value in enumerate(values):
        assert [to_hex(p) for p in tree.proof(i)] == V2["proofs"][i]
        assert merkle.verify_proof(tree.root, tree.proof(i), *value)
        assert not merkle.verify_proof(tree.root, tree.proof(i), value[0], value[1], value[2] + 1)
