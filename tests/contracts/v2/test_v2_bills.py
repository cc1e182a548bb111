"""Bills in v2: per-issuer anchors, partial claims, review locks, paper conversion, voids with replacement,
and verify() answering all of it without ever reverting."""

import pytest
from eth_utils import keccak
from v2kit import (
    CLAIMANT_ID,
    ISSUER_ID,
    MAX_LOCK,
    OTHER_CLAIMANT_ID,
    OTHER_ISSUER_ID,
    ZERO32,
    ZERO_ADDRESS,
    MerkleTree,
    Status,
    assert_events,
    make_bill,
    now,
    record,
    reverts,
    timestamp_of,
    travel,
)

CLAIM_REF = keccak(text="报销单 2026-0001")
PAPER = b"011000001234567890".ljust(32, b"\x00")
REPLACEMENT = make_bill("replacement").ref


def claim(registry, tree, bill, amount, sender, issuer_id=ISSUER_ID):
    return registry.claim(issuer_id, *tree.args(bill), amount, CLAIM_REF, sender=sender)


# ---------------------------------------------------------------- anchor


@pytest.mark.nodes
def test_anchor_records_key_and_time(registry_v2, issuer):
    root = make_bill("a").leaf

    receipt = registry_v2.anchor(root, sender=issuer)

    assert registry_v2.anchorOf(ISSUER_ID, root) == (issuer.address, timestamp_of(receipt))
    assert_events(receipt, registry_v2.BillsAnchored(issuerId=ISSUER_ID, root=root))


@pytest.mark.nodes
def test_anchor_of_another_issuers_pending_root_does_not_take_it(registry_v2, issuer, other_issuer):
    """Front-running: the other issuer's copy lands under its own id; the rightful issuer still anchors."""
    tree = MerkleTree([make_bill("pending-1"), make_bill("pending-2")])
    registry_v2.anchor(tree.root, sender=other_issuer)

    receipt = registry_v2.anchor(tree.root, sender=issuer)

    assert registry_v2.anchorOf(ISSUER_ID, tree.root) == (issuer.address, timestamp_of(receipt))
    bill = tree.bills[0]
    assert record(registry_v2, ISSUER_ID, tree, bill).anchoredBy == issuer.address
    assert record(registry_v2, OTHER_ISSUER_ID, tree, bill).anchoredBy == other_issuer.address


def test_anchor_reverts_when_already_anchored_by_same_issuer(registry_v2, issuer):
    root = make_bill("twice").leaf
    first = registry_v2.anchor(root, sender=issuer)

    with reverts(
        registry_v2.BillRootAlreadyAnchored, issuerId=ISSUER_ID, root=root, key=issuer, anchoredAt=timestamp_of(first)
    ):
        registry_v2.anchor(root, sender=issuer)


def test_anchor_reverts_when_root_zero(registry_v2, issuer):
    with reverts(registry_v2.BillRootZero):
        registry_v2.anchor(ZERO32, sender=issuer)


def test_claim_under_another_issuers_copy_settles_only_that_copy(
    registry_v2, anchor_v2, issuer, other_issuer, claimant
):
    bill = make_bill("copied")
    ours = anchor_v2([bill], issuer)
    theirs = anchor_v2([bill], other_issuer)

    claim(registry_v2, theirs, bill, 0, claimant, issuer_id=OTHER_ISSUER_ID)

    assert record(registry_v2, ISSUER_ID, ours, bill).status == Status.ISSUED


# ---------------------------------------------------------------- claims, full and partial


