"""Who sees which bill, and masked how: one rule for the API, the pages, the wallet and every download.

- The issuing organisation sees its own bills in full and downloads their bill files.
- The payer, in their wallet, sees in full (and downloads) the bills whose recorded contact the wallet has
  proven: a bill is theirs if its payer key is one the wallet opened AND its phone or e-mail is one the
  wallet received a one-time code at. Proving one contact never opens bills under the same ID number that
  carry another contact; bills with neither an ID number nor a contact are in no wallet.
- Reimbursing units and the finance department see any bill as printed (payer ID masked, contact and
  salt left out) and never download the bill file, which holds the payer's full ID, phone and salt.
- Anyone else, and an issuer asking for another issuer's bill, is told there is no such bill (404, not
  403: a bill id must not be confirmed to strangers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.bills.privacy import printed_document
from app.bills.times import utc_iso
from app.extensions import db
from app.models import Bill, BillPart, BillStatus, Organisation, OrgKind, SettleState, WalletEntry, utcnow
from app.runtime import runtime
from app.services.errors import NotAllowed, not_found


@dataclass(frozen=True)
class Viewer:
    """Who is looking: an organisation (web login or API token) or a payer in their wallet (payer key)."""

    organisation: Organisation | None = None
    # A payer in their wallet: the (payer key, normalised contact) pairs it proved with one-time codes.
    proven_contacts: frozenset[tuple[str, str]] | None = None


@dataclass(frozen=True)
class BillAccess:
    """A bill as one viewer may see it."""

    bill: Bill
    masked: bool

    @property
    def is_owner(self) -> bool:
        """The issuer or the payer: the two who may see and download everything."""
        return not self.masked

    @property
    def document(self) -> dict[str, Any]:
        """The bill content to show this viewer."""
        return printed_document(self.bill.document) if self.masked else self.bill.document

    @property
    def print_document(self) -> dict[str, Any]:
        """The content of a print or PDF: never the contact or salt; the payer ID masked unless the owner's."""
        if self.masked:
            return printed_document(self.bill.document)
        return {k: v for k, v in self.bill.document.items() if k not in ("salt", "contact")}

    def require_file(self) -> Bill:
        """The bill, if this viewer may download its bill file (it holds the payer's data unmasked)."""
        if self.masked:
            raise NotAllowed(
                "forbidden", "Only the issuer and the payer download the bill file (it holds the payer's data)."
            )
        return self.bill


def bill_access(bill_id: str, viewer: Viewer) -> BillAccess:
    """The bill as `viewer` may see it, or NotFound."""
    bill = db.session.get(Bill, bill_id)
    if bill is None:
        raise not_found()
    if viewer.proven_contacts is not None:
        if bill.id in {b.id for b in wallet_bills(viewer.proven_contacts)}:
            return BillAccess(bill, masked=False)
        raise not_found()
    org = viewer.organisation
    if org is None:
        raise not_found()
    if org.kind == OrgKind.ISSUER:
        if bill.organisation_id != org.id:
            raise not_found()
        return BillAccess(bill, masked=False)
    if org.kind in (OrgKind.CLAIMANT, OrgKind.FINANCE):
        return BillAccess(bill, masked=True)
    raise not_found()


def normalise_contact(text: str) -> str:
    """Phones without spaces or dashes, e-mails in lower case: how the two sides are compared."""
    text = text.strip()
    return text.lower() if "@" in text else re.sub(r"[\s-]", "", text)


def document_contacts(document: dict[str, Any]) -> set[str]:
    """The normalised phone and e-mail recorded on a bill (none: the bill is in no wallet)."""
    on_bill = document.get("contact") or {}
    return {normalise_contact(str(v)) for v in on_bill.values() if v} if isinstance(on_bill, dict) else set()


def wallet_visible(bill: Bill, proven: frozenset[tuple[str, str]]) -> bool:
    """The one wallet rule: the bill's payer key with one of the bill's own contacts was proven."""
    return any((bill.payer_key, contact) in proven for contact in document_contacts(bill.document))


def wallet_entries(proven: frozenset[tuple[str, str]]) -> list[WalletEntry]:
    """Bills added from a file or photo, kept for the (payer key, contact) that was proven when adding them."""
    keys = {key for key, _ in proven}
    if not keys:
        return []
    entries = db.session.scalars(
        select(WalletEntry).where(WalletEntry.payer_key.in_(keys)).order_by(WalletEntry.added_at.desc())
    )
    return [e for e in entries if e.contact is not None and (e.payer_key, e.contact) in proven]


def wallet_bills(proven: frozenset[tuple[str, str]]) -> list[Bill]:
    """A payer's bills: those issued here to a proven payer key and contact, and those added under one."""
    keys = {key for key, _ in proven}
    if not keys:
        return []
    candidates = db.session.scalars(select(Bill).where(Bill.payer_key.in_(keys)).order_by(Bill.issued_at.desc()))
    own = [b for b in candidates if wallet_visible(b, proven)]
    seen = {b.id for b in own}
    added_ids = [e.bill_id for e in wallet_entries(proven) if e.bill_id and e.bill_id not in seen]
    extra = list(db.session.scalars(select(Bill).where(Bill.id.in_(added_ids)))) if added_ids else []
    return own + extra


