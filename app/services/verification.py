"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.bills.billfile import BillFile
from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainStatus
from app.bills.hexstr import to_hex
from app.bills.merkle import verify_proof
from app.bills.verification import VerificationResult, verify
from app.chain import RegistryClient
from app.extensions import db
from app.models import AnchorBatch, Bill, ChainEvent, ChainState, Organisation, VerificationCount, utcnow
from app.outbox.indexer import CURSOR_KEY
from app.runtime import runtime
from app.services.billfiles import StoredBillRow, make_bill_file
from app.services.sealing import is_ofd, verify_sealed_ofd

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    return str(to_checksum_address(address))


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


class IndexedRegistry:
    """The registry's state as the indexer copied it into `chain_events`, up to its cursor, in memory.

    Anchors by root, settlements by (issuer, bill reference), revocations by organisation: exactly what
    the registry's `verify` reads, so a record can be answered here as of the cursor's block, with no
    eth_call. `block` is -1 until an index exists. Refreshed incrementally (events after `block`).
    """

    def __init__(self) -> None:
        self.block = -1
        self.anchors: dict[str, tuple[str, datetime]] = {}
        self.settlements: dict[tuple[str, str], tuple[ChainStatus, str, datetime]] = {}
        self.revoked: dict[str, datetime] = {}

    def _clear(self) -> None:
        self.block = -1
        self.anchors, self.settlements, self.revoked = {}, {}, {}

    def refresh(self) -> int:
        """Catch up with the indexer's cursor (inside an app context); the block it now speaks for."""
        value = db.session.scalar(select(ChainState.value).where(ChainState.key == CURSOR_KEY))
        cursor = int(value) if value is not None else -1
        if cursor < self.block:  # the index was reset: start over
            self._clear()
        if cursor == self.block:
            return cursor
        rows = db.session.execute(
            select(ChainEvent.name, ChainEvent.args, ChainEvent.block_time)
            .where(ChainEvent.block_number > self.block, ChainEvent.block_number <= cursor)
            .where(ChainEvent.name.in_(("BillsAnchored", "BillClaimed", "BillVoided", "OrganisationRevoked")))
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        ).all()
        for name, args, at in rows:
            self._apply(name, args, at)
        self.block = cursor  # last: a reader that read `block` first never misses what it names
        return cursor

    def _apply(self, name: str, args: dict[str, Any], at: datetime | None) -> None:
        if at is None:  # indexed without block times: cannot answer from here, the chain will
            raise ValueError(f"indexed {name} has no block time")
        if name == "BillsAnchored":
            self.anchors[str(args["root"]).lower()] = (_checksum(args["issuer"]), at)
        elif name == "BillClaimed":
            key = (str(args["issuer"]).lower(), str(args["billRef"]).lower())
            self.settlements[key] = (ChainStatus.CLAIMED, _checksum(args["claimant"]), at)
        elif name == "BillVoided":
            key = (str(args["issuer"]).lower(), str(args["billRef"]).lower())
            self.settlements[key] = (ChainStatus.VOIDED, _checksum(args["issuer"]), at)
        elif name == "OrganisationRevoked":
            self.revoked[str(args["account"]).lower()] = datetime.fromtimestamp(int(args["revokedAt"]), UTC)

    def record(
        self, block: int, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes
    ) -> ChainBillRecord:
        """What IBillRegistry.verify answers at `block` (which the caller read from `self.block` first)."""
        anchor = self.anchors.get(to_hex(root))
        if anchor is None or not verify_proof(root, proof, bill_ref, content_hash):
            return ChainBillRecord(ChainStatus.UNKNOWN, ZERO_ADDRESS, None, None, None, None, as_of_block=block)
        issuer, anchored_at = anchor
        settled = self.settlements.get((issuer.lower(), to_hex(bill_ref)))
        return ChainBillRecord(
            status=settled[0] if settled else ChainStatus.ISSUED,
            issuer=issuer,
            anchored_at=anchored_at,
            issuer_revoked_at=self.revoked.get(issuer.lower()),
            settled_by=settled[1] if settled else None,
            settled_at=settled[2] if settled else None,
            as_of_block=block,
        )


