"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload

from app.bills.billfile import BillFile
from app.extensions import db
from app.models import AuditEntry, Bill, utcnow
from app.platform import platform

if TYPE_CHECKING:
    from app.bills.chainview import ChainBillRecord, ChainOrganisation
    from app.bills.verification import VerificationResult
    from app.chain import RegistryClient


class DatabaseLookup:
    """The platform's own records, so that a verify URL (ref + hash) finds its bill file."""

    def __init__(self) -> None:
        self.found: Bill | None = None

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None:
        from app.services import domain_bill_file

        self.found = bill = db.session.scalar(
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

    lookup = DatabaseLookup()
    result = verify(source, verify_reader(), lookup)
    bill = lookup.found if lookup.found is not None else stored_bill(result)
    if bill is not None:
        tally().add(bill.id, bill.organisation_id)
    return result


class VerificationTally:
    """Counts public verifications per bill (never who asked), written in bulk at most every 2 s.

    A write per verification would make the public verify endpoints as slow as the database's writes;
    a crash loses at most the last two seconds of counts, which are statistics.
    """

    flush_every = 2.0

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def add(self, bill_id: str, organisation_id: int) -> None:
        with self._lock:
            self._pending.append(
                {
                    "actor": "public",
                    "action": "bill.verified",
                    "target": bill_id,
                    "organisation_id": organisation_id,
                    "at": utcnow(),
                }
            )
            due = time.monotonic() - self._last_flush >= self.flush_every or len(self._pending) >= 500
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if batch:
            db.session.execute(insert(AuditEntry), batch)
            db.session.commit()


def tally() -> VerificationTally:
    plat = platform()
    if not isinstance(plat.verification_tally, VerificationTally):
        plat.verification_tally = VerificationTally()
    return plat.verification_tally


def stored_bill(result: VerificationResult) -> Bill | None:
    """The platform's record of the verified bill, if it has one (for claim buttons and bill ids)."""
    if result.bill_ref is None or result.content_hash is None:
        return None
    return db.session.scalar(select(Bill).where(Bill.content_hash == "0x" + result.content_hash.hex()))