@pytest.mark.nodes
def test_claim_of_whole_bill_with_amount_zero_reimburses_it(registry_v2, batch_v2, bill_v2, claimant):
    receipt = claim(registry_v2, batch_v2, bill_v2, 0, claimant)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.reimbursedFen, got.totalFen, got.lastSettledBy, got.lastSettledAt) == (
        Status.REIMBURSED,
        10_000,
        10_000,
        CLAIMANT_ID,
        timestamp_of(receipt),
    )
    assert_events(
        receipt,
        registry_v2.BillClaimed(
            issuerId=ISSUER_ID,
            billRef=bill_v2.ref,
            claimantId=CLAIMANT_ID,
            amountFen=10_000,
            remainingFen=0,
            root=batch_v2.root,
            claimRef=CLAIM_REF,
        ),
    )


@pytest.mark.nodes
def test_partial_claims_by_two_units_sum_to_total(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    first = claim(registry_v2, batch_v2, bill_v2, 4_000, claimant)
    after_first = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    second = claim(registry_v2, batch_v2, bill_v2, 0, other_claimant)

    assert (after_first.status, after_first.reimbursedFen) == (Status.PARTLY_REIMBURSED, 4_000)
    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.reimbursedFen, got.lastSettledBy) == (Status.REIMBURSED, 10_000, OTHER_CLAIMANT_ID)
    parts = [
        (log.claimantId, log.amountFen, log.remainingFen)
        for receipt in (first, second)
        for log in receipt.events.filter(registry_v2.BillClaimed)
    ]
    assert parts == [(CLAIMANT_ID, 4_000, 6_000), (OTHER_CLAIMANT_ID, 6_000, 0)]


def test_partial_claim_of_exact_remainder_reimburses(registry_v2, batch_v2, bill_v2, claimant):
    claim(registry_v2, batch_v2, bill_v2, 9_999, claimant)

    claim(registry_v2, batch_v2, bill_v2, 1, claimant)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).status == Status.REIMBURSED


@pytest.mark.nodes
def test_claim_reverts_when_above_remaining(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    claim(registry_v2, batch_v2, bill_v2, 7_000, claimant)

    with reverts(registry_v2.BillClaimExceedsRemaining, billRef=bill_v2.ref, amountFen=3_001, remainingFen=3_000):
        claim(registry_v2, batch_v2, bill_v2, 3_001, other_claimant)


def test_claim_reverts_when_above_total_at_first(registry_v2, batch_v2, bill_v2, claimant):
    with reverts(registry_v2.BillClaimExceedsRemaining, billRef=bill_v2.ref, amountFen=10_001, remainingFen=10_000):
        claim(registry_v2, batch_v2, bill_v2, 10_001, claimant)


@pytest.mark.nodes
def test_claim_reverts_when_already_reimbursed(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    first = claim(registry_v2, batch_v2, bill_v2, 0, claimant)

    with reverts(registry_v2.BillAlreadyReimbursed, billRef=bill_v2.ref, by=CLAIMANT_ID, at=timestamp_of(first)):
        claim(registry_v2, batch_v2, bill_v2, 0, other_claimant)


def test_claim_reverts_when_bill_total_zero(registry_v2, anchor_v2, issuer, claimant):
    free = make_bill("free", total_fen=0)
    tree = anchor_v2([free], issuer)

    with reverts(registry_v2.BillClaimExceedsRemaining, billRef=free.ref, amountFen=0, remainingFen=0):
        claim(registry_v2, tree, free, 0, claimant)


def test_claim_reverts_when_total_out_of_range(registry_v2, anchor_v2, issuer, claimant):
    huge = make_bill("huge", total_fen=2**64)
    tree = anchor_v2([huge], issuer)

    with reverts(registry_v2.BillTotalOutOfRange, totalFen=2**64):
        claim(registry_v2, tree, huge, 0, claimant)


def test_claim_reverts_when_total_altered(registry_v2, batch_v2, bill_v2, claimant):
    root, proof, ref, content, _ = batch_v2.args(bill_v2)

    with reverts(registry_v2.BillProofInvalid, root=root, billRef=ref, contentHash=content, totalFen=1_000_000):
        registry_v2.claim(ISSUER_ID, root, proof, ref, content, 1_000_000, 0, CLAIM_REF, sender=claimant)


@pytest.mark.nodes
def test_claim_reverts_when_root_not_anchored_by_named_issuer(registry_v2, batch_v2, bill_v2, claimant):
    with reverts(registry_v2.BillRootUnknown, issuerId=OTHER_ISSUER_ID, root=batch_v2.root):
        claim(registry_v2, batch_v2, bill_v2, 0, claimant, issuer_id=OTHER_ISSUER_ID)


def test_claim_of_bill_number_reanchored_with_smaller_total_cannot_overpay(registry_v2, anchor_v2, issuer, claimant):
    original, edited = make_bill("edited", 10_000), make_bill("edited", 5_000, version=1)
    first, second = anchor_v2([original], issuer), anchor_v2([edited], issuer)
    claim(registry_v2, first, original, 8_000, claimant)

    with reverts(registry_v2.BillClaimExceedsRemaining, billRef=edited.ref, amountFen=0, remainingFen=0):
        claim(registry_v2, second, edited, 0, claimant)


# ---------------------------------------------------------------- locks


@pytest.mark.nodes
def test_lock_shows_in_verify_and_keeps_others_out(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    until = now() + 7 * 24 * 3600

    receipt = registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.lockHolderId, got.lockedUntil) == (Status.ISSUED, CLAIMANT_ID, until)
    assert_events(
        receipt, registry_v2.BillLocked(issuerId=ISSUER_ID, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until)
    )
    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        claim(registry_v2, batch_v2, bill_v2, 0, other_claimant)
    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=other_claimant)


@pytest.mark.nodes
def test_lock_keeps_issuer_from_voiding_and_converting(registry_v2, batch_v2, bill_v2, issuer, claimant):
    until = now() + 3600
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)

    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 1, REPLACEMENT, sender=issuer)
    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=issuer)


