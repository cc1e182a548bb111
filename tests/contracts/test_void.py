"""voidBill(...): only the anchoring issuer voids, with a reason, and only a bill nobody claimed."""

import pytest
from eth_utils import keccak
from registry_testkit import (
    VOIDED,
    ZERO32,
    MerkleTree,
    assert_events,
    make_bill,
    reverts,
    timestamp_of,
)

REFUND = 2
REPLACEMENT = make_bill("replacement").ref


@pytest.mark.nodes
def test_void_records_settlement(registry, batch, bill, issuer):
    receipt = registry.voidBill(*batch.args(bill), REFUND, ZERO32, sender=issuer)

    assert registry.settlementOf(issuer, bill.ref) == (issuer.address, timestamp_of(receipt), VOIDED)


def test_void_emits_bill_voided_with_reason_and_replacement(registry, batch, bill, issuer):
    receipt = registry.voidBill(*batch.args(bill), 1, REPLACEMENT, sender=issuer)

    assert_events(
        receipt,
        registry.BillVoided(issuer=issuer, billRef=bill.ref, root=batch.root, reasonCode=1, replacementRef=REPLACEMENT),
    )


@pytest.mark.parametrize("reason", [1, 2, 3, 4, 255])
def test_void_accepts_any_non_zero_reason(registry, batch, bill, issuer, reason):
    registry.voidBill(*batch.args(bill), reason, ZERO32, sender=issuer)

    assert registry.settlementOf(issuer, bill.ref).status == VOIDED


def test_void_reverts_when_reason_missing(registry, batch, bill, issuer):
    with reverts(registry.BillVoidReasonMissing):
        registry.voidBill(*batch.args(bill), 0, ZERO32, sender=issuer)


@pytest.mark.nodes
def test_void_reverts_when_caller_did_not_anchor_the_bill(registry, batch, bill, issuer, other_issuer):
    with reverts(registry.BillNotIssuedBy, billRef=bill.ref, issuer=issuer, caller=other_issuer):
        registry.voidBill(*batch.args(bill), REFUND, ZERO32, sender=other_issuer)


def test_void_by_other_issuer_of_same_bill_ref_leaves_ours_issued(
    registry, anchor_bills, batch, bill, issuer, other_issuer
):
    theirs = anchor_bills([bill, make_bill("x")], other_issuer)

    registry.voidBill(*theirs.args(bill), REFUND, ZERO32, sender=other_issuer)

    assert registry.settlementOf(other_issuer, bill.ref).status == VOIDED
    assert registry.settlementOf(issuer, bill.ref).status == 0


@pytest.mark.nodes
def test_void_reverts_when_claimed(registry, batch, bill, issuer, claimant):
    claimed = registry.claim(*batch.args(bill), keccak(text="case"), sender=claimant)

    with reverts(registry.BillAlreadyClaimed, billRef=bill.ref, by=claimant, at=timestamp_of(claimed)):
        registry.voidBill(*batch.args(bill), REFUND, ZERO32, sender=issuer)


def test_void_reverts_when_already_voided(registry, batch, bill, issuer):
    first = registry.voidBill(*batch.args(bill), REFUND, ZERO32, sender=issuer)

    with reverts(registry.BillAlreadyVoided, billRef=bill.ref, by=issuer, at=timestamp_of(first)):
        registry.voidBill(*batch.args(bill), 3, ZERO32, sender=issuer)


def test_void_reverts_when_voided_under_another_root_of_same_issuer(registry, anchor_bills, issuer):
    bill = make_bill("anchored-twice")
    first_root = anchor_bills([bill, make_bill("p")], issuer)
    second_root = anchor_bills([bill, make_bill("q")], issuer)
    first = registry.voidBill(*first_root.args(bill), REFUND, ZERO32, sender=issuer)

    with reverts(registry.BillAlreadyVoided, billRef=bill.ref, by=issuer, at=timestamp_of(first)):
        registry.voidBill(*second_root.args(bill), REFUND, ZERO32, sender=issuer)


def test_void_reverts_when_root_unknown(registry, issuer):
    bill = make_bill("never-anchored")
    tree = MerkleTree([bill])

    with reverts(registry.BillRootUnknown, root=tree.root):
        registry.voidBill(tree.root, [], bill.ref, bill.content_hash, REFUND, ZERO32, sender=issuer)


def test_void_reverts_when_proof_invalid(registry, batch, bill, issuer):
    wrong_proof = batch.tree.proof(batch.bills[1])

    with reverts(registry.BillProofInvalid, root=batch.root, billRef=bill.ref, contentHash=bill.content_hash):
        registry.voidBill(batch.root, wrong_proof, bill.ref, bill.content_hash, REFUND, ZERO32, sender=issuer)


@pytest.mark.nodes
def test_void_reverts_when_issuer_revoked(registry, batch, bill, admin, issuer, issuer_role):
    registry.revokeOrganisation(issuer, sender=admin)

    with reverts(registry.AccessControlUnauthorizedAccount, account=issuer, neededRole=issuer_role):
        registry.voidBill(*batch.args(bill), REFUND, ZERO32, sender=issuer)
