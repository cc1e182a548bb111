"""Verification as the platform offers it: the domain's checks, this database as the bill lookup."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from eth_utils import to_checksum_address
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.bills.billfile import BillFile
from app.bills.chainview import ChainBillRecord, ChainOrganisation, ChainStatus
from app.bills.chainview_v2 import ChainBillRecordV2, ChainKeyRecord, ChainOrganisationV2
from app.bills.hexstr import to_hex
from app.bills.merkle import verify_proof
from app.bills.qr import decode_image
from app.bills.verification import CheckName, ReimbursedPart, Verdict, VerificationResult, verify, verify_leaf
from app.chain import RegistryClient
from app.chain.registry_v2 import RegistryV2Client
from app.extensions import db
from app.models import (
    AnchorBatch,
    Bill,
    ChainEvent,
    ChainState,
    Organisation,
    Registry,
    VerificationCount,
    utcnow,
)
from app.outbox.indexer import CURSOR_KEY
from app.runtime import runtime
from app.services.billfiles import StoredBillRow, make_bill_file
from app.services.peers import PeerUnreachable, fetch_proof, member_platform_for
from app.services.sealing import is_ofd, verify_sealed_ofd

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

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
    chain), so caching its file is exact; pending bills are never cached, as their anchoring is coming.

    Bounded by bytes, least recently used out first: a bill file's objects are ~7.6 KB for a two-item
    bill and grow with its items (issue 13's soak: 20,000 entries would have been ~150 MB a process).
    """

    max_bytes = 32 * 2**20

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes if max_bytes is not None else type(self).max_bytes
        self._files: OrderedDict[str, tuple[StoredBill, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0  # the entries' measured sizes, added up

    def __len__(self) -> int:
        return len(self._files)

    @staticmethod
    def entry_bytes(value: object) -> int:
        """Bytes of `value` and every object it reaches (classes, modules and functions not counted).

        Objects shared with other entries count in each, so the bound errs on the small side."""
        import gc
        import sys
        import types

        skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
        seen: set[int] = set()
        todo: list[object] = [value]
        total = 0
        while todo:
            obj = todo.pop()
            if id(obj) in seen or isinstance(obj, skip):
                continue
            seen.add(id(obj))
            total += sys.getsizeof(obj)
            todo.extend(gc.get_referents(obj))
        return total

    def get(self, content_hash: str) -> StoredBill | None:
        with self._lock:
            hit = self._files.get(content_hash)
            if hit is None:
                return None
            self._files.move_to_end(content_hash)
            return hit[0]

    def put(self, content_hash: str, stored: StoredBill) -> None:
        size = self.entry_bytes((content_hash, stored))  # outside the lock: readers go on
        with self._lock:
            old = self._files.pop(content_hash, None)
            if old is not None:
                self.bytes -= old[1]
            self._files[content_hash] = (stored, size)
            self.bytes += size
            while self.bytes > self.max_bytes and len(self._files) > 1:
                self.bytes -= self._files.popitem(last=False)[1][1]


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
                    func.coalesce(Bill.signer, Organisation.address),
                    Bill.signature,
                    Bill.status,
                    Bill.proof,
                    AnchorBatch.root,
                    AnchorBatch.tx_hash,
                    AnchorBatch.block_number,
                    AnchorBatch.anchored_at,
                    Bill.registry_id,
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

    It grows with the chain's history, not with traffic, and is never evicted (a forgotten claim would
    answer "issued"): ~125 B an anchored root, ~250 B a claim or void. The issuers' addresses and the
    block times of consecutive events are shared rather than copied into every entry.
    """

    EVENTS = frozenset(("BillsAnchored", "BillClaimed", "BillVoided", "OrganisationRevoked"))

    def __init__(self) -> None:
        self.block = -1
        self.anchors: dict[str, tuple[str, datetime]] = {}
        self.settlements: dict[tuple[str, str], tuple[ChainStatus, str, datetime]] = {}
        self.revoked: dict[str, datetime] = {}
        self._issuers: dict[str, str] = {}  # address (any case) → its one lower-case string
        self._last_at: datetime | None = None

    def _clear(self) -> None:
        self.block = -1
        self.anchors, self.settlements, self.revoked = {}, {}, {}
        self._issuers, self._last_at = {}, None

    def _issuer(self, address: Any) -> str:
        text = str(address)
        shared = self._issuers.get(text)
        if shared is None:
            shared = self._issuers[text] = text.lower()
        return shared

    def refresh(self) -> int:
        """Catch up with the indexer's cursor (inside an app context); the block it now speaks for."""
        value = db.session.scalar(select(ChainState.value).where(ChainState.key == CURSOR_KEY))
        cursor = int(value) if value is not None else -1
        if cursor < self.block:  # the index was reset: start over
            self._clear()
        if cursor == self.block:
            return cursor
        # The block range alone: with the names in the WHERE too, SQLite searched the index on `name` and
        # read every such event ever indexed on each refresh (27 ms at 60,000 events, against 0.03 ms).
        rows = db.session.execute(
            select(ChainEvent.name, ChainEvent.args, ChainEvent.block_time)
            .where(ChainEvent.block_number > self.block, ChainEvent.block_number <= cursor)
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        ).all()
        for name, args, at in rows:
            if name in self.EVENTS:
                self._apply(name, args, at)
        self.block = cursor  # last: a reader that read `block` first never misses what it names
        return cursor

    def _apply(self, name: str, args: dict[str, Any], at: datetime | None) -> None:
        if at is None:  # indexed without block times: cannot answer from here, the chain will
            raise ValueError(f"indexed {name} has no block time")
        if at == self._last_at:  # events come in block order: one block's events share its time
            at = self._last_at
        self._last_at = at
        if name == "BillsAnchored":
            self.anchors[str(args["root"]).lower()] = (_checksum(args["issuer"]), at)
        elif name == "BillClaimed":
            key = (self._issuer(args["issuer"]), str(args["billRef"]).lower())
            self.settlements[key] = (ChainStatus.CLAIMED, _checksum(args["claimant"]), at)
        elif name == "BillVoided":
            key = (self._issuer(args["issuer"]), str(args["billRef"]).lower())
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

    So the answers of an earlier block can never be given again: the first answer of a new block
    empties the cache. Within one block it is bounded by bytes, oldest out first: an answer is ~17 KB
    of objects with its bill, checks and JSON (issue 13's soak: 20,000 would have been ~350 MB a
    process). Measuring an answer walks its objects (~0.2 ms), so one answer in `sample` is measured
    and the count kept is `max_bytes` over their running mean.
    """

    max_bytes = 32 * 2**20
    sample = 32

    def __init__(self, ttl: float, max_bytes: int | None = None) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes if max_bytes is not None else type(self).max_bytes
        self._answers: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._block = -1  # the block of every answer kept
        self._puts = 0
        self.entry_bytes = 0  # running mean of the measured answers

    @property
    def bytes(self) -> int:
        """The answers kept, in bytes (count × the measured mean)."""
        return len(self._answers) * self.entry_bytes

    def __len__(self) -> int:
        return len(self._answers)

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
        self._puts += 1
        if not self.entry_bytes or self._puts % self.sample == 0:
            size = BillFileCache.entry_bytes((url, value))
            self.entry_bytes = size if not self.entry_bytes else (7 * self.entry_bytes + size) // 8
        keep = max(1, self.max_bytes // self.entry_bytes)
        with self._lock:
            if block != self._block:  # answers of another block are never given again: let them go
                self._answers.clear()
                self._block = block
            self._answers[url] = (block, time.monotonic() + self.ttl, value)
            self._answers.move_to_end(url)
            while len(self._answers) > keep:
                self._answers.popitem(last=False)


class TimedCache(Generic[K, V]):
    """Values kept `ttl` seconds (organisations: a handful, read again and again by every verification)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, fetch: Callable[[], V]) -> V:
        now = time.monotonic()
        hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = fetch()
        with self._lock:
            self._values[key] = (now + self.ttl, value)
        return value


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
        self._orgs: TimedCache[str, ChainOrganisation | None] = TimedCache(self.org_ttl)
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
        fresh = False
        indexed = self.index.block  # read before the lookup: the lookup then holds all it names
        if indexed >= head:
            record = self.index.record(indexed, root, proof, bill_ref, content_hash)
            if record.status is not ChainStatus.UNKNOWN:
                self.answered["index"] += 1
                return record
            head, fresh = self.head(fresh=True), True  # unknown here: maybe anchored a moment ago
        self.answered["chain"] += 1
        record = self.client.bill_record(root, proof, bill_ref, content_hash, block=head)
        if record.status is ChainStatus.UNKNOWN and not fresh:
            # The cached head (≤ BILLCHAIN_VERIFY_CACHE old) may predate the anchoring: "not anchored" is
            # only said of the chain's current head (the soak found bills anchored 1-3 blocks later).
            record = self.client.bill_record(root, proof, bill_ref, content_hash, block=self.head(fresh=True))
        return record

    def organisation(self, address: str) -> ChainOrganisation | None:
        return self._orgs.get(address.lower(), lambda: self.client.organisation(address))

    def expire_head(self) -> None:
        """The next answer asks the node for its head first."""
        self._head_until = 0.0

    def forget_settlements(self) -> None:
        """A claim or void was confirmed here: the next answer asks the head again, so it names that block."""
        self.expire_head()