def test_lock_holder_cannot_renew_live_lock(registry_v2, batch_v2, bill_v2, claimant):
    until = now() + 3600
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)

    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until + 60, sender=claimant)


@pytest.mark.nodes
def test_lock_holder_claims_and_lock_ends(registry_v2, batch_v2, bill_v2, claimant):
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 3600, sender=claimant)

    claim(registry_v2, batch_v2, bill_v2, 2_500, claimant)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.reimbursedFen, got.lockHolderId, got.lockedUntil) == (
        Status.PARTLY_REIMBURSED,
        2_500,
        0,
        0,
    )


@pytest.mark.nodes
def test_lock_expires_and_anyone_may_proceed(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    until = now() + 3600
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)
    travel(3601)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).lockHolderId == 0
    claim(registry_v2, batch_v2, bill_v2, 0, other_claimant)
    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).lastSettledBy == OTHER_CLAIMANT_ID


def test_lock_of_partly_reimbursed_bill(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    claim(registry_v2, batch_v2, bill_v2, 1_000, claimant)
    until = now() + 3600

    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=other_claimant)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.reimbursedFen, got.lockHolderId, got.lastSettledBy) == (
        Status.PARTLY_REIMBURSED,
        1_000,
        OTHER_CLAIMANT_ID,
        CLAIMANT_ID,
    )


@pytest.mark.parametrize("offset", [0, -1, MAX_LOCK + 2])
def test_lock_reverts_when_until_invalid(registry_v2, chain, batch_v2, bill_v2, claimant, offset):
    # The lock's transaction is mined at head + 1 second (Ape's in-process and node defaults here).
    mined_at = now() + 1
    chain.pending_timestamp = mined_at
    until = mined_at + offset

    with reverts(registry_v2.BillLockUntilInvalid, until=until, latest=mined_at + MAX_LOCK):
        registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)


def test_lock_accepts_the_maximum(registry_v2, chain, batch_v2, bill_v2, claimant):
    mined_at = now() + 1
    chain.pending_timestamp = mined_at

    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), mined_at + MAX_LOCK, sender=claimant)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).lockedUntil == mined_at + MAX_LOCK


