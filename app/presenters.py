"""How bills look to each audience: the owner sees everything, anyone else sees what the print shows."""

from __future__ import annotations

from typing import Any

from app.bills.model import mask_id_number
from app.models import Bill, iso
from app.platform import platform


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


def masked_document(document: dict[str, Any]) -> dict[str, Any]:
    """The bill as printed: payer ID masked, contact details and salt left out."""
    data = {k: v for k, v in document.items() if k not in ("salt", "contact")}
    payer = dict(data.get("payer") or {})
    if payer.get("id_number"):
        payer["id_number"] = mask_id_number(payer["id_number"])
    data["payer"] = payer
    return data


def anchoring(bill: Bill) -> dict[str, Any] | None:
    batch = bill.batch
    if batch is None or not batch.tx_hash or bill.status == "pending":
        return None
    return {
        "root": batch.root,
        "proof": bill.proof or [],
        "tx_hash": batch.tx_hash,
        "tx_url": platform().tx_url(batch.tx_hash),
        "block_number": batch.block_number,
        "anchored_at": iso(batch.anchored_at),
        "batch_size": batch.size,
    }


def settlement(bill: Bill) -> dict[str, Any] | None:
    if bill.settled_by is None:
        return None
    return {
        "kind": "claim" if bill.status == "claimed" or bill.settle_state == "claiming" else "void",
        "confirmed": bill.status in ("claimed", "voided"),
        "by": bill.settled_by.name,
        "by_address": bill.settled_by.address,
        "requested_at": iso(bill.settle_requested_at),
        "at": iso(bill.settled_at),
        "tx_hash": bill.settle_tx,
        "claim_ref": bill.claim_ref,
        "void_reason": bill.void_reason,
    }


def bill_detail(bill: Bill, verify_url: str, *, masked: bool) -> dict[str, Any]:
    return {
        **bill_summary(bill, verify_url),
        "issuer": {
            "name": bill.organisation.name,
            "credit_code": bill.organisation.credit_code,
            "address": bill.organisation.address,
        },
        "bill": masked_document(bill.document) if masked else bill.document,
        "total_fen": bill.total_fen,
        "issued_at": iso(bill.issued_at),
        "created_at": iso(bill.created_at),
        "anchoring": anchoring(bill),
        "settlement": settlement(bill),
    }
