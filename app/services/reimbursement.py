"""Reimbursement on registry v2: review locks, claims of a part, paper conversion, voids with replacement.

Nothing is taken in this database first. A request is checked against the chain's current record of
the bill (so a hopeless one is refused at once, with the chain's facts), then queued for the outbox;
the contract decides when the transaction is mined, and whatever it decided reaches this database
through the events (app/outbox/projection.py). Two requests racing on one bill, from this platform or
from any member platform, both reach the chain: one wins there, the other is refused there, and its
answer is built from the chain's record again (`refusal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rlp
from sqlalchemy import select

from app.bills.billfile import BillFile
from app.bills.chainview import ChainOrgKind
from app.bills.chainview_v2 import ChainBillRecordV2, ChainStatusV2
from app.bills.errors import ChainUnavailableError
from app.bills.hexstr import ZERO32, from_hex, to_hex
from app.bills.times import utc_iso
from app.chain import ChainError
from app.chain.registry_v2 import RegistryV2Client, paper_word
from app.extensions import db
from app.models import Bill, ChainJob, JobKind, Organisation, OrgKind, OrgStatus, audit
from app.outbox.jobs import SETTLEMENT_GAS_V2
from app.runtime import runtime
from app.services import settlement
from app.services.billfiles import current_registry, registry_of
from app.services.errors import Conflict, Invalid, NotAllowed, NotFound, Unavailable
from app.services.settlement import VOID_REASONS, claim_ref_word
from app.services.verification import verify_any


def is_v2() -> bool:
    return runtime().registry_version == 2


def _client() -> RegistryV2Client:
    client = runtime().client
    if not isinstance(client, RegistryV2Client):
        raise Conflict(
            "registry_v1",
            "This platform's registry (v1) has no review locks, parts or paper: "
            "claim the whole bill, or upgrade (`flask --app app registry upgrade`).",
        )
    return client


@dataclass(frozen=True)
class ChainLeaf:
    """A bill as the registry proves it: (issuerId, root, proof, billRef, contentHash, totalFen). A bill of
    this platform gives it from its rows; a bill of another member platform from its verified bill file."""

    issuer_id: int
    root: bytes
    proof: tuple[bytes, ...]
    bill_ref: bytes
    content_hash: bytes
    total_fen: int

    def args(self) -> list[Any]:
        """(issuerId, root, proof, billRef, contentHash, totalFen) as outbox JSON."""
        return [self.issuer_id, *self.args_without_issuer()]

    def args_without_issuer(self) -> list[Any]:
        """(root, proof, billRef, contentHash, totalFen): voidBill and convertToPaper take the caller as issuer."""
        return [
            to_hex(self.root),
            [to_hex(p) for p in self.proof],
            to_hex(self.bill_ref),
            to_hex(self.content_hash),
            self.total_fen,
        ]


def leaf_of(bill: Bill) -> ChainLeaf:
    """This platform's bill as the registry proves it."""
    if bill.batch is None or bill.batch.root is None:
        raise Conflict(
            "bill_not_anchored", "This bill is not on the chain yet; try again in a few seconds.", retry_after=2
        )
    issuer_id = bill.organisation.chain_org_id
    if not issuer_id:
        raise Conflict("bill_not_anchored", "This bill's issuer is not admitted on chain yet.", retry_after=2)
    return ChainLeaf(
        int(issuer_id),
        from_hex(bill.batch.root),
        tuple(from_hex(p) for p in bill.proof or []),
        from_hex(bill.bill_ref),
        from_hex(bill.content_hash),
        int(bill.total_fen),
    )


def leaf_of_file(bill_file: BillFile) -> ChainLeaf:
    """A bill file's leaf (any member platform's bill); its issuer id is the signer key's organisation."""
    anchoring = bill_file.anchoring
    if anchoring is None:
        raise Conflict("bill_not_anchored", "This bill file carries no anchoring yet.", retry_after=2)
    issuer_id = _client().key_record(bill_file.signature.signer).org_id
    if not issuer_id:
        raise Conflict(
            "bill_not_anchored",
            "The chain knows no organisation with this bill's signing key: the issuer is not admitted yet, "
            "or the file was not signed by a registered issuer; verify the file first.",
        )
    return ChainLeaf(
        issuer_id,
        anchoring.root,
        tuple(anchoring.proof),
        bill_file.bill_ref,
        bill_file.content_hash,
        bill_file.bill.total_fen,
    )


def _as_leaf(target: Bill | ChainLeaf) -> ChainLeaf:
    return target if isinstance(target, ChainLeaf) else leaf_of(target)


def chain_record(target: Bill | ChainLeaf) -> ChainBillRecordV2:
    """The registry's record of the bill now (its `verify`)."""
    leaf = _as_leaf(target)
    return _client().bill_record_v2(
        leaf.issuer_id, leaf.root, leaf.proof, leaf.bill_ref, leaf.content_hash, leaf.total_fen
    )


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


