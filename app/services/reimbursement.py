"""Reimbursement on registry v2: review locks, claims of a part, paper conversion, voids with replacement.

Nothing is taken in this database first. A request is checked against the chain's current record of
the bill (so a hopeless one is refused at once, with the chain's facts), then queued for the outbox;
the contract decides when the transaction is mined, and whatever it decided reaches this database
through the events (app/outbox/projection.py). Two requests racing on one bill, from this platform or
from any member platform, both reach the chain: one wins there, the other is refused there, and its
answer is built from the chain's record again (`refusal`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.bills.chainview_v2 import ChainBillRecordV2, ChainStatusV2
from app.bills.errors import ChainUnavailableError
from app.bills.hexstr import ZERO32, from_hex, to_hex
from app.bills.times import utc_iso
from app.chain.registry_v2 import RegistryV2Client, paper_word
from app.extensions import db
from app.models import Bill, ChainJob, JobKind, Organisation, OrgKind, OrgStatus, audit
from app.runtime import runtime
from app.services import settlement
from app.services.errors import Conflict, Invalid, NotAllowed, Unavailable
from app.services.settlement import VOID_REASONS, claim_ref_word


def is_v2() -> bool:
    return runtime().registry_version == 2


def _client() -> RegistryV2Client:
    client = runtime().client
    if not isinstance(client, RegistryV2Client):
        raise Conflict("registry_v1", "This platform's registry (v1) has no review locks, parts or paper.")
    return client


def _leaf(bill: Bill) -> tuple[bytes, list[bytes], bytes, bytes, int]:
    """(root, proof, billRef, contentHash, totalFen): what the registry proves the bill with."""
    if bill.batch is None or bill.batch.root is None:
        raise Conflict(
            "bill_not_anchored", "This bill is not on the chain yet; try again in a few seconds.", retry_after=2
        )
    return (
        from_hex(bill.batch.root),
        [from_hex(p) for p in bill.proof or []],
        from_hex(bill.bill_ref),
        from_hex(bill.content_hash),
        int(bill.total_fen),
    )


def _issuer_id(bill: Bill) -> int:
    issuer_id = bill.organisation.chain_org_id
    if not issuer_id:
        raise Conflict("bill_not_anchored", "This bill's issuer is not admitted on chain yet.", retry_after=2)
    return int(issuer_id)


def chain_record(bill: Bill) -> ChainBillRecordV2:
    """The registry's record of the bill now (its `verify`)."""
    root, proof, ref, digest, total = _leaf(bill)
    return _client().bill_record_v2(_issuer_id(bill), root, proof, ref, digest, total)


def org_name(chain_org_id: int) -> str | None:
    """An organisation's name by its stable id: ours from this database, any other from the chain."""
    if not chain_org_id:
        return None
    local = db.session.scalar(select(Organisation.name).where(Organisation.chain_org_id == chain_org_id))
    if local:
        return str(local)
    found = _client().organisation_v2(chain_org_id)
    return found.name if found else None


def reimbursement_facts(record: ChainBillRecordV2) -> dict[str, Any]:
    """What every answer about the bill's money says, read from the chain's record."""
    return {
        "chain_status": record.status.name.lower(),
        "total_fen": record.total_fen,
        "reimbursed_fen": record.reimbursed_fen,
        "remaining_fen": record.remaining_fen,
        "locked_by": org_name(record.lock_holder_id) if live_lock(record) else None,
        "locked_by_id": record.lock_holder_id if live_lock(record) else None,
        "locked_until": utc_iso(record.locked_until) if live_lock(record) else None,
        "last_settled_by": org_name(record.last_settled_by),
        "last_settled_at": utc_iso(record.last_settled_at),
        "paper_number": record.paper_number,
        "replacement_ref": to_hex(record.replacement_ref) if record.replacement_ref else None,
    }


def live_lock(record: ChainBillRecordV2) -> bool:
    """A lock still live at the next block. `verify` judges by the latest block's time, which on a chain
    that mines only on demand (Anvil) can be long past: the next block's time is now."""
    return record.locked and record.locked_until is not None and record.locked_until > datetime.now(UTC)