class V2Reader:
    """The chain reader for bills of a registry v2. A key's organisation never changes on chain, so it is
    kept for good once known; organisations (names, revocation) for `org_ttl`; a bill's record (its
    parts, lock, paper, void) is read from the chain every time."""

    version = 2
    org_ttl = 30.0

    def __init__(self, client: RegistryV2Client) -> None:
        self.client = client
        self._keys: dict[str, ChainKeyRecord] = {}
        self._orgs: TimedCache[int, ChainOrganisationV2 | None] = TimedCache(self.org_ttl)
        self._lock = threading.Lock()

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def registry_address(self) -> str:
        return self.client.registry_address

    def key_record(self, address: str) -> ChainKeyRecord:
        key = address.lower()
        known = self._keys.get(key)
        if known is not None:
            return known
        record = self.client.key_record(address)
        if record.org_id:  # an admitted key is bound to its organisation for ever
            with self._lock:
                self._keys[key] = record
        return record

    def bill_record_v2(
        self,
        issuer_id: int,
        root: bytes,
        proof: Sequence[bytes],
        bill_ref: bytes,
        content_hash: bytes,
        total_fen: int,
    ) -> ChainBillRecordV2:
        return self.client.bill_record_v2(issuer_id, root, proof, bill_ref, content_hash, total_fen)

    def forget_settlements(self) -> None:
        """Nothing to forget: a bill's record is read from the chain every time."""

    def organisation_v2(self, org_id: int) -> ChainOrganisationV2 | None:
        return self._orgs.get(org_id, lambda: self.client.organisation_v2(org_id))


