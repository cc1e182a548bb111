"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import insert, select

from app.bills.billfile import BillFile
from app.bills.chainview import ChainBillRecord, ChainOrganisation
from app.bills.hexstr import to_hex
from app.bills.verification import VerificationResult, verify
from app.chain import RegistryClient
from app.extensions import db
from app.models import AnchorBatch, AuditEntry, Bill, Organisation, utcnow
from app.runtime import runtime
from app.services.billfiles import StoredBillRow, make_bill_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredBill:
    """What verification needs of a stored bill: its file, and ids for the verification count."""

    file: BillFile
    bill_id: str
    organisation_id: int


class BillFileCache:
    """Anchored bill files by content hash. A bill never changes once anchored (its status lives on
    chain), so caching its file is exact; pending bills are never cached, as their anchoring is coming."""

    size = 20_000

    def __init__(self) -> None:
        self._files: OrderedDict[str, StoredBill] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, content_hash: str) -> StoredBill | None:
        with self._lock:
            hit = self._files.get(content_hash)
            if hit is not None:
                self._files.move_to_end(content_hash)
            return hit

    def put(self, content_hash: str, stored: StoredBill) -> None:
        with self._lock:
            self._files[content_hash] = stored
            if len(self._files) > self.size:
                self._files.popitem(last=False)


class DatabaseLookup:
    """The platform's own records, so that a verify URL (ref + hash) finds its bill file."""

    def __init__(self, cache: BillFileCache | None = None) -> None:
        self.cache = cache
        self.found: StoredBill | None = None

    def find_bill_file(self, bill_ref: bytes, content_hash: bytes) -> BillFile | None:
        key = to_hex(content_hash)
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is None:
            # A column query, not ORM objects: this runs for every bill a verifier sees first.
            row = db.session.execute(
                select(
                    Bill.id,
                    Bill.organisation_id,
                    Bill.document,
                    Bill.content_hash,
                    Bill.bill_ref,
                    Organisation.address,
                    Bill.signature,
                    Bill.status,
                    Bill.proof,
                    AnchorBatch.root,
                    AnchorBatch.tx_hash,
                    AnchorBatch.block_number,
                    AnchorBatch.anchored_at,
                )
                .join(Organisation, Organisation.id == Bill.organisation_id)
                .outerjoin(AnchorBatch, AnchorBatch.id == Bill.batch_id)
                .where(Bill.content_hash == key)
            ).first()
            if row is None:
                return None
            stored = StoredBill(make_bill_file(StoredBillRow(*row[2:])), row.id, row.organisation_id)
            if stored.file.anchoring is not None and self.cache is not None:
                self.cache.put(key, stored)
        if stored.file.bill_ref != bill_ref:
            return None
        self.found = stored
        return stored.file

    def has_bill_ref(self, bill_ref: bytes) -> bool:
        return db.session.scalar(select(Bill.id).where(Bill.bill_ref == to_hex(bill_ref)).limit(1)) is not None


class VerifyReader:
    """The chain reader for verification: organisations cached for `org_ttl`, bill records for
    BILLCHAIN_VERIFY_CACHE seconds.

    Names change only on registration; the revocation cut-off travels with each bill's own record. A
    bill record may lag the chain by at most the record TTL (1 s by default, 0 turns it off): a verify
    answer is advice, while a claim is always decided by the contract itself, and this process drops
    the cache at once when its worker confirms a claim or void.
    """

    org_ttl = 30.0

    def __init__(self, client: RegistryClient, record_ttl: float) -> None:
        self.client = client
        self.record_ttl = record_ttl
        self._orgs: dict[str, tuple[float, ChainOrganisation | None]] = {}
        self._records: dict[tuple[bytes, bytes, bytes], tuple[float, ChainBillRecord]] = {}
        self._lock = threading.Lock()

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def registry_address(self) -> str:
        return self.client.registry_address

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        if self.record_ttl <= 0:
            return self.client.bill_record(root, proof, bill_ref, content_hash)
        key, now = (bytes(root), bytes(bill_ref), bytes(content_hash)), time.monotonic()
        hit = self._records.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = self.client.bill_record(root, proof, bill_ref, content_hash)
        with self._lock:
            if len(self._records) > 100_000:
                self._records.clear()
            self._records[key] = (now + self.record_ttl, record)
        return record

    def organisation(self, address: str) -> ChainOrganisation | None:
        key, now = address.lower(), time.monotonic()
        hit = self._orgs.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        org = self.client.organisation(address)
        with self._lock:
            self._orgs[key] = (now + self.org_ttl, org)
        return org

    def forget_settlements(self) -> None:
        """A claim or void was confirmed here: no cached record may hide it."""
        with self._lock:
            self._records.clear()


def verify_reader() -> VerifyReader:
    rt = runtime()
    client = rt.client
    reader = rt.verify_reader
    if not isinstance(reader, VerifyReader) or reader.client is not client:
        reader = rt.verify_reader = VerifyReader(client, float(rt.config["BILLCHAIN_VERIFY_CACHE"]))
        rt.bill_file_cache = BillFileCache()
    return reader


def verify_any(source: Any) -> VerificationResult:
    """A bill file (text, bytes or dict), a QR photo (image bytes) or a verify URL."""
    reader = verify_reader()
    lookup = DatabaseLookup(runtime().bill_file_cache)
    result = verify(source, reader, lookup)
    if lookup.found is not None:
        tally().add(lookup.found.bill_id, lookup.found.organisation_id)
    elif (bill := stored_bill(result)) is not None:
        tally().add(bill.id, bill.organisation_id)
    return result


class VerificationTally:
    """Counts public verifications per bill (never who asked), written in bulk every 2 s by a thread.

    A write per verification, or a flush inside a request, would put the database's write latency on
    the public verify endpoints; a crash loses at most the last two seconds of counts (statistics).
    """

    flush_every = 2.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, bill_id: str, organisation_id: int) -> None:
        row = {
            "actor": "public",
            "action": "bill.verified",
            "target": bill_id,
            "organisation_id": organisation_id,
            "at": utcnow(),
        }
        with self._lock:
            self._pending.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="verification-tally", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.flush_every)
            try:
                with self.app.app_context():
                    self.flush()
            except Exception:  # counts are statistics: a failed write must not stop the next ones
                log.exception("could not write verification counts")

    def flush(self) -> None:
        """Write what is pending now (the thread does this every `flush_every` seconds)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            db.session.execute(insert(AuditEntry), batch)
            db.session.commit()


def tally() -> VerificationTally:
    rt = runtime()
    if not isinstance(rt.verification_tally, VerificationTally):
        rt.verification_tally = VerificationTally(rt.app)
    return rt.verification_tally


def stored_bill(result: VerificationResult) -> Bill | None:
    """The platform's record of the verified bill, if it has one (for claim buttons and bill ids)."""
    if result.bill_ref is None or result.content_hash is None:
        return None
    return db.session.scalar(select(Bill).where(Bill.content_hash == to_hex(result.content_hash)))