@pytest.mark.parametrize("settle", ["reimbursed", "voided", "paper"])
def test_lock_reverts_when_bill_settled(registry_v2, batch_v2, bill_v2, issuer, claimant, settle):
    if settle == "reimbursed":
        done = claim(registry_v2, batch_v2, bill_v2, 0, claimant)
        error, args = registry_v2.BillAlreadyReimbursed, {"by": CLAIMANT_ID}
    elif settle == "voided":
        done = registry_v2.voidBill(*batch_v2.args(bill_v2), 1, REPLACEMENT, sender=issuer)
        error, args = registry_v2.BillAlreadyVoided, {"by": ISSUER_ID}
    else:
        done = registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=issuer)
        error, args = registry_v2.BillOnPaper, {"paperNumber": PAPER}

    with reverts(error, billRef=bill_v2.ref, at=timestamp_of(done), **args):
        registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 3600, sender=claimant)


# ---------------------------------------------------------------- release


@pytest.mark.nodes
def test_release_ends_lock(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 3600, sender=claimant)

    receipt = registry_v2.release(ISSUER_ID, bill_v2.ref, sender=claimant)

    assert_events(receipt, registry_v2.BillReleased(issuerId=ISSUER_ID, billRef=bill_v2.ref, holderId=CLAIMANT_ID))
    assert registry_v2.billStateOf(ISSUER_ID, bill_v2.ref) == (0, 0, 0, 0, 0, 0, 0)
    claim(registry_v2, batch_v2, bill_v2, 0, other_claimant)


def test_release_keeps_reimbursed_sum(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    claim(registry_v2, batch_v2, bill_v2, 1_000, claimant)
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 3600, sender=other_claimant)

    registry_v2.release(ISSUER_ID, bill_v2.ref, sender=other_claimant)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.reimbursedFen, got.lastSettledBy, got.lockHolderId) == (
        Status.PARTLY_REIMBURSED,
        1_000,
        CLAIMANT_ID,
        0,
    )


def test_release_reverts_for_other_claimant(registry_v2, batch_v2, bill_v2, claimant, other_claimant):
    until = now() + 3600
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), until, sender=claimant)

    with reverts(registry_v2.BillLockedBy, billRef=bill_v2.ref, holderId=CLAIMANT_ID, until=until):
        registry_v2.release(ISSUER_ID, bill_v2.ref, sender=other_claimant)


@pytest.mark.nodes
def test_release_reverts_when_not_locked(registry_v2, bill_v2, claimant):
    with reverts(registry_v2.BillNotLocked, billRef=bill_v2.ref):
        registry_v2.release(ISSUER_ID, bill_v2.ref, sender=claimant)


def test_release_reverts_when_lock_expired(registry_v2, batch_v2, bill_v2, claimant):
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 60, sender=claimant)
    travel(61)

    with reverts(registry_v2.BillNotLocked, billRef=bill_v2.ref):
        registry_v2.release(ISSUER_ID, bill_v2.ref, sender=claimant)


# ---------------------------------------------------------------- paper conversion


@pytest.mark.nodes
def test_convert_to_paper_records_number_and_stops_claims(registry_v2, batch_v2, bill_v2, issuer, claimant):
    receipt = registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=issuer)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.paperNumber, got.lastSettledBy, got.lastSettledAt) == (
        Status.CONVERTED_TO_PAPER,
        PAPER,
        ISSUER_ID,
        timestamp_of(receipt),
    )
    assert_events(
        receipt,
        registry_v2.BillConvertedToPaper(
            issuerId=ISSUER_ID, billRef=bill_v2.ref, paperNumber=PAPER, root=batch_v2.root
        ),
    )
    with reverts(registry_v2.BillOnPaper, billRef=bill_v2.ref, paperNumber=PAPER, at=timestamp_of(receipt)):
        claim(registry_v2, batch_v2, bill_v2, 0, claimant)