class RegistryReaders:
    """Verification across registries: the current registry's reader answers, and a bill file naming a
    registry this platform used before (a v1 bill after the upgrade to v2) is read from that one."""

    def __init__(self, current: Any) -> None:
        self.current = current
        self.version = getattr(current, "version", 1)

    @property
    def chain_id(self) -> int:
        return int(self.current.chain_id)

    @property
    def registry_address(self) -> str:
        return str(self.current.registry_address)

    def bill_record(self, root: bytes, proof: Sequence[bytes], bill_ref: bytes, content_hash: bytes) -> ChainBillRecord:
        return self.current.bill_record(root, proof, bill_ref, content_hash)

    def organisation(self, address: str) -> ChainOrganisation | None:
        return self.current.organisation(address)

    def reader_for(self, chain_id: int, address: str) -> Any:
        if chain_id == self.chain_id and address.lower() == self.registry_address.lower():
            return self.current
        known = db.session.scalar(
            select(Registry).where(Registry.chain_id == chain_id, func.lower(Registry.address) == address.lower())
        )
        if known is None:
            return None
        client = runtime().client_for(known.address, int(known.version))
        return V2Reader(client) if isinstance(client, RegistryV2Client) else client


def verify_reader() -> Any:
    """The current registry's reader: VerifyReader (v1: answers from the event index) or V2Reader."""
    rt = runtime()
    client = rt.client
    reader = rt.verify_reader
    if getattr(reader, "client", None) is not client:
        if isinstance(client, RegistryV2Client):
            reader = rt.verify_reader = V2Reader(client)
        else:
            reader = rt.verify_reader = VerifyReader(client, float(rt.config["BILLCHAIN_VERIFY_CACHE"]))
        rt.bill_file_cache = BillFileCache()
    return reader