def _queue(bill: Bill | None, org: Organisation, kind: JobKind, args: list[Any], actor: str, **detail: Any) -> ChainJob:
    bill_id = bill.id if bill is not None else None
    job = ChainJob(sender=org.address, function=kind, args=args, bill_id=bill_id, organisation_id=org.id)
    db.session.add(job)
    audit(actor, f"bill.{kind.value}_requested", bill_id, org.id, **detail)
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
    leaf = leaf_of(bill)
    problem = refusal(chain_record(leaf), acting)
    if problem is not None:
        raise problem
    return _queue(bill, claimant, JobKind.LOCK, [*leaf.args(), int(until.timestamp())], actor, until=utc_iso(until))


def request_release(bill: Bill, claimant: Organisation, actor: str) -> ChainJob:
    """Give up this claimant's live review lock (a rejected reimbursement)."""
    acting = _require_claimant(claimant)
    record = chain_record(bill)
    if not live_lock(record) or record.lock_holder_id != acting:
        raise Conflict(
            "bill_not_locked_by_you", "You hold no live review lock on this bill.", **reimbursement_facts(record)
        )
    return _queue(bill, claimant, JobKind.RELEASE, [leaf_of(bill).issuer_id, bill.bill_ref], actor)


def request_claim(
    target: Bill | ChainLeaf, claimant: Organisation, claim_ref: str, actor: str, amount_fen: int | None = None
) -> ChainJob:
    """Reimburse `amount_fen` of a bill (None: all that remains): one of this platform's, or another member
    platform's by its leaf (from its verified bill file)."""
    acting = _require_claimant(claimant)
    if amount_fen is not None and amount_fen <= 0:
        raise Invalid("invalid_amount", "amount_fen must be a whole number of fen above 0.", "amount_fen")
    leaf = _as_leaf(target)
    problem = refusal(chain_record(leaf), acting, amount_fen)
    if problem is not None:
        raise problem
    args = [*leaf.args(), amount_fen or 0, claim_ref_word(claim_ref)]
    bill = target if isinstance(target, Bill) else None
    return _queue(
        bill,
        claimant,
        JobKind.CLAIM,
        args,
        actor,
        claim_ref=claim_ref,
        amount_fen=amount_fen,
        bill_ref=to_hex(leaf.bill_ref),
        issuer_id=leaf.issuer_id,
    )


def request_paper(bill: Bill, issuer: Organisation, paper_number: str, actor: str) -> ChainJob:
    """Mark the bill converted to paper, once, with the paper bill's number."""
    _require_issuer_of(bill, issuer)
    try:
        word = paper_word(paper_number)
    except (ValueError, UnicodeEncodeError):
        raise Invalid("invalid_paper_number", "paper_number must be 1-32 ASCII characters.", "paper_number") from None
    leaf = leaf_of(bill)
    record = chain_record(leaf)
    if record.status is not ChainStatusV2.ISSUED or live_lock(record):
        raise _settled_conflict(record, "converted to paper")
    args = [*leaf.args_without_issuer(), to_hex(word)]
    return _queue(bill, issuer, JobKind.PAPER, args, actor, paper_number=paper_number)


def request_void_v2(
    bill: Bill, issuer: Organisation, reason: int, note: str, replacement: Bill | None, actor: str
) -> ChainJob:
    """Void (red-letter reversal) a bill nobody has reimbursed or locked; the chain keeps the replacement."""
    _require_issuer_of(bill, issuer)
    if reason not in VOID_REASONS:
        raise Invalid("invalid_reason", f"reason must be one of {sorted(VOID_REASONS)}.", "reason")
    leaf = leaf_of(bill)
    record = chain_record(leaf)
    if record.status is not ChainStatusV2.ISSUED or live_lock(record):
        raise _settled_conflict(record, "voided")
    bill.void_note = note[:200]
    bill.replacement_bill_id = replacement.id if replacement else None
    replacement_ref = replacement.bill_ref if replacement else ZERO32
    args = [*leaf.args_without_issuer(), reason, replacement_ref]
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


def answer_for_refused(target: Bill | ChainLeaf, acting_id: int | None, error: str | None) -> Conflict:
    """The 409 for a transaction the chain refused: why, read from the chain's record now."""
    try:
        record = chain_record(target)
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
    """Reimburse a bill where it is anchored: a part of it on registry v2; on v1 only the whole bill, once
    (also a v1 bill after the platform moved to v2: its claim goes to the v1 registry)."""
    earlier = _earlier_registry(bill)
    if is_v2() and earlier is None:
        return request_claim(bill, claimant, claim_ref, actor, amount_fen)
    if amount_fen is not None and amount_fen != bill.total_fen:
        raise Invalid("invalid_amount", "This bill's registry (v1) reimburses whole bills only.", "amount_fen")
    return settlement.request_claim(bill, claimant, claim_ref, actor, registry=earlier)


def void(bill: Bill, issuer: Organisation, reason: int, note: str, replacement: Bill | None, actor: str) -> ChainJob:
    earlier = _earlier_registry(bill)
    if is_v2() and earlier is None:
        return request_void_v2(bill, issuer, reason, note, replacement, actor)
    return settlement.request_void(bill, issuer, reason, note, replacement, actor, registry=earlier)


def decided_on_v2(job: ChainJob) -> bool:
    """Whether the chain's answer to this job is a registry v2 record (not a v1 bill's settlement)."""
    return is_v2() and not job.registry