def refusal(record: ChainBillRecordV2, acting_id: int | None, amount_fen: int | None = None) -> Conflict | None:
    """Why the chain would refuse a claim or lock by `acting_id` now (None: it would not), with its facts."""
    facts = reimbursement_facts(record)
    if record.status is ChainStatusV2.UNKNOWN:
        return Conflict("bill_not_anchored", "The chain does not know this bill yet.", retry_after=2)
    if record.status is ChainStatusV2.VOIDED:
        return Conflict("bill_voided", "This bill has been voided and cannot be reimbursed.", **facts)
    if record.status is ChainStatusV2.CONVERTED_TO_PAPER:
        return Conflict(
            "bill_on_paper",
            f"This bill was converted to paper bill {record.paper_number}; the paper bill is the instrument.",
            **facts,
        )
    if record.status is ChainStatusV2.REIMBURSED:
        who = facts["last_settled_by"] or "another organisation"
        return Conflict(
            "bill_already_claimed",
            f"This bill was already reimbursed in full (last part by {who}); nothing remains.",
            claimed_by=facts["last_settled_by"],
            claimed_at=facts["last_settled_at"],
            confirmed=True,
            **facts,
        )
    if live_lock(record) and record.lock_holder_id != acting_id:
        return Conflict(
            "bill_locked",
            f"{facts['locked_by'] or 'Another organisation'} is reviewing this bill until {facts['locked_until']}.",
            **facts,
        )
    if amount_fen is not None and amount_fen > record.remaining_fen:
        return Conflict(
            "claim_exceeds_remaining",
            f"Only {record.remaining_fen} fen of this bill remain to be reimbursed.",
            "amount_fen",
            **facts,
        )
    return None


# ---------------------------------------------------------------- requests


def _require_claimant(org: Organisation) -> int:
    if org.kind != OrgKind.CLAIMANT or org.status != OrgStatus.ACTIVE or not org.chain_org_id:
        raise NotAllowed("forbidden", "Only active, admitted reimbursing organisations may do this.")
    return int(org.chain_org_id)


def _require_issuer_of(bill: Bill, org: Organisation) -> None:
    if bill.organisation_id != org.id:
        raise NotAllowed("forbidden", "Only the issuing organisation may do this.")
    if org.status != OrgStatus.ACTIVE:
        raise NotAllowed("organisation_revoked", "A revoked organisation cannot change its bills.")


def _queue(bill: Bill, org: Organisation, kind: JobKind, args: list[Any], actor: str, **detail: Any) -> ChainJob:
    job = ChainJob(sender=org.address, function=kind, args=args, bill_id=bill.id, organisation_id=org.id)
    db.session.add(job)
    audit(actor, f"bill.{kind.value}_requested", bill.id, org.id, **detail)
    db.session.commit()
    runtime().wake_worker()
    return job


def request_lock(bill: Bill, claimant: Organisation, until: datetime, actor: str) -> ChainJob:
    """Lock the bill for review by this claimant until `until` (at most the registry's maximum)."""
    acting = _require_claimant(claimant)
    client = _client()
    now = datetime.now(UTC)
    if until.tzinfo is None:
        raise Invalid(
            "invalid_until", "until must carry a time zone (UTC ISO 8601, e.g. 2026-12-10T00:00:00Z).", "until"
        )
    latest = now + timedelta(seconds=client.max_lock_duration())
    if not now < until <= latest:
        raise Invalid("invalid_until", f"until must be after now and at most {utc_iso(latest)}.", "until")
    record = chain_record(bill)
    problem = refusal(record, acting)
    if problem is not None:
        raise problem
    root, proof, ref, digest, total = _leaf(bill)
    args = [_issuer_id(bill), to_hex(root), [to_hex(p) for p in proof], to_hex(ref), to_hex(digest), total]
    return _queue(bill, claimant, JobKind.LOCK, [*args, int(until.timestamp())], actor, until=utc_iso(until))


def request_release(bill: Bill, claimant: Organisation, actor: str) -> ChainJob:
    """Give up this claimant's live review lock (a rejected reimbursement)."""
    acting = _require_claimant(claimant)
    record = chain_record(bill)
    if not live_lock(record) or record.lock_holder_id != acting:
        raise Conflict(
            "bill_not_locked_by_you", "You hold no live review lock on this bill.", **reimbursement_facts(record)
        )
    return _queue(bill, claimant, JobKind.RELEASE, [_issuer_id(bill), bill.bill_ref], actor)


def request_claim(
    bill: Bill, claimant: Organisation, claim_ref: str, actor: str, amount_fen: int | None = None
) -> ChainJob:
    """Reimburse `amount_fen` of the bill (None: all that remains)."""
    acting = _require_claimant(claimant)
    if amount_fen is not None and amount_fen <= 0:
        raise Invalid("invalid_amount", "amount_fen must be a whole number of fen above 0.", "amount_fen")
    record = chain_record(bill)
    problem = refusal(record, acting, amount_fen)
    if problem is not None:
        raise problem
    root, proof, ref, digest, total = _leaf(bill)
    args = [_issuer_id(bill), to_hex(root), [to_hex(p) for p in proof], to_hex(ref), to_hex(digest), total]
    return _queue(
        bill,
        claimant,
        JobKind.CLAIM,
        [*args, amount_fen or 0, claim_ref_word(claim_ref)],
        actor,
        claim_ref=claim_ref,
        amount_fen=amount_fen,
    )


