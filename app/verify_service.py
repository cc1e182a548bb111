"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.bills.billfile import BillFile
from app.extensions import db
from app.models import Bill
from app.platform import platform

if TYPE_CHECKING:
    from app.bills.chainview import ChainBillRecord, ChainOrganisation
    from app.bills.verification import VerificationResult
    from app.chain import RegistryClient


class DatabaseLookup:
    """The platform's own records, so that a verify URL (ref + hash) finds its bill file."""

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None:
        from app.services import domain_bill_file

        bill = db.session.scalar(
            select(Bill)
            .options(joinedload(Bill.organisation), joinedload(Bill.batch))
            .where(Bill.content_hash == "0x" + content_hash.hex())
        )
        if bill is None or bill.bill_ref != "0x" + bill_ref.hex():
            return None
        return domain_bill_file(bill)

    def has_bill_ref(self, bill_ref: bytes) -> bool:
        return db.session.scalar(select(Bill.id).where(Bill.bill_ref == "0x" + bill_ref.hex()).limit(1)) is not None


class OrganisationCache:
    """The chain reader for verification, with organisations cached for a short while.

    Every check shows the issuer's registered name, which changes only on registration; the one fact
    that must be fresh, the revocation cut-off, comes uncached with the bill's own record.
    """

    ttl = 30.0

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self._orgs: dict[str, tuple[float, ChainOrganisation | None]] = {}
        self._lock = threading.Lock()

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def registry_address(self) -> str:
        return self.client.registry_address

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        return self.client.bill_record(root, proof, bill_ref, content_hash)

    def organisation(self, address: str) -> ChainOrganisation | None:
        key, now = address.lower(), time.monotonic()
        hit = self._orgs.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        org = self.client.organisation(address)
        with self._lock:
            self._orgs[key] = (now + self.ttl, org)
        return org


def verify_reader() -> OrganisationCache:
    plat = platform()
    client = plat.client
    reader = plat.verify_reader
    if not isinstance(reader, OrganisationCache) or reader.client is not client:
        reader = plat.verify_reader = OrganisationCache(client)
    return reader


def verify_any(source: Any) -> VerificationResult:
    """A bill file (text, bytes or dict), a QR photo (image bytes) or a verify URL."""
    from app.bills.verification import verify

    return verify(source, verify_reader(), DatabaseLookup())


def stored_bill(result: VerificationResult) -> Bill | None:
    """The platform's record of the verified bill, if it has one (for claim buttons and bill ids)."""
    if result.bill_ref is None or result.content_hash is None:
        return None
    return db.session.scalar(select(Bill).where(Bill.content_hash == "0x" + result.content_hash.hex()))