def _earlier_registry(bill: Bill) -> str | None:
    """The address of the bill's registry when it is not the current one (a v1 bill after the upgrade)."""
    signed_for, current = registry_of(bill.registry_id), current_registry()
    return None if signed_for.id == current.id else signed_for.address


# ---------------------------------------------------------------- organisations that keep their own key


def verified_leaf(bill_file_data: Any) -> ChainLeaf:
    """The leaf of a bill file that verifies as genuine on this chain (any member platform's bill)."""
    bill_file = BillFile.from_dict(bill_file_data)  # BillValidationError names every bad field
    result = verify_any(bill_file)
    if not result.authentic:
        raise Conflict(f"bill_{result.verdict.value}", f"The bill file does not verify: {result.message}", "bill_file")
    return leaf_of_file(bill_file)


def unsigned_claim(bill_file_data: Any, claim_ref: str, sender: str, amount_fen: int | None = None) -> dict[str, Any]:
    """The exact registry call a reimbursing unit holding its own key signs for a claim: to, data, chain
    id and a gas limit. Nothing is recorded here; the chain's event tells every platform what happened."""
    if amount_fen is not None and amount_fen <= 0:
        raise Invalid("invalid_amount", "amount_fen must be a whole number of fen above 0.", "amount_fen")
    client = _client()
    key = client.key_record(sender)
    if key.org_id == 0 or key.kind is not ChainOrgKind.CLAIMANT or not key.can_act:
        raise NotAllowed("forbidden", "This key is not an active reimbursing organisation's key on chain.", "from")
    leaf = verified_leaf(bill_file_data)
    problem = refusal(chain_record(leaf), key.org_id, amount_fen)
    if problem is not None:
        raise problem
    args = [
        leaf.issuer_id,
        leaf.root,
        list(leaf.proof),
        leaf.bill_ref,
        leaf.content_hash,
        leaf.total_fen,
        amount_fen or 0,
        from_hex(claim_ref_word(claim_ref)),
    ]
    return {
        "to": client.registry_address,
        "data": client.contract.encode_abi("claim", args=args),
        "chain_id": client.chain_id,
        "gas": SETTLEMENT_GAS_V2,
        "value": 0,
        "function": "claim",
        "issuer_id": leaf.issuer_id,
        "bill_ref": to_hex(leaf.bill_ref),
    }


def broadcast(raw_hex: str) -> dict[str, Any]:
    """Send a transaction signed outside every platform (bounded: one transaction, at most 64 KB)."""
    try:
        raw = from_hex(raw_hex)
    except ValueError:
        raise Invalid("invalid_transaction", "raw must be a signed transaction in 0x-hex.", "raw") from None
    if not raw or len(raw) > 65_536:
        raise Invalid("invalid_transaction", "raw must be one signed transaction of at most 64 KB.", "raw")
    client = _client()
    to = _recipient(raw)
    if to is None or to.lower() != client.registry_address.lower():
        raise Invalid("invalid_transaction", "Only transactions to this platform's registry are relayed.", "raw")
    try:
        tx_hash = client.send_raw(raw)
    except ChainError as exc:
        raise Invalid("transaction_rejected", f"The node refused the transaction: {exc}", "raw") from None
    return {"tx_hash": to_hex(tx_hash), "status": "submitted"}


def _recipient(raw: bytes) -> str | None:
    """The `to` of a signed transaction (legacy, EIP-2930 or EIP-1559), None if it cannot be read."""
    try:
        if raw[0] >= 0xC0:  # legacy: [nonce, gasPrice, gas, to, ...]
            fields, at = rlp.decode(raw), 3
        elif raw[0] in (1, 2):  # typed: 1 [chainId, nonce, gasPrice, gas, to, ...]; 2 [..., maxFee, gas, to, ...]
            fields, at = rlp.decode(raw[1:]), 4 if raw[0] == 1 else 5
        else:
            return None
        to = bytes(fields[at])
    except Exception:  # not RLP, too short: not a transaction this relay sends
        return None
    return to_hex(to) if len(to) == 20 else None


def public_proof(bill_ref: str, content_hash: str) -> dict[str, Any]:
    """What another member platform needs to check a QR code of this platform's bill on chain: the leaf
    and its proof, no personal data. The chain, not this answer, says whether it holds."""
    bill = db.session.scalar(select(Bill).where(Bill.bill_ref == bill_ref, Bill.content_hash == content_hash))
    if bill is None or bill.batch is None or bill.batch.tx_hash is None:
        raise NotFound("bill_not_found", "No anchored bill with this reference and content hash here.")
    leaf = leaf_of(bill)
    client = _client()
    return {
        "format": "billchain/proof/v1",
        "chain_id": client.chain_id,
        "registry": client.registry_address,
        "issuer_id": leaf.issuer_id,
        "bill_ref": to_hex(leaf.bill_ref),
        "content_hash": to_hex(leaf.content_hash),
        "total_fen": leaf.total_fen,
        "root": to_hex(leaf.root),
        "proof": [to_hex(p) for p in leaf.proof],
    }