# ---------------------------------------------------------------- the bill as an answer


def bill_summary(bill: Bill, verify_url: str) -> dict[str, Any]:
    return {
        "id": bill.id,
        "status": bill.status,
        "verify_url": verify_url,
        "bill_code": bill.bill_code,
        "bill_number": bill.bill_number,
        "bill_ref": bill.bill_ref,
        "content_hash": bill.content_hash,
    }


def anchoring(bill: Bill) -> dict[str, Any] | None:
    batch = bill.batch
    if batch is None or not batch.tx_hash or bill.status == BillStatus.PENDING:
        return None
    return {
        "root": batch.root,
        "proof": bill.proof or [],
        "tx_hash": batch.tx_hash,
        "tx_url": runtime().tx_url(batch.tx_hash),
        "block_number": batch.block_number,
        "anchored_at": utc_iso(batch.anchored_at),
        "batch_size": batch.size,
    }


def settlement(bill: Bill) -> dict[str, Any] | None:
    if bill.settled_by is None:
        return None
    return {
        "kind": "claim" if bill.status == BillStatus.CLAIMED or bill.settle_state == SettleState.CLAIMING else "void",
        "confirmed": bill.status in (BillStatus.CLAIMED, BillStatus.VOIDED),
        "by": bill.settled_by.name,
        "by_address": bill.settled_by.address,
        "requested_at": utc_iso(bill.settle_requested_at),
        "at": utc_iso(bill.settled_at),
        "tx_hash": bill.settle_tx,
        "claim_ref": bill.claim_ref,
        "void_reason": bill.void_reason,
    }


def reimbursement(bill: Bill) -> dict[str, Any]:
    """Where the money stands, as the chain's events left it: each part (who, how much, when), what
    remains, a live review lock, a paper conversion, the replacement of a voided bill."""
    parts = db.session.scalars(
        select(BillPart).where(BillPart.bill_id == bill.id).order_by(BillPart.block_number, BillPart.log_index)
    ).all()
    names = _names_by_chain_id({p.claimant_chain_id for p in parts} | {bill.lock_holder_chain_id or 0})
    reimbursed = bill.reimbursed_fen or (bill.total_fen if bill.status == BillStatus.CLAIMED else 0)
    live_lock = bill.locked_until is not None and bill.locked_until > utcnow() and bill.lock_holder_chain_id
    replacement_id = None
    if bill.replacement_ref:
        replacement_id = db.session.scalar(
            select(Bill.id).where(Bill.bill_ref == bill.replacement_ref, Bill.organisation_id == bill.organisation_id)
        )
    return {
        "total_fen": bill.total_fen,
        "reimbursed_fen": reimbursed,
        "remaining_fen": max(bill.total_fen - reimbursed, 0) if bill.status not in _CLOSED else 0,
        "parts": [
            {
                "by": names.get(p.claimant_chain_id) or f"#{p.claimant_chain_id}",
                "by_id": p.claimant_chain_id,
                "amount_fen": p.amount_fen,
                "remaining_fen": p.remaining_fen,
                "at": utc_iso(p.block_time),
                "tx_hash": p.tx_hash,
            }
            for p in parts
        ],
        "lock": {
            "by": names.get(bill.lock_holder_chain_id or 0),
            "by_id": bill.lock_holder_chain_id,
            "until": utc_iso(bill.locked_until),
        }
        if live_lock
        else None,
        "paper_number": bill.paper_number,
        "replacement": {"bill_ref": bill.replacement_ref, "bill_id": replacement_id} if bill.replacement_ref else None,
    }


_CLOSED = (BillStatus.VOIDED, BillStatus.PAPER)


def _names_by_chain_id(ids: set[int]) -> dict[int, str]:
    """Organisations by stable chain id: this platform's from its database (others show by id)."""
    ids.discard(0)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Organisation.chain_org_id, Organisation.name).where(Organisation.chain_org_id.in_(ids))
    )
    return {int(i): str(n) for i, n in rows if i is not None}


def bill_status(bill: Bill) -> dict[str, Any]:
    return {
        "status": bill.status,
        "settle_state": bill.settle_state,
        "anchoring": anchoring(bill),
        "settlement": settlement(bill),
        "reimbursement": reimbursement(bill),
    }


def bill_detail(access: BillAccess, verify_url: str) -> dict[str, Any]:
    bill = access.bill
    return {
        **bill_summary(bill, verify_url),
        "issuer": {
            "name": bill.organisation.name,
            "credit_code": bill.organisation.credit_code,
            "address": bill.organisation.address,
        },
        "bill": access.document,
        "total_fen": bill.total_fen,
        "issued_at": utc_iso(bill.issued_at),
        "created_at": utc_iso(bill.created_at),
        "anchoring": anchoring(bill),
        "settlement": settlement(bill),
        "reimbursement": reimbursement(bill),
    }