def test_convert_to_paper_reverts_when_converted_twice(registry_v2, batch_v2, bill_v2, issuer):
    first = registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=issuer)

    with reverts(registry_v2.BillOnPaper, billRef=bill_v2.ref, paperNumber=PAPER, at=timestamp_of(first)):
        registry_v2.convertToPaper(*batch_v2.args(bill_v2), b"Q" * 32, sender=issuer)


def test_convert_to_paper_reverts_without_number(registry_v2, batch_v2, bill_v2, issuer):
    with reverts(registry_v2.BillPaperNumberMissing):
        registry_v2.convertToPaper(*batch_v2.args(bill_v2), ZERO32, sender=issuer)


def test_convert_to_paper_reverts_when_partly_reimbursed(registry_v2, batch_v2, bill_v2, issuer, claimant):
    claim(registry_v2, batch_v2, bill_v2, 1, claimant)

    with reverts(registry_v2.BillReimbursementStarted, billRef=bill_v2.ref, reimbursedFen=1):
        registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=issuer)


def test_convert_to_paper_reverts_for_other_issuers_bill(registry_v2, batch_v2, bill_v2, other_issuer):
    with reverts(registry_v2.BillRootUnknown, issuerId=OTHER_ISSUER_ID, root=batch_v2.root):
        registry_v2.convertToPaper(*batch_v2.args(bill_v2), PAPER, sender=other_issuer)


# ---------------------------------------------------------------- void with replacement


@pytest.mark.nodes
def test_void_records_replacement(registry_v2, batch_v2, bill_v2, issuer, claimant):
    receipt = registry_v2.voidBill(*batch_v2.args(bill_v2), 1, REPLACEMENT, sender=issuer)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.replacementRef, got.voidReason, got.lastSettledBy, got.lastSettledAt) == (
        Status.VOIDED,
        REPLACEMENT,
        1,
        ISSUER_ID,
        timestamp_of(receipt),
    )
    assert_events(
        receipt,
        registry_v2.BillVoided(
            issuerId=ISSUER_ID, billRef=bill_v2.ref, replacementRef=REPLACEMENT, reasonCode=1, root=batch_v2.root
        ),
    )
    with reverts(registry_v2.BillAlreadyVoided, billRef=bill_v2.ref, by=ISSUER_ID, at=timestamp_of(receipt)):
        claim(registry_v2, batch_v2, bill_v2, 0, claimant)


def test_void_without_replacement(registry_v2, batch_v2, bill_v2, issuer):
    registry_v2.voidBill(*batch_v2.args(bill_v2), 2, ZERO32, sender=issuer)

    got = record(registry_v2, ISSUER_ID, batch_v2, bill_v2)
    assert (got.status, got.replacementRef, got.voidReason) == (Status.VOIDED, ZERO32, 2)


@pytest.mark.nodes
def test_void_reverts_when_partly_reimbursed(registry_v2, batch_v2, bill_v2, issuer, claimant):
    claim(registry_v2, batch_v2, bill_v2, 500, claimant)

    with reverts(registry_v2.BillReimbursementStarted, billRef=bill_v2.ref, reimbursedFen=500):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 1, REPLACEMENT, sender=issuer)


def test_void_reverts_when_reimbursed(registry_v2, batch_v2, bill_v2, issuer, claimant):
    done = claim(registry_v2, batch_v2, bill_v2, 0, claimant)

    with reverts(registry_v2.BillAlreadyReimbursed, billRef=bill_v2.ref, by=CLAIMANT_ID, at=timestamp_of(done)):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 1, REPLACEMENT, sender=issuer)


