"""Registry v2's events applied to this database: what the chain decided, copied, never decided here.

One place for the rule, used twice: when this platform's own transaction is confirmed (its receipt's
events, so the answer to the request already shows it) and when the indexer copies the registry's logs
(so claims, locks and conversions made from any member platform reach this database within one round).
Applying the same event twice changes nothing: parts are unique by (tx, log index), and a bill's status
and reimbursed sum only move forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.bills.hexstr import to_hex
from app.extensions import db
from app.models import Bill, BillPart, BillStatus, Organisation, OrgStatus, audit

log = logging.getLogger("billchain.projection")

# Statuses in the order the registry moves them (a status never goes back).
_RANK = {
    BillStatus.PENDING: 0,
    BillStatus.ANCHORED: 1,
    BillStatus.PARTLY_CLAIMED: 2,
    BillStatus.CLAIMED: 3,
    BillStatus.PAPER: 3,
    BillStatus.VOIDED: 3,
}


def _hex(value: Any) -> str:
    return to_hex(value) if isinstance(value, bytes | bytearray) else str(value).lower()


def _org_by_chain_id(chain_org_id: int) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.chain_org_id == chain_org_id))


def _bill(issuer_id: int, bill_ref: Any) -> Bill | None:
    """This platform's bill (issuerId, billRef); None when another member platform issued it."""
    return db.session.scalar(
        select(Bill)
        .join(Organisation, Organisation.id == Bill.organisation_id)
        .where(Organisation.chain_org_id == int(issuer_id), Bill.bill_ref == _hex(bill_ref))
        .limit(1)
    )


def _advance(bill: Bill, status: BillStatus) -> None:
    if _RANK[BillStatus(status)] >= _RANK[BillStatus(bill.status)]:
        bill.status = status
        bill.settle_state = None


# ---------------------------------------------------------------- one handler per event


def _registered(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    key = str(args["key"]).lower()
    org = db.session.scalar(select(Organisation).where(func.lower(Organisation.address) == key))
    if org is None:
        return
    org.chain_org_id = int(args["orgId"])
    if org.status == OrgStatus.REGISTERING:
        org.status = OrgStatus.ACTIVE
        org.registered_at = at
        audit("chain", "organisation.admitted", str(org.id), org.id, chain_org_id=org.chain_org_id, tx=tx)


def _revoked(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    org = _org_by_chain_id(int(args["orgId"]))
    if org is not None and org.status != OrgStatus.REVOKED:
        org.status = OrgStatus.REVOKED
        org.revoked_at = datetime.fromtimestamp(int(args["revokedAt"]), UTC) if args.get("revokedAt") else at


def _rotated(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    """The organisation acts with its new key from now on (this platform holds it if it asked for it)."""
    org = _org_by_chain_id(int(args["orgId"]))
    new_key = str(args["newKey"])
    if org is not None and org.address.lower() != new_key.lower():
        audit("chain", "organisation.key_rotated", str(org.id), org.id, old_key=org.address, new_key=new_key, tx=tx)
        org.address = new_key


def _locked(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    bill = _bill(args["issuerId"], args["billRef"])
    if bill is not None:
        bill.lock_holder_chain_id = int(args["holderId"])
        bill.locked_until = datetime.fromtimestamp(int(args["until"]), UTC)
        bill.settle_state = None


def _released(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    bill = _bill(args["issuerId"], args["billRef"])
    if bill is not None and bill.lock_holder_chain_id == int(args["holderId"]):
        bill.lock_holder_chain_id = None
        bill.locked_until = None
        bill.settle_state = None


def _claimed(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    bill = _bill(args["issuerId"], args["billRef"])
    if bill is None:
        return
    claimant = _org_by_chain_id(int(args["claimantId"]))
    exists = db.session.scalar(select(BillPart.id).where(BillPart.tx_hash == tx, BillPart.log_index == index))
    if exists is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    BillPart(
                        bill_id=bill.id,
                        claimant_chain_id=int(args["claimantId"]),
                        organisation_id=claimant.id if claimant else None,
                        amount_fen=int(args["amountFen"]),
                        remaining_fen=int(args["remainingFen"]),
                        claim_ref=_hex(args["claimRef"]),
                        tx_hash=tx,
                        log_index=index,
                        block_number=block,
                        block_time=at,
                    )
                )
        except IntegrityError:  # another indexer stored this part first
            pass
    reimbursed = bill.total_fen - int(args["remainingFen"])
    if reimbursed >= (bill.reimbursed_fen or 0):
        bill.reimbursed_fen = reimbursed
        bill.settled_by_org_id = claimant.id if claimant else None
        bill.settled_at = at
        bill.settle_tx = tx
        # The claimant's claim ends any lock it held (the registry rewrites the bill's word).
        bill.lock_holder_chain_id = None
        bill.locked_until = None
    _advance(bill, BillStatus.CLAIMED if int(args["remainingFen"]) == 0 else BillStatus.PARTLY_CLAIMED)


def _voided(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    bill = _bill(args["issuerId"], args["billRef"])
    if bill is None:
        return
    replacement = _hex(args.get("replacementRef") or bytes(32))
    bill.replacement_ref = None if int(replacement, 16) == 0 else replacement
    bill.void_reason = int(args["reasonCode"])
    bill.settled_by_org_id = bill.organisation_id
    bill.settled_at = at
    bill.settle_tx = tx
    _advance(bill, BillStatus.VOIDED)


def _paper(args: dict[str, Any], at: datetime | None, tx: str, index: int, block: int) -> None:
    bill = _bill(args["issuerId"], args["billRef"])
    if bill is None:
        return
    raw = bytes.fromhex(_hex(args["paperNumber"])[2:]).rstrip(b"\0")
    bill.paper_number = raw.decode("ascii", errors="replace")
    bill.settled_by_org_id = bill.organisation_id
    bill.settled_at = at
    bill.settle_tx = tx
    _advance(bill, BillStatus.PAPER)


_HANDLERS: dict[str, Callable[[dict[str, Any], datetime | None, str, int, int], None]] = {
    "OrganisationRegistered": _registered,
    "OrganisationRevoked": _revoked,
    "OrganisationKeyRotated": _rotated,
    "BillLocked": _locked,
    "BillReleased": _released,
    "BillClaimed": _claimed,
    "BillVoided": _voided,
    "BillConvertedToPaper": _paper,
}


def apply_events(events: Iterable[Any], block_time: datetime | None = None) -> int:
    """Apply registry v2 events (RegistryEvent or stored ChainEvent-like objects) to this database.

    Returns how many had a handler. The caller commits.
    """
    applied = 0
    for event in events:
        handler = _HANDLERS.get(event.name)
        # Registry v1 has events of the same names, keyed by addresses: only v2's (stable ids) apply here.
        if handler is None or not ({"issuerId", "orgId"} & set(event.args)):
            continue
        at = getattr(event, "block_time", None) or block_time
        handler(dict(event.args), at, _hex(event.tx_hash), int(event.log_index), int(event.block_number))
        applied += 1
    return applied
