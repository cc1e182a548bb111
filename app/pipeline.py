"""The anchoring worker and the chain outbox: nothing issued is lost, nothing is anchored twice.

Every round, under a lease so that one worker sends however many app instances run:
1. confirm what is in flight (receipts), rebroadcasting stored signed transactions that no node has;
2. put each issuer's pending bills under one Merkle root (at most ANCHOR_BATCH_SIZE a root);
3. give queued jobs their nonces and sign them, writing the signed bytes to the database first;
4. broadcast them.
A crash at any point leaves a state the next round finishes: unsigned work is redone, signed work is
rebroadcast with the same hash, and the contract refuses a second anchoring or claim anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eth_utils import keccak
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.bills.errors import ChainUnavailableError
from app.bills.merkle import build as build_tree
from app.chain import ChainError, NonceConflict
from app.extensions import db
from app.models import (
    AnchorBatch,
    BatchStatus,
    Bill,
    BillStatus,
    ChainJob,
    JobStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    Sender,
    WorkerLease,
    audit,
    rows_changed,
    utcnow,
)
from app.platform import Platform

if TYPE_CHECKING:
    from app.chain import Receipt, RegistryClient

log = logging.getLogger(__name__)

LEASE_NAME = "chain-sender"
REBROADCAST_AFTER = timedelta(seconds=5)
# Fixed gas for anchors: no estimation round trip; the real cost is ~48k.
ANCHOR_GAS = 120_000
# The reference of the salt leaf that makes a retried batch's root new.
BATCH_SALT_REF = keccak(text="billchain:batch-salt:v1")
# A plain ether transfer to a new organisation key, on chains where gas is paid.
FUND = "__fund__"


@dataclass
class RoundReport:
    """What one round did; tests and the CLI read it."""

    leased: bool = False
    batched: int = 0
    signed: int = 0
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    indexed: int = 0
    chain_down: bool = False
    errors: list[str] = field(default_factory=list)


class AnchorWorker:
    def __init__(self, app: Flask, holder: str | None = None) -> None:
        self.app = app
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report = RoundReport()

    @property
    def platform(self) -> Platform:
        platform: Platform = self.app.extensions["billchain"]
        return platform

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run rounds in a daemon thread (inside `make run` or any app process)."""
        self._thread = threading.Thread(target=self.run_forever, name="anchor-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Start the next round now (a claim is waiting for its confirmation)."""
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        interval = float(self.app.config["BILLCHAIN_ANCHOR_INTERVAL"])
        backoff = interval
        while not self._stop.is_set():
            report = self.run_once()
            # A dead chain is polled gently; a live one every interval.
            backoff = min(backoff * 2, 30.0) if report.chain_down else interval
            self._wake.wait(backoff)
            self._wake.clear()
        self.release_lease()

    def run_once(self) -> RoundReport:
        report = RoundReport()
        with self.app.app_context():
            try:
                if not self._take_lease():
                    return report
                report.leased = True
                client = self.platform.client
                self._confirm_in_flight(client, report)
                self._batch_pending_bills(report)
                self._sign_queued(client, report)
                self._broadcast(client, report)
                self._confirm_in_flight(client, report, rebroadcast=False)
                self._index_events(report)
            except ChainUnavailableError as exc:
                db.session.rollback()
                report.chain_down = True
                report.errors.append(str(exc))
                log.warning("chain unavailable, work stays queued: %s", exc)
            except Exception as exc:  # the worker must survive anything and retry next round
                db.session.rollback()
                report.errors.append(repr(exc))
                log.exception("anchoring round failed")
            finally:
                db.session.remove()
        self.last_report = report
        return report

    def _index_events(self, report: RoundReport) -> None:
        """Follow the registry's logs for timelines and reconciliation; never at anchoring's expense."""
        from app.trace import index_new_events

        try:
            report.indexed = index_new_events(self.app)
        except ChainUnavailableError:
            raise
        except Exception as exc:
            report.errors.append(f"indexer: {exc!r}")
            log.exception("event indexing failed; it resumes from its cursor next round")

    # ------------------------------------------------------------------ lease

    def _take_lease(self) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=float(self.app.config["BILLCHAIN_WORKER_LEASE"]))
        taken = rows_changed(
            db.session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == LEASE_NAME)
                .where(or_(WorkerLease.holder == self.holder, WorkerLease.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
            )
        )
        if taken:
            db.session.commit()
            return True
        if db.session.get(WorkerLease, LEASE_NAME) is not None:
            db.session.rollback()
            return False
        try:
            db.session.add(WorkerLease(name=LEASE_NAME, holder=self.holder, expires_at=expires))
            db.session.commit()
            return True
        except IntegrityError:
            db.session.rollback()
            return False

    def release_lease(self) -> None:
        """Let another worker take over at once (on stop), instead of after the lease runs out."""
        with self.app.app_context():
            db.session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == LEASE_NAME, WorkerLease.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()

    # ------------------------------------------------------------------ batching

    def _batch_pending_bills(self, report: RoundReport) -> None:
        limit = int(self.app.config["BILLCHAIN_ANCHOR_BATCH_SIZE"])
        issuers = db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ISSUER, Organisation.status == OrgStatus.ACTIVE)
            .where(
                select(Bill.id)
                .where(Bill.organisation_id == Organisation.id, Bill.status == BillStatus.PENDING)
                .where(Bill.batch_id.is_(None))
                .exists()
            )
        ).all()
        for org in issuers:
            rows = db.session.execute(
                select(Bill.id, Bill.bill_ref, Bill.content_hash)
                .where(Bill.organisation_id == org.id, Bill.status == BillStatus.PENDING)
                .where(Bill.batch_id.is_(None))
                .order_by(Bill.created_at, Bill.id)
                .limit(limit)
            ).all()
            pairs = [(bytes.fromhex(r.bill_ref[2:]), bytes.fromhex(r.content_hash[2:])) for r in rows]
            tree = build_tree(pairs)
            root = "0x" + tree.root.hex()
            if db.session.scalar(select(AnchorBatch.id).where(AnchorBatch.root == root)) is not None:
                # This exact root failed before (e.g. another issuer anchored it first): a random extra
                # leaf gives the same bills a fresh root. It is no bill, so nothing can claim it.
                tree = build_tree([*pairs, (BATCH_SALT_REF, os.urandom(32))])
                root = "0x" + tree.root.hex()
            job = ChainJob(sender=org.address, function="anchor", args=[root], organisation_id=org.id)
            batch = AnchorBatch(organisation_id=org.id, root=root, size=len(rows), status=BatchStatus.SIGNED)
            db.session.add_all([job, batch])
            db.session.flush()
            batch.job_id = job.id
            proofs = [
                {"id": r.id, "batch_id": batch.id, "proof": ["0x" + p.hex() for p in tree.proof(i)]}
                for i, r in enumerate(rows)
            ]
            db.session.execute(update(Bill), proofs)
            db.session.commit()
            report.batched += len(rows)

    # ------------------------------------------------------------------ signing and sending

    def _sign_queued(self, client: RegistryClient, report: RoundReport) -> None:
        jobs = db.session.scalars(
            select(ChainJob).where(ChainJob.status == JobStatus.QUEUED).order_by(ChainJob.id)
        ).all()
        for job in jobs:
            account = self.platform.account(job.sender)
            sender = db.session.get(Sender, job.sender)
            if sender is None:
                sender = Sender(address=job.sender, next_nonce=client.pending_nonce(job.sender))
                db.session.add(sender)
            gas = ANCHOR_GAS if job.function == "anchor" else None
            try:
                if job.function == FUND:
                    signed = client.sign_transfer(account, job.args[0], int(job.args[1]), sender.next_nonce)
                else:
                    signed = client.build_and_sign(
                        account, job.function, _decode_args(job.args), sender.next_nonce, gas
                    )
            except ChainUnavailableError:
                raise
            except Exception as exc:  # the node refused it in simulation: it would revert
                self._fail(job, exc)
                report.failed += 1
                db.session.commit()
                continue
            job.nonce = sender.next_nonce
            job.tx_hash = "0x" + bytes(signed.hash).hex()
            job.raw_tx = "0x" + bytes(signed.raw_transaction).hex()
            job.status = JobStatus.SIGNED
            sender.next_nonce += 1
            db.session.commit()  # written before it is sent: a crash now means rebroadcast, not loss
            report.signed += 1

    def _broadcast(self, client: RegistryClient, report: RoundReport) -> None:
        jobs = db.session.scalars(
            select(ChainJob)
            .where(ChainJob.status == JobStatus.SIGNED, ChainJob.attempts == 0)
            .order_by(ChainJob.sender, ChainJob.nonce)
        ).all()
        for job in jobs:
            self._send(client, job)
            report.sent += 1
        db.session.commit()

    def _send(self, client: RegistryClient, job: ChainJob) -> None:
        assert job.raw_tx is not None
        job.attempts += 1
        job.updated_at = utcnow()
        try:
            client.send_raw(bytes.fromhex(job.raw_tx[2:]))
        except ChainUnavailableError:
            db.session.commit()
            raise
        except NonceConflict as exc:
            # Our nonce was spent by a transaction we do not know: the chain wins, re-sign.
            log.warning("job %s: %s; re-signing with fresh nonces", job.id, exc)
            self._requeue_sender(job.sender)
        except ChainError as exc:  # e.g. an unfunded key: retried next round, the error kept
            job.error = str(exc)
            log.warning("job %s broadcast failed: %s", job.id, exc)

    def _requeue_sender(self, address: str) -> None:
        """Resynchronise a sender whose nonces went out of step (the chain wins)."""
        db.session.execute(
            update(ChainJob)
            .where(ChainJob.sender == address, ChainJob.status == JobStatus.SIGNED)
            .values(status=JobStatus.QUEUED, nonce=None, tx_hash=None, raw_tx=None, attempts=0)
        )
        sender = db.session.get(Sender, address)
        if sender is not None:
            db.session.delete(sender)

    # ------------------------------------------------------------------ confirmation

    def _confirm_in_flight(self, client: RegistryClient, report: RoundReport, rebroadcast: bool = True) -> None:
        jobs = db.session.scalars(
            select(ChainJob)
            .where(ChainJob.status == JobStatus.SIGNED, ChainJob.attempts > 0)
            .order_by(ChainJob.sender, ChainJob.nonce)
        ).all()
        now = utcnow()
        for job in jobs:
            assert job.tx_hash is not None
            receipt = client.receipt(job.tx_hash)
            if receipt is None:
                if rebroadcast and now - job.updated_at > REBROADCAST_AFTER:
                    self._send(client, job)
                continue
            if receipt.status == 1:
                self._apply(job, receipt)
                report.confirmed += 1
            else:
                reason = client.revert_reason(job.tx_hash)
                self._fail(job, reason)
                report.failed += 1
            db.session.commit()

    def _apply(self, job: ChainJob, receipt: Receipt) -> None:
        job.status = JobStatus.CONFIRMED
        job.block_number = receipt.block_number
        job.block_time = receipt.block_time
        if job.function == "anchor":
            batch = db.session.scalar(select(AnchorBatch).where(AnchorBatch.job_id == job.id))
            if batch is not None:
                batch.tx_hash = job.tx_hash
                batch.block_number = receipt.block_number
                batch.anchored_at = receipt.block_time
                _mark_batch_anchored(batch)
        elif job.function in ("claim", "voidBill"):
            bill = db.session.get(Bill, job.bill_id)
            if bill is not None:
                bill.status = BillStatus.CLAIMED if job.function == "claim" else BillStatus.VOIDED
                bill.settle_state = None
                bill.settled_at = receipt.block_time
                bill.settle_tx = job.tx_hash
                reader = self.platform.verify_reader
                if reader is not None:
                    reader.forget_settlements()
                audit("chain", f"bill.{bill.status}", bill.id, bill.organisation_id, tx=job.tx_hash)
        elif job.function in ("registerOrganisation", "revokeOrganisation"):
            org = db.session.get(Organisation, job.organisation_id)
            if org is not None:
                if job.function == "registerOrganisation":
                    org.status = OrgStatus.ACTIVE
                    org.registered_at = receipt.block_time
                else:
                    org.status = OrgStatus.REVOKED
                    org.revoked_at = receipt.block_time

    def _fail(self, job: ChainJob, reason: Any) -> None:
        """A job the chain refused. A claim or void is released, or corrected from the chain's record."""
        job.status = JobStatus.FAILED
        job.error = getattr(reason, "name", None) or str(reason)
        job.error_args = _jsonable(getattr(reason, "error_args", None))
        log.warning("job %s (%s) failed: %s", job.id, job.function, job.error)
        if job.function in ("claim", "voidBill") and job.bill_id:
            bill = db.session.get(Bill, job.bill_id)
            if bill is not None:
                bill.settle_state = None
                bill.settled_by_org_id = None
                bill.settle_requested_at = None
                bill.claim_ref = None
                from app.services import sync_settlement_from_chain

                sync_settlement_from_chain(bill)
        if job.function == "anchor":
            batch = db.session.scalar(select(AnchorBatch).where(AnchorBatch.job_id == job.id))
            first_issuer = str((job.error_args or {}).get("issuer", "")).lower()
            if batch is not None and job.error == "BillRootAlreadyAnchored" and first_issuer == job.sender.lower():
                # Anchored earlier by this same key (a job whose receipt we lost): the chain's record stands.
                # If another issuer took the root first, the bills are re-batched below instead.
                job.status = JobStatus.CONFIRMED
                _mark_batch_anchored(batch)
            elif batch is not None:
                batch.status = BatchStatus.FAILED
                # The bills go back to the queue for a new root.
                db.session.execute(
                    update(Bill)
                    .where(Bill.batch_id == batch.id, Bill.status == BillStatus.PENDING)
                    .values(batch_id=None, proof=None)
                )


def _mark_batch_anchored(batch: AnchorBatch) -> None:
    """The batch's root is on chain: it and its still-pending bills are anchored."""
    batch.status = BatchStatus.CONFIRMED
    db.session.execute(
        update(Bill)
        .where(Bill.batch_id == batch.id, Bill.status == BillStatus.PENDING)
        .values(status=BillStatus.ANCHORED)
    )


def _decode_args(args: list[Any]) -> list[Any]:
    """JSON holds bytes32 values as 0x-hex strings; the client wants bytes for them."""
    out: list[Any] = []
    for value in args:
        if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
            out.append(bytes.fromhex(value[2:]))
        elif isinstance(value, list):
            out.append(_decode_args(value))
        else:
            out.append(value)
    return out


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (int, str, float, bool)):
        return value
    return str(value)


def wait_for_job(app: Flask, job_id: int, timeout: float) -> ChainJob | None:
    """Poll until a job is confirmed or failed (the API waits for claims this way); None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        job = db.session.get(ChainJob, job_id)
        if job is not None and job.status in (JobStatus.CONFIRMED, JobStatus.FAILED):
            return job
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
