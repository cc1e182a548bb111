"""Claims and voids: one atomic UPDATE takes the bill, the outbox sends it, the chain decides."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from flask import Flask
from sqlalchemy import update

from app.bills.hexstr import ZERO32, to_hex
from app.bills.times import utc_iso
from app.extensions import db
from app.models import (
    Bill,
    BillStatus,
    ChainJob,
    JobKind,
    Organisation,
    OrgKind,
    OrgStatus,
    SettleState,
    audit,
    rows_changed,
    utcnow,
)
from app.outbox import worker as outbox_worker
from app.runtime import runtime
from app.services.errors import Conflict, Invalid, NotAllowed

VOID_REASONS = {1: "wrong content", 2: "refund", 3: "duplicate", 4: "other"}


def _require_settleable(bill: Bill) -> None:
    if bill.status == BillStatus.CLAIMED or bill.settle_state == SettleState.CLAIMING:
        raise already_claimed(bill)
    if bill.status == BillStatus.VOIDED or bill.settle_state == SettleState.VOIDING:
        raise Conflict(
            "bill_voided",
            "This bill has been voided and cannot be reimbursed.",
            voided_at=utc_iso(bill.settled_at or bill.settle_requested_at),
        )
    if bill.status == BillStatus.PENDING:
        raise Conflict(
            "bill_not_anchored",
            "This bill is not on the chain yet; try again in a few seconds.",
            retry_after=2,
        )


def already_claimed(bill: Bill) -> Conflict:
    by = bill.settled_by
    return Conflict(
        "bill_already_claimed",
        f"This bill was already reimbursed by {by.name if by else 'another organisation'}.",
        claimed_by=by.name if by else None,
        claimed_by_address=by.address if by else None,
        claimed_at=utc_iso(bill.settled_at or bill.settle_requested_at),
        confirmed=bill.status == BillStatus.CLAIMED,
    )


def request_claim(
    bill: Bill, claimant: Organisation, claim_ref: str, actor: str, *, registry: str | None = None
) -> ChainJob:
    """Take the bill for this claimant with one atomic UPDATE, then queue the claim transaction (to
    `registry` when the bill's is not the current one)."""
    if claimant.kind != OrgKind.CLAIMANT or claimant.status != OrgStatus.ACTIVE:
        raise NotAllowed("forbidden", "Only active reimbursing organisations may claim bills.")
    _take_for_settlement(bill, claimant, SettleState.CLAIMING, claim_ref=claim_ref)
    assert bill.batch is not None
    args = [bill.batch.root, bill.proof or [], bill.bill_ref, bill.content_hash, claim_ref_word(claim_ref)]
    return _queue_settlement(
        bill, claimant, JobKind.CLAIM, args, actor, "bill.claim_requested", registry, claim_ref=claim_ref
    )


def request_void(
    bill: Bill,
    issuer: Organisation,
    reason: int,
    note: str,
    replacement: Bill | None,
    actor: str,
    *,
    registry: str | None = None,
) -> ChainJob:
    """Take the bill for a void by its own issuer, then queue the void transaction."""
    if bill.organisation_id != issuer.id:
        raise NotAllowed("forbidden", "Only the issuing organisation may void its bills.")
    if issuer.status != OrgStatus.ACTIVE:
        raise NotAllowed("organisation_revoked", "A revoked organisation cannot void bills.")
    if reason not in VOID_REASONS:
        raise Invalid("invalid_reason", f"reason must be one of {sorted(VOID_REASONS)}.", "reason")
    _take_for_settlement(
        bill,
        issuer,
        SettleState.VOIDING,
        void_reason=reason,
        void_note=note[:200],
        replacement_bill_id=replacement.id if replacement else None,
    )
    assert bill.batch is not None
    replacement_ref = replacement.bill_ref if replacement else ZERO32
    args = [bill.batch.root, bill.proof or [], bill.bill_ref, bill.content_hash, reason, replacement_ref]
    return _queue_settlement(
        bill, issuer, JobKind.VOID, args, actor, "bill.void_requested", registry, reason=reason, note=note
    )


def _take_for_settlement(bill: Bill, org: Organisation, state: str, **values: Any) -> None:
    """One atomic UPDATE takes an anchored, unsettled bill: of concurrent requests exactly one wins.

    The chain is asked first, so that a request nobody can complete now gets 503 instead of a queue.
    """
    _require_settleable(bill)
    runtime().client.block_number()
    taken = rows_changed(
        db.session.execute(
            update(Bill)
            .where(Bill.id == bill.id, Bill.status == BillStatus.ANCHORED, Bill.settle_state.is_(None))
            .values(settle_state=state, settled_by_org_id=org.id, settle_requested_at=utcnow(), **values)
        )
    )
    if not taken:
        db.session.rollback()
        db.session.refresh(bill)
        _require_settleable(bill)
        raise already_claimed(bill)


def _queue_settlement(
    bill: Bill,
    org: Organisation,
    function: str,
    args: list[Any],
    actor: str,
    action: str,
    registry: str | None,
    **detail: Any,
) -> ChainJob:
    job = ChainJob(
        sender=org.address, function=function, args=args, bill_id=bill.id, organisation_id=org.id, registry=registry
    )
    db.session.add(job)
    audit(actor, action, bill.id, org.id, **detail)
    db.session.commit()
    runtime().wake_worker()
    return job


def claim_ref_word(text: str) -> str:
    """A claim reference as bytes32: short ones verbatim (readable on chain), long ones hashed."""
    raw = text.encode()
    if len(raw) <= 32:
        return "0x" + raw.ljust(32, b"\0").hex()
    return to_hex(keccak(raw))


def wait_for_job(app: Flask, job_id: int, timeout: float) -> ChainJob | None:
    """Wait for the chain's decision on a queued claim or void (confirmed or failed); None on timeout."""
    return outbox_worker.wait_for_job(app, job_id, timeout)
