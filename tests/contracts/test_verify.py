"""verify() and the other views: what a verifier scanning a QR code learns. Views never revert."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak
from registry_testkit import (
    CLAIMED,
    ISSUED,
    UNKNOWN,
    VOIDED,
    ZERO32,
    ZERO_ADDRESS,
    MerkleTree,
    leaf,
    make_bill,
    process_proof,
    timestamp_of,
)

EMPTY_RECORD = (UNKNOWN, ZERO_ADDRESS, 0, 0, ZERO_ADDRESS, 0)
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.nodes
def test_verify_reports_issued_bill(registry, batch, bill, issuer):
    assert registry.verify(*batch.args(bill)) == (
        ISSUED,
        issuer.address,
        batch.anchored_at,
        0,
        ZERO_ADDRESS,
        0,
    )


def test_verify_reports_claimed_bill(registry, batch, bill, issuer, claimant):
    receipt = registry.claim(*batch.args(bill), ZERO32, sender=claimant)

    assert registry.verify(*batch.args(bill)) == (
        CLAIMED,
        issuer.address,
        batch.anchored_at,
        0,
        claimant.address,
        timestamp_of(receipt),
    )


def test_verify_reports_voided_bill(registry, batch, bill, issuer):
    receipt = registry.voidBill(*batch.args(bill), 1, ZERO32, sender=issuer)

    assert registry.verify(*batch.args(bill)) == (
        VOIDED,
        issuer.address,
        batch.anchored_at,
        0,
        issuer.address,
        timestamp_of(receipt),
    )


@pytest.mark.nodes
def test_verify_reports_issuer_revocation_and_keeps_old_bills_valid(registry, batch, bill, admin, issuer):
    revoked = registry.revokeOrganisation(issuer, sender=admin)

    record = registry.verify(*batch.args(bill))

    assert record.status == ISSUED
    assert record.issuer == issuer.address
    assert record.issuerRevokedAt == timestamp_of(revoked)
    assert record.anchoredAt == batch.anchored_at <= record.issuerRevokedAt


def test_verify_reports_claim_of_bill_anchored_under_another_root(registry, anchor_bills, issuer, claimant):
    bill = make_bill("anchored-twice")
    first, second = anchor_bills([bill], issuer), anchor_bills([bill, make_bill("z")], issuer)
    receipt = registry.claim(*first.args(bill), ZERO32, sender=claimant)

    record = registry.verify(*second.args(bill))

    assert (record.status, record.settledBy, record.settledAt) == (
        CLAIMED,
        claimant.address,
        timestamp_of(receipt),
    )
    assert record.anchoredAt == second.anchored_at


def test_verify_keeps_issuers_apart_for_same_bill_ref(registry, anchor_bills, issuer, other_issuer, claimant):
    bill = make_bill("same-number")
    ours, theirs = anchor_bills([bill], issuer), anchor_bills([bill, make_bill("o")], other_issuer)
    registry.claim(*ours.args(bill), ZERO32, sender=claimant)

    record = registry.verify(*theirs.args(bill))

    assert (record.status, record.issuer, record.settledBy) == (ISSUED, other_issuer.address, ZERO_ADDRESS)


@pytest.mark.nodes
def test_verify_returns_empty_record_for_unknown_root(registry):
    bill = make_bill("never-anchored")

    assert registry.verify(bill.leaf, [], bill.ref, bill.content_hash) == EMPTY_RECORD


def test_verify_returns_empty_record_for_wrong_proof(registry, batch, bill):
    assert registry.verify(batch.root, batch.tree.proof(batch.bills[1]), bill.ref, bill.content_hash) == EMPTY_RECORD


def test_verify_returns_empty_record_for_altered_content(registry, batch, bill):
    forged = keccak(text="forged content")

    assert registry.verify(batch.root, batch.tree.proof(bill), bill.ref, forged) == EMPTY_RECORD


def test_verify_returns_empty_record_for_overlong_proof(registry, batch, bill):
    proof = batch.tree.proof(bill) + [ZERO32] * 64

    assert registry.verify(batch.root, proof, bill.ref, bill.content_hash) == EMPTY_RECORD


def test_verify_rejects_inner_node_passed_off_as_a_leaf(registry, batch):
    # Double-hashed leaves: an inner node's children, read as (billRef, contentHash), are not a leaf.
    left, right = batch.tree.nodes[1], batch.tree.nodes[2]

    assert registry.verify(batch.root, [], left, right) == EMPTY_RECORD
    assert registry.verify(batch.root, [right], left, right) == EMPTY_RECORD


def test_settlement_of_unsettled_bill_is_empty(registry, bill, issuer):
    assert registry.settlementOf(issuer, bill.ref) == (ZERO_ADDRESS, 0, UNKNOWN)


def test_leaf_of_matches_standard_merkle_tree_encoding(registry):
    bill = make_bill("leaf")

    assert registry.leafOf(bill.ref, bill.content_hash) == leaf(bill.ref, bill.content_hash)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_test_kit_proofs_reach_root(size):
    tree = MerkleTree([make_bill(f"n{i}") for i in range(size)])

    assert all(process_proof(tree.proof(b), b.leaf) == tree.root for b in tree.bills)


@pytest.mark.skipif(not shutil.which("node"), reason="needs node for @openzeppelin/merkle-tree")
def test_test_kit_matches_openzeppelin_merkle_tree_js():
    # Cross-check the Python test kit against OpenZeppelin's own JS implementation (node_modules).
    bills = [make_bill(f"js{i}") for i in range(7)]
    values = [["0x" + b.ref.hex(), "0x" + b.content_hash.hex()] for b in bills]
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const t = StandardMerkleTree.of(JSON.parse(process.argv[1]), ['bytes32','bytes32']);"
        "console.log(JSON.stringify({root: t.root, proof: t.getProof(0)}));"
    )
    out = subprocess.run(
        ["node", "-e", script, json.dumps(values)], cwd=REPO, check=True, capture_output=True, text=True
    )
    js = json.loads(out.stdout)

    tree = MerkleTree(bills)
    assert js["root"] == "0x" + tree.root.hex()
    assert js["proof"] == ["0x" + p.hex() for p in tree.proof(bills[0])]


def test_supports_registry_access_control_and_erc165_interfaces(registry, project):
    selectors = [
        int.from_bytes(keccak(text=abi.selector)[:4], "big")
        for abi in project.IBillRegistry.contract_type.abi
        if abi.type == "function"
    ]
    registry_id = 0
    for selector in selectors:
        registry_id ^= selector

    assert registry.supportsInterface(registry_id.to_bytes(4, "big"))
    assert registry.supportsInterface(bytes.fromhex("7965db0b"))  # IAccessControl
    assert registry.supportsInterface(bytes.fromhex("01ffc9a7"))  # IERC165
    assert not registry.supportsInterface(bytes.fromhex("ffffffff"))
