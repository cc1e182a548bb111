"""claim(...): a claimant marks a bill reimbursed, once per (issuer, billRef), however often anchored."""

import pytest
from eth_utils import keccak
from registry_testkit import (
    CLAIMED,
    ISSUED,
    MerkleTree,
    assert_events,
    make_bill,
    reverts,
    timestamp_of,
)

CLAIM_REF = keccak(text="报销单 2026-0001")


@pytest.mark.nodes
def test_claim_records_settlement(registry, batch, bill, issuer, claimant):
    receipt = registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    assert registry.settlementOf(issuer, bill.ref) == (claimant.address, timestamp_of(receipt), CLAIMED)


@pytest.mark.nodes
def test_claim_emits_bill_claimed(registry, batch, bill, issuer, claimant):
    receipt = registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    assert_events(
        receipt,
        registry.BillClaimed(issuer=issuer, billRef=bill.ref, claimant=claimant, root=batch.root, claimRef=CLAIM_REF),
    )


def test_claim_leaves_other_bills_of_batch_issued(registry, batch, bill, claimant):
    registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    for other in batch.bills[1:]:
        assert registry.verify(*batch.args(other)).status == ISSUED


def test_claim_accepts_single_bill_root_with_empty_proof(registry, anchor_bills, issuer, claimant):
    single = anchor_bills([make_bill("single")], issuer)
    bill = single.bills[0]

    registry.claim(single.root, [], bill.ref, bill.content_hash, CLAIM_REF, sender=claimant)

    assert registry.settlementOf(issuer, bill.ref).status == CLAIMED


@pytest.mark.nodes
def test_claim_reverts_when_already_claimed(registry, batch, bill, claimant):
    first = registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    with reverts(registry.BillAlreadyClaimed, billRef=bill.ref, by=claimant, at=timestamp_of(first)):
        registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)


def test_claim_reverts_when_already_claimed_by_other_claimant(registry, batch, bill, claimant, other_claimant):
    first = registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    with reverts(registry.BillAlreadyClaimed, billRef=bill.ref, by=claimant, at=timestamp_of(first)):
        registry.claim(*batch.args(bill), keccak(text="another case"), sender=other_claimant)


@pytest.mark.nodes
def test_claim_reverts_when_same_bill_claimed_under_another_root_of_its_issuer(
    registry, anchor_bills, issuer, claimant
):
    bill = make_bill("anchored-twice")
    first_root = anchor_bills([bill, make_bill("p")], issuer)
    second_root = anchor_bills([bill, make_bill("q"), make_bill("r")], issuer)
    first = registry.claim(*first_root.args(bill), CLAIM_REF, sender=claimant)

    with reverts(registry.BillAlreadyClaimed, billRef=bill.ref, by=claimant, at=timestamp_of(first)):
        registry.claim(*second_root.args(bill), CLAIM_REF, sender=claimant)


def test_claim_reverts_when_bill_number_reanchored_with_other_content(registry, anchor_bills, issuer, claimant):
    original, altered = make_bill("edited", version=0), make_bill("edited", version=1)
    assert original.ref == altered.ref and original.content_hash != altered.content_hash
    first_root = anchor_bills([original], issuer)
    second_root = anchor_bills([altered], issuer)
    first = registry.claim(*first_root.args(original), CLAIM_REF, sender=claimant)

    with reverts(registry.BillAlreadyClaimed, billRef=altered.ref, by=claimant, at=timestamp_of(first)):
        registry.claim(*second_root.args(altered), CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_of_same_bill_ref_from_other_issuer_is_independent(
    registry, anchor_bills, issuer, other_issuer, claimant
):
    bill = make_bill("same-number-two-issuers")
    ours = anchor_bills([bill, make_bill("s")], issuer)
    theirs = anchor_bills([bill, make_bill("t")], other_issuer)
    registry.claim(*ours.args(bill), CLAIM_REF, sender=claimant)

    receipt = registry.claim(*theirs.args(bill), CLAIM_REF, sender=claimant)

    assert registry.settlementOf(other_issuer, bill.ref) == (claimant.address, timestamp_of(receipt), CLAIMED)


def test_claim_reverts_when_voided(registry, batch, bill, issuer, claimant):
    voided = registry.voidBill(*batch.args(bill), 2, b"\x00" * 32, sender=issuer)

    with reverts(registry.BillAlreadyVoided, billRef=bill.ref, by=issuer, at=timestamp_of(voided)):
        registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_reverts_when_root_unknown(registry, claimant):
    bill = make_bill("never-anchored")
    tree = MerkleTree([bill, make_bill("u")])

    with reverts(registry.BillRootUnknown, root=tree.root):
        registry.claim(tree.root, tree.proof(bill), bill.ref, bill.content_hash, CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_reverts_when_proof_invalid(registry, batch, bill, claimant):
    wrong_proof = batch.tree.proof(batch.bills[1])

    with reverts(registry.BillProofInvalid, root=batch.root, billRef=bill.ref, contentHash=bill.content_hash):
        registry.claim(batch.root, wrong_proof, bill.ref, bill.content_hash, CLAIM_REF, sender=claimant)


def test_claim_reverts_when_content_hash_altered(registry, batch, bill, claimant):
    forged = keccak(text="forged content")

    with reverts(registry.BillProofInvalid, root=batch.root, billRef=bill.ref, contentHash=forged):
        registry.claim(batch.root, batch.tree.proof(bill), bill.ref, forged, CLAIM_REF, sender=claimant)


def test_claim_reverts_when_bill_not_under_root(registry, batch, claimant):
    outsider = make_bill("outsider")

    with reverts(registry.BillProofInvalid, root=batch.root, billRef=outsider.ref, contentHash=outsider.content_hash):
        registry.claim(batch.root, [], outsider.ref, outsider.content_hash, CLAIM_REF, sender=claimant)


def test_claim_reverts_when_proof_is_for_another_root(registry, anchor_bills, batch, bill, issuer, claimant):
    other = anchor_bills([make_bill("v"), make_bill("w")], issuer)

    with reverts(registry.BillProofInvalid, root=other.root, billRef=bill.ref, contentHash=bill.content_hash):
        registry.claim(other.root, batch.tree.proof(bill), bill.ref, bill.content_hash, CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_reverts_when_claimant_revoked(registry, batch, bill, admin, claimant, claimant_role):
    registry.revokeOrganisation(claimant, sender=admin)

    with reverts(registry.AccessControlUnauthorizedAccount, account=claimant, neededRole=claimant_role):
        registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_of_revoked_issuers_bill_succeeds(registry, batch, bill, admin, issuer, claimant):
    registry.revokeOrganisation(issuer, sender=admin)

    receipt = registry.claim(*batch.args(bill), CLAIM_REF, sender=claimant)

    assert registry.settlementOf(issuer, bill.ref) == (claimant.address, timestamp_of(receipt), CLAIMED)


def test_claim_leaves_no_settlement_when_it_reverts(registry, batch, bill, issuer, claimant):
    forged = keccak(text="forged content")
    with reverts(registry.BillProofInvalid, root=batch.root, billRef=bill.ref, contentHash=forged):
        registry.claim(batch.root, batch.tree.proof(bill), bill.ref, forged, CLAIM_REF, sender=claimant)

    assert registry.settlementOf(issuer, bill.ref).status == 0