def verify_any(source: Any) -> VerificationResult:
    """A bill file (text, bytes or dict), a QR photo (image bytes) or a verify URL."""
    current = verify_reader()
    reader = RegistryReaders(current)
    answers = current.answers if isinstance(current, VerifyReader) else None
    if answers is not None and isinstance(source, str) and not source.lstrip().startswith("{"):
        known = answers.get(source, current)
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
        if answers is not None and isinstance(source, str):
            answers.put(source, current, (result, lookup.found.bill_id, lookup.found.organisation_id))
    elif (bill := stored_bill(result)) is not None:
        tally().add(bill.id, bill.organisation_id)
    elif (
        result.verdict is Verdict.UNKNOWN
        and result.failed_check is CheckName.PLATFORM
        and isinstance(current, V2Reader)
    ):
        result = _from_member_platform(source, current, result)
    return _with_parts(result)


def _with_parts(result: VerificationResult) -> VerificationResult:
    """Registry v2: each reimbursed part (unit, amount, when) from the registry's BillClaimed events this
    platform indexed (every member platform indexes the whole registry, so any platform can list them)."""
    money = result.reimbursement
    if money is None or money.reimbursed_fen == 0 or result.bill_ref is None:
        return result
    reader = verify_reader()
    if not isinstance(reader, V2Reader):
        return result
    events = db.session.scalars(
        select(ChainEvent)
        .where(ChainEvent.name == "BillClaimed", ChainEvent.bill_ref == to_hex(result.bill_ref))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    ).all()
    issuer_key = result.issuer.address.lower() if result.issuer else None
    parts = []
    for event in events:
        if "claimantId" not in event.args:
            continue
        issuer = reader.organisation_v2(int(event.args["issuerId"]))
        if issuer is None or issuer.key.lower() != issuer_key:
            continue  # the same reference under another issuer: another bill
        claimant = reader.organisation_v2(int(event.args["claimantId"]))
        name = claimant.name if claimant else f"#{event.args['claimantId']}"
        parts.append(ReimbursedPart(name, int(event.args["amountFen"]), event.block_time))
    return replace(result, reimbursement=replace(money, parts=tuple(parts))) if parts else result


def _from_member_platform(source: Any, reader: V2Reader, unknown: VerificationResult) -> VerificationResult:
    """A QR code of another member platform's bill: its proof from that platform, checked on chain here."""
    url = source if isinstance(source, str) else next(iter(_verify_urls(source)), None)
    platform = member_platform_for(url) if url else None
    if platform is None or unknown.bill_ref is None or unknown.content_hash is None:
        return unknown
    try:
        peer = fetch_proof(platform, unknown.bill_ref, unknown.content_hash)
    except PeerUnreachable as exc:
        note = ("note.peer_unreachable", {"platform": platform, "error": str(exc)})
        return replace(unknown, notes=(*unknown.notes, note))
    return verify_leaf(
        reader,
        issuer_id=peer.issuer_id,
        root=peer.root,
        proof=peer.proof,
        bill_ref=unknown.bill_ref,
        content_hash=unknown.content_hash,
        total_fen=peer.total_fen,
        platform=platform,
        source=unknown.source,
    )


def _verify_urls(source: Any) -> list[str]:
    if not isinstance(source, bytes | bytearray) or bytes(source).lstrip()[:1] == b"{" or is_ofd(source):
        return []
    return [text for text in decode_image(bytes(source)) if "/v/" in text]


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