def test_void_reverts_when_voided_or_on_paper(registry_v2, batch_v2, issuer):
    voided, paper = batch_v2.bills[0], batch_v2.bills[1]
    first = registry_v2.voidBill(*batch_v2.args(voided), 1, REPLACEMENT, sender=issuer)
    converted = registry_v2.convertToPaper(*batch_v2.args(paper), PAPER, sender=issuer)

    with reverts(registry_v2.BillAlreadyVoided, billRef=voided.ref, by=ISSUER_ID, at=timestamp_of(first)):
        registry_v2.voidBill(*batch_v2.args(voided), 1, ZERO32, sender=issuer)
    with reverts(registry_v2.BillOnPaper, billRef=paper.ref, paperNumber=PAPER, at=timestamp_of(converted)):
        registry_v2.voidBill(*batch_v2.args(paper), 1, ZERO32, sender=issuer)


def test_void_reverts_without_reason(registry_v2, batch_v2, bill_v2, issuer):
    with reverts(registry_v2.BillVoidReasonMissing):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 0, REPLACEMENT, sender=issuer)


def test_void_reverts_when_bill_replaces_itself(registry_v2, batch_v2, bill_v2, issuer):
    with reverts(registry_v2.BillReplacementInvalid, billRef=bill_v2.ref):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 1, bill_v2.ref, sender=issuer)


@pytest.mark.nodes
def test_void_reverts_for_other_issuers_bill(registry_v2, batch_v2, bill_v2, other_issuer):
    with reverts(registry_v2.BillRootUnknown, issuerId=OTHER_ISSUER_ID, root=batch_v2.root):
        registry_v2.voidBill(*batch_v2.args(bill_v2), 1, ZERO32, sender=other_issuer)


def test_void_after_lock_expired(registry_v2, batch_v2, bill_v2, issuer, claimant):
    registry_v2.lock(ISSUER_ID, *batch_v2.args(bill_v2), now() + 60, sender=claimant)
    travel(61)

    registry_v2.voidBill(*batch_v2.args(bill_v2), 1, ZERO32, sender=issuer)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2).status == Status.VOIDED


# ---------------------------------------------------------------- verify


@pytest.mark.nodes
def test_verify_of_issued_bill(registry_v2, batch_v2, bill_v2, issuer):
    anchored = registry_v2.anchorOf(ISSUER_ID, batch_v2.root)

    assert record(registry_v2, ISSUER_ID, batch_v2, bill_v2) == (
        Status.ISSUED,
        ISSUER_ID,
        issuer.address,
        anchored.anchoredAt,
        0,
        0,
        0,
        0,
        10_000,
        0,
        0,
        0,
        ZERO32,
        ZERO32,
        0,
    )


UNKNOWN = (Status.UNKNOWN, 0, ZERO_ADDRESS, 0, 0, 0, 0, 0, 0, 0, 0, 0, ZERO32, ZERO32, 0)


@pytest.mark.parametrize(
    "case", ["unknown issuer", "other issuer", "unknown root", "wrong total", "forged content", "wrong proof", "long"]
)
def test_verify_answers_unknown_and_never_reverts(registry_v2, batch_v2, bill_v2, case):
    root, proof, ref, content, total = batch_v2.args(bill_v2)
    issuer_id = {"unknown issuer": 99, "other issuer": OTHER_ISSUER_ID}.get(case, ISSUER_ID)
    if case == "unknown root":
        root = keccak(b"never")
    elif case == "wrong total":
        total = 2**256 - 1
    elif case == "forged content":
        content = keccak(b"forged")
    elif case == "wrong proof":
        proof = batch_v2.proof(batch_v2.bills[1])
    elif case == "long":
        proof = proof + [keccak(b"x")] * 40

    assert registry_v2.verify(issuer_id, root, proof, ref, content, total) == UNKNOWN


def test_leaf_matches_oracle(registry_v2, bill_v2):
    assert registry_v2.leafOf(bill_v2.ref, bill_v2.content_hash, bill_v2.total_fen) == bill_v2.leaf
