"""anchor(root): issuers anchor Merkle roots; the first anchoring of a root is final."""

import pytest
from registry_testkit import ZERO32, ZERO_ADDRESS, MerkleTree, assert_events, make_bill, reverts, timestamp_of


@pytest.mark.nodes
def test_anchor_records_issuer_and_time(registry, issuer):
    root = MerkleTree([make_bill("a"), make_bill("b")]).root

    receipt = registry.anchor(root, sender=issuer)

    anchored = registry.anchorOf(root)
    assert anchored.issuer == issuer.address
    assert anchored.anchoredAt == timestamp_of(receipt)


def test_anchor_emits_bills_anchored(registry, issuer):
    root = MerkleTree([make_bill("a"), make_bill("b")]).root

    receipt = registry.anchor(root, sender=issuer)

    assert_events(receipt, registry.BillsAnchored(root=root, issuer=issuer))


def test_anchor_accepts_a_single_bill_root_equal_to_its_leaf(registry, issuer):
    bill = make_bill("single")
    tree = MerkleTree([bill])
    assert tree.root == bill.leaf
    assert tree.proof(bill) == []

    registry.anchor(tree.root, sender=issuer)

    assert registry.anchorOf(bill.leaf).issuer == issuer.address


def test_anchor_reverts_when_root_is_zero(registry, issuer):
    with reverts(registry.BillRootZero):
        registry.anchor(ZERO32, sender=issuer)


@pytest.mark.nodes
def test_anchor_reverts_when_root_already_anchored_by_same_issuer(registry, batch, issuer):
    with reverts(registry.BillRootAlreadyAnchored, root=batch.root, issuer=issuer, anchoredAt=batch.anchored_at):
        registry.anchor(batch.root, sender=issuer)


def test_anchor_reverts_when_root_already_anchored_by_other_issuer(registry, batch, issuer, other_issuer):
    with reverts(registry.BillRootAlreadyAnchored, root=batch.root, issuer=issuer, anchoredAt=batch.anchored_at):
        registry.anchor(batch.root, sender=other_issuer)


def test_anchor_keeps_first_record_after_failed_reanchor(registry, batch, issuer, other_issuer):
    with reverts(registry.BillRootAlreadyAnchored, root=batch.root, issuer=issuer, anchoredAt=batch.anchored_at):
        registry.anchor(batch.root, sender=other_issuer)

    assert registry.anchorOf(batch.root) == (issuer.address, batch.anchored_at)


def test_anchor_allows_same_bill_in_two_roots_of_one_issuer(registry, issuer, anchor_bills):
    shared = make_bill("shared")
    first = anchor_bills([shared, make_bill("x")], issuer)

    second = anchor_bills([shared, make_bill("y")], issuer)

    assert first.root != second.root
    assert registry.anchorOf(second.root).issuer == issuer.address


def test_anchor_of_unknown_root_is_zero(registry):
    assert registry.anchorOf(make_bill("never").leaf) == (ZERO_ADDRESS, 0)
