"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.bills.billfile import BillFile
from app.extensions import db
from app.models import Bill
from app.platform import platform

if TYPE_CHECKING:
    from app.bills.verification import VerificationResult


class DatabaseLookup:
    """The platform's own records, so that a verify URL (ref + hash) finds its bill file."""

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None:
        from app.services import domain_bill_file

        bill = db.session.scalar(select(Bill).where(Bill.content_hash == "0x" + content_hash.hex()))
        if bill is None or bill.bill_ref != "0x" + bill_ref.hex():
            return None
        return domain_bill_file(bill)

    def has_bill_ref(self, bill_ref: bytes) -> bool:
        return db.session.scalar(select(Bill.id).where(Bill.bill_ref == "0x" + bill_ref.hex()).limit(1)) is not None


def verify_any(source: Any) -> VerificationResult:
    """A bill file (text, bytes or dict), a QR photo (image bytes) or a verify URL."""
    from app.bills.verification import verify

    return verify(source, platform().client, DatabaseLookup())


def stored_bill(result: VerificationResult) -> Bill | None:
    """The platform's record of the verified bill, if it has one (for claim buttons and bill ids)."""
    if result.bill_ref is None or result.content_hash is None:
        return None
    return db.session.scalar(select(Bill).where(Bill.content_hash == "0x" + result.content_hash.hex()))