def request_paper(bill: Bill, issuer: Organisation, paper_number: str, actor: str) -> ChainJob:
    """Mark the bill converted to paper, once, with the paper bill's number."""
    _require_issuer_of(bill, issuer)
    try:
        word = paper_word(paper_number)
    except (ValueError, UnicodeEncodeError):
        raise Invalid("invalid_paper_number", "paper_number must be 1-32 ASCII characters.", "paper_number") from None
    record = chain_record(bill)
    if record.status is not ChainStatusV2.ISSUED or live_lock(record):
        raise _settled_conflict(record, "converted to paper")
    root, proof, ref, digest, total = _leaf(bill)
    args = [to_hex(root), [to_hex(p) for p in proof], to_hex(ref), to_hex(digest), total, to_hex(word)]
    return _queue(bill, issuer, JobKind.PAPER, args, actor, paper_number=paper_number)


def request_void_v2(
    bill: Bill, issuer: Organisation, reason: int, note: str, replacement: Bill | None, actor: str
) -> ChainJob:
    """Void (red-letter reversal) a bill nobody has reimbursed or locked; the chain keeps the replacement."""
    _require_issuer_of(bill, issuer)
    if reason not in VOID_REASONS:
        raise Invalid("invalid_reason", f"reason must be one of {sorted(VOID_REASONS)}.", "reason")
    record = chain_record(bill)
    if record.status is not ChainStatusV2.ISSUED or live_lock(record):
        raise _settled_conflict(record, "voided")
    bill.void_note = note[:200]
    bill.replacement_bill_id = replacement.id if replacement else None
    root, proof, ref, digest, total = _leaf(bill)
    replacement_ref = replacement.bill_ref if replacement else ZERO32
    args = [to_hex(root), [to_hex(p) for p in proof], to_hex(ref), to_hex(digest), total, reason, replacement_ref]
    return _queue(bill, issuer, JobKind.VOID, args, actor, reason=reason, note=note)


def _settled_conflict(record: ChainBillRecordV2, what: str) -> Conflict:
    facts = reimbursement_facts(record)
    if record.status is ChainStatusV2.UNKNOWN:
        return Conflict("bill_not_anchored", "The chain does not know this bill yet.", retry_after=2)
    if live_lock(record):
        return Conflict("bill_locked", f"A bill under review cannot be {what}.", **facts)
    if record.status in (ChainStatusV2.PARTLY_REIMBURSED, ChainStatusV2.REIMBURSED):
        return Conflict("reimbursement_started", f"A bill reimbursed in part or whole cannot be {what}.", **facts)
    if record.status is ChainStatusV2.VOIDED:
        return Conflict("bill_voided", "This bill has been voided.", **facts)
    return Conflict("bill_on_paper", f"This bill was converted to paper bill {record.paper_number}.", **facts)


def answer_for_refused(bill: Bill, acting_id: int | None, error: str | None) -> Conflict:
    """The 409 for a transaction the chain refused: why, read from the chain's record now."""
    try:
        record = chain_record(bill)
    except ChainUnavailableError as exc:
        raise Unavailable(
            "chain_unavailable", f"The chain refused it ({error}); its record cannot be read now."
        ) from exc
    found = refusal(record, acting_id)
    if found is not None:
        return found
    if record.status is not ChainStatusV2.ISSUED:
        return _settled_conflict(record, "changed")
    return Conflict("chain_refused", f"The chain refused it: {error}.", **reimbursement_facts(record))


# ---------------------------------------------------------------- one entry for either registry


def claim(bill: Bill, claimant: Organisation, claim_ref: str, actor: str, amount_fen: int | None = None) -> ChainJob:
    """Reimburse a bill: a part of it on registry v2; on v1 only the whole bill, once."""
    if is_v2():
        return request_claim(bill, claimant, claim_ref, actor, amount_fen)
    if amount_fen is not None and amount_fen != bill.total_fen:
        raise Invalid("invalid_amount", "This platform's registry (v1) reimburses whole bills only.", "amount_fen")
    return settlement.request_claim(bill, claimant, claim_ref, actor)


def void(bill: Bill, issuer: Organisation, reason: int, note: str, replacement: Bill | None, actor: str) -> ChainJob:
    if is_v2():
        return request_void_v2(bill, issuer, reason, note, replacement, actor)
    return settlement.request_void(bill, issuer, reason, note, replacement, actor)
