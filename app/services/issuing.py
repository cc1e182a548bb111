"""Issuing: validate all, then store and sign all at once; anchoring follows and never delays it."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from app.bills.errors import BillValidationError, FieldError
from app.bills.hashing import Domain, sign_bill
from app.bills.hexstr import to_hex
from app.bills.model import Bill as DomainBill
from app.extensions import db
from app.models import (
    Bill,
    BillStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    audit,
    new_id,
    utcnow,
)
from app.runtime import runtime
from app.services.billfiles import current_registry
from app.services.delivery import queue_deliveries, wake_delivery
from app.services.errors import Conflict, Invalid, NotAllowed, TooLarge


def payer_key(id_number: str | None, name: str) -> str:
    """A keyed hash of the payer's ID number (or name, if none): lets the wallet find a payer's bills."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    basis = (id_number or f"name:{name}").strip().upper()
    return hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()


def issue_bills(org: Organisation, payloads: list[dict[str, Any]], actor: str, *, wake: bool = True) -> list[Bill]:
    """Validate all, then store and sign all, in one transaction: a bulk request lands whole or not at all.

    `wake=False` leaves the worker to its interval: an import issuing chunk after chunk wants a few
    large roots, not one small root per chunk.
    """
    if org.kind != OrgKind.ISSUER:
        raise NotAllowed("forbidden", "Only issuing organisations may issue bills.")
    if org.status != OrgStatus.ACTIVE:
        refusal = NotAllowed if org.status == OrgStatus.REVOKED else Conflict
        raise refusal("organisation_not_active", f"The organisation is {org.status}; it cannot issue bills.")
    limit = int(current_app.config["BILLCHAIN_MAX_BULK"])
    if not payloads:
        raise Invalid("invalid_bill", "Send one bill or a list of bills.", "body")
    if len(payloads) > limit:
        raise TooLarge("too_many_bills", f"At most {limit} bills in one request.", "body")

    registry = current_registry()
    domain = Domain(registry.chain_id, registry.address)
    account = runtime().account(org.address)
    numbers = _allocate_numbers(org, payloads)

    domain_bills: list[DomainBill] = []
    errors: list[FieldError] = []
    for index, payload in enumerate(payloads):
        prefix = f"[{index}]." if len(payloads) > 1 else ""
        data = dict(payload) if isinstance(payload, dict) else {}
        if not isinstance(payload, dict):
            errors.append(FieldError(prefix.rstrip(".") or "body", "must be a JSON object"))
            continue
        data["issuer"] = {"name": org.name, "credit_code": org.credit_code}
        data.setdefault("bill_code", org_bill_code(org))
        data.setdefault("bill_number", numbers[index])
        data.setdefault("issued_at", utcnow().isoformat())
        try:
            domain_bills.append(DomainBill.create(data))
        except BillValidationError as exc:
            errors.extend(FieldError(prefix + e.field, e.message) for e in exc.errors)
    if errors:
        db.session.rollback()
        raise BillValidationError(errors)

    # Core bulk INSERT rather than ORM objects: the unit of work costs more than signing at 1,000 bills.
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for bill in domain_bills:
        digest, signature = sign_bill(bill, domain, account)
        rows.append(
            dict(
                id=new_id(),
                organisation_id=org.id,
                bill_code=bill.bill_code,
                bill_number=bill.bill_number,
                bill_type=bill.bill_type.value,
                bill_ref=to_hex(bill.bill_ref),
                content_hash=to_hex(digest),
                payer_name=bill.payer.name,
                payer_key=payer_key(bill.payer.id_number, bill.payer.name),
                total_fen=bill.total_fen,
                issued_at=bill.issued_at,
                document=bill.to_dict(),
                signature=to_hex(signature.value),
                signer=org.address,
                status=BillStatus.PENDING,
                created_at=now,
                registry_id=registry.id,
            )
        )
    try:
        db.session.execute(insert(Bill), rows)
        queue_deliveries(rows)  # rows only: the delivery worker sends them, issuing never waits for a gateway
        audit(actor, "bills.issued", rows[0]["id"] if len(rows) == 1 else None, org.id, count=len(rows))
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "duplicate_bill_number", "A bill with this bill code and number was already issued.", "bill_number"
        ) from exc
    if wake:
        runtime().wake_worker()
        wake_delivery()
    return [Bill(**row) for row in rows]  # transient views for the answer; the rows are stored


def org_bill_code(org: Organisation) -> str:
    """The 8-digit bill code the finance department assigns; derived from the credit code here."""
    digits = "".join(c for c in org.credit_code if c.isdigit())
    return (digits + "00000000")[:8]


def _allocate_numbers(org: Organisation, payloads: list[Any]) -> list[str]:
    """Reserve consecutive bill numbers: the UPDATE locks the organisation row until commit."""
    wanted = sum(1 for p in payloads if not (isinstance(p, dict) and p.get("bill_number")))
    if wanted == 0:
        return ["" for _ in payloads]
    db.session.execute(
        update(Organisation)
        .where(Organisation.id == org.id)
        .values(next_bill_number=Organisation.next_bill_number + wanted)
    )
    end = db.session.scalar(select(Organisation.next_bill_number).where(Organisation.id == org.id))
    assert end is not None
    start = end - wanted
    out: list[str] = []
    for payload in payloads:
        if isinstance(payload, dict) and payload.get("bill_number"):
            out.append("")
        else:
            out.append(f"{start:010d}")
            start += 1
    return out