class AnswerCache:
    """Answers to verify URLs, each valid only while the reader answers from the same indexed block.

    A URL names one bill (reference + content hash) and its file never changes once anchored, so at
    one block the answer is the same: a revisit within that block costs a dictionary look-up. Any new
    indexed block, a lagging index or `org_ttl` seconds end an answer's validity.
    """

    size = 20_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._answers: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, reader: VerifyReader) -> Any:
        hit = self._answers.get(url)
        if hit is None:
            return None
        block, until, value = hit
        if time.monotonic() > until or block != reader.index.block or reader.index.block < reader.head():
            return None
        return value

    def put(self, url: str, reader: VerifyReader, value: tuple[VerificationResult, str, int]) -> None:
        block = value[0].as_of_block
        if block is None or block != reader.index.block:  # only answers the index gave, at its block
            return
        with self._lock:
            self._answers[url] = (block, time.monotonic() + self.ttl, value)
            self._answers.move_to_end(url)
            if len(self._answers) > self.size:
                self._answers.popitem(last=False)


class VerifyReader:
    """The chain reader for verification: every answer is the state of a named block (`as_of_block`).

    The chain's head number is cached for BILLCHAIN_VERIFY_CACHE seconds (0: asked every time). When
    the indexer has copied the registry's events up to that head, a bill's record comes from memory
    (IndexedRegistry) as of the index's block; when the index lags, the chain is read with the eth_call
    pinned to the head's number. Either way, every claim or void mined at or before the named block is
    in the answer. A claim is always decided by the contract itself; when this process's worker
    confirms one, the head is asked again at once, so the next answer names a block that has it.
    Organisations (names) are cached for `org_ttl`; the revocation cut-off travels with the record.
    """

    org_ttl = 30.0

    def __init__(self, client: RegistryClient, head_ttl: float) -> None:
        self.client = client
        self.head_ttl = head_ttl
        self.index = IndexedRegistry()
        self._head = -1
        self._head_until = 0.0
        self._orgs: dict[str, tuple[float, ChainOrganisation | None]] = {}
        self._lock = threading.Lock()
        self._head_lock = threading.Lock()
        self.answered = {"index": 0, "chain": 0}  # how records were answered (the bench reports it)
        self.answers = AnswerCache(self.org_ttl)

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def registry_address(self) -> str:
        return self.client.registry_address

    def head(self, *, fresh: bool = False) -> int:
        """The chain's head number (cached ≤ head_ttl), with the in-memory index caught up beside it."""
        if not fresh and time.monotonic() < self._head_until:
            return self._head
        with self._head_lock:
            if not fresh and time.monotonic() < self._head_until:
                return self._head
            head = self.client.block_number()
            try:
                self.index.refresh()
            except Exception:  # a broken index only means reading the chain; never a failed verification
                log.exception("could not read the event index; verification reads the chain")
                self.index = IndexedRegistry()
            self._head = head
            self._head_until = time.monotonic() + self.head_ttl
            return head

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        head = self.head()
        indexed = self.index.block  # read before the lookup: the lookup then holds all it names
        if indexed >= head:
            record = self.index.record(indexed, root, proof, bill_ref, content_hash)
            if record.status is not ChainStatus.UNKNOWN:
                self.answered["index"] += 1
                return record
            head = self.head(fresh=True)  # unknown here: maybe anchored a moment ago, ask the chain
        self.answered["chain"] += 1
        return self.client.bill_record(root, proof, bill_ref, content_hash, block=head)

    def organisation(self, address: str) -> ChainOrganisation | None:
        key, now = address.lower(), time.monotonic()
        hit = self._orgs.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        org = self.client.organisation(address)
        with self._lock:
            self._orgs[key] = (now + self.org_ttl, org)
        return org

    def expire_head(self) -> None:
        """The next answer asks the node for its head first."""
        self._head_until = 0.0

    def forget_settlements(self) -> None:
        """A claim or void was confirmed here: the next answer asks the head again, so it names that block."""
        self.expire_head()


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
    if isinstance(source, str) and not source.lstrip().startswith("{"):
        known = reader.answers.get(source, reader)
        if known is not None:
            result, bill_id, organisation_id = known
            tally().add(bill_id, organisation_id)
            return result
    lookup = DatabaseLookup(runtime().bill_file_cache)
    if is_ofd(source):  # the seal first, then the bill file inside through the usual checks
        result = verify_sealed_ofd(bytes(source), lambda bill_file: verify(bill_file, reader, lookup))
    else:
        result = verify(source, reader, lookup)
    if lookup.found is not None:
        tally().add(lookup.found.bill_id, lookup.found.organisation_id)
        if isinstance(source, str):
            reader.answers.put(source, reader, (result, lookup.found.bill_id, lookup.found.organisation_id))
    elif (bill := stored_bill(result)) is not None:
        tally().add(bill.id, bill.organisation_id)
    return result


class VerificationTally:
    """Counts public verifications per bill per UTC day (never who asked), upserted in bulk every 2 s.

    A write per verification, or a flush inside a request, would put the database's write latency on
    the public verify endpoints, and a row per verification grew the database by tens of megabytes a
    minute under load. Here the counts gather in memory and each flush upserts one counter row per
    (bill, day): the database grows with the bills verified each day, not with the verifications.
    A crash loses at most the last two seconds of counts (statistics).
    """

    flush_every = 2.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._pending: dict[tuple[str, str], list[Any]] = {}  # (bill, day) → [organisation, count, first, last]
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def add(self, bill_id: str, organisation_id: int, at: datetime | None = None) -> None:
        now = at or utcnow()
        key = (bill_id, now.date().isoformat())
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [organisation_id, 1, now, now]
            else:
                entry[1] += 1
                entry[3] = max(entry[3], now)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="verification-tally", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Write what is pending and end the thread (an app shutting down, a test's database going away)."""
        self._stopped.set()
        with self.app.app_context():
            self.flush()

    def _run(self) -> None:
        while not self._stopped.wait(self.flush_every):
            try:
                with self.app.app_context():
                    self.flush()
            except Exception:  # counts are statistics: a failed write must not stop the next ones
                log.exception("could not write verification counts")

    def flush(self) -> None:
        """Upsert what is pending now (the thread does this every `flush_every` seconds)."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            upsert_verification_counts(
                [
                    {"bill_id": bill, "day": day, "organisation_id": org, "count": n, "first_at": a, "last_at": b}
                    for (bill, day), (org, n, a, b) in batch.items()
                ]
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            with self._lock:  # keep the counts for the next flush
                for key, (org, n, first, last) in batch.items():
                    entry = self._pending.setdefault(key, [org, 0, first, last])
                    entry[1] += n
                    entry[2], entry[3] = min(entry[2], first), max(entry[3], last)
            raise


def upsert_verification_counts(rows: list[dict[str, Any]]) -> None:
    """Add `count` to each (bill, day) counter, creating it when new, in the caller's transaction."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    table = VerificationCount.__table__
    if dialect == "postgresql":
        pg = pg_insert(table)
        db.session.execute(
            pg.on_conflict_do_update(
                index_elements=["bill_id", "day"],
                set_={
                    "count": table.c.count + pg.excluded["count"],
                    "last_at": func.greatest(table.c.last_at, pg.excluded.last_at),
                },
            ),
            rows,
        )
        return
    if dialect == "sqlite":
        lite = sqlite_insert(table)
        db.session.execute(
            lite.on_conflict_do_update(
                index_elements=["bill_id", "day"],
                set_={
                    "count": table.c.count + lite.excluded["count"],
                    "last_at": func.max(table.c.last_at, lite.excluded.last_at),
                },
            ),
            rows,
        )
        return
    for row in rows:  # other databases: read, then write (one process flushes at a time per bill and day)
        found = db.session.get(VerificationCount, (row["bill_id"], row["day"]))
        if found is None:
            db.session.add(VerificationCount(**row))
        else:
            found.count += row["count"]
            found.last_at = max(found.last_at, row["last_at"])


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
