"""The anchoring worker and the chain outbox: nothing issued is lost, nothing is anchored twice.

Every round, under a lease so that one worker sends however many app instances run:
1. confirm what is in flight (receipts), rebroadcasting stored signed transactions that no node has;
2. put each issuer's pending bills under one Merkle root (at most ANCHOR_BATCH_SIZE a root);
3. give queued jobs their nonces and sign them, writing the signed bytes to the database first;
4. broadcast them.
A crash at any point leaves a state the next round finishes: unsigned work is redone, signed work is
rebroadcast with the same hash, and the contract refuses a second anchoring or claim anyway.

A job that fails for a reason other than a revert (its sender's key missing on this host, a node error
while reading a revert reason) must not stop the jobs behind it. Each failure is counted on the job,
which then waits (doubling back-off) while the others go on; after BILLCHAIN_JOB_MAX_FAILURES it is set
aside as DEAD, for the finance department to look at and retry. The rule that keeps nonces whole: only
a job that holds no nonce the chain waits for may be set aside, i.e. one never signed (no nonce taken)
or one whose transaction is mined (its receipt is in hand, so its nonce is spent). A signed transaction
not known to be mined is never set aside: every later nonce of its sender would wait for it forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eth_utils import keccak
from flask import Flask
from sqlalchemy import false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from app.bills.errors import ChainUnavailableError
from app.bills.hexstr import from_hex, to_hex
from app.bills.merkle import build as build_tree
from app.chain import ChainError, NonceConflict, RegistryRevert
from app.extensions import db
from app.models import (
    AnchorBatch,
    BatchStatus,
    Bill,
    BillStatus,
    ChainJob,
    JobKind,
    JobStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    Registry,
    Sender,
    WorkerLease,
    rows_changed,
    utcnow,
)
from app.outbox import jobs as handlers
from app.outbox.indexer import index_new_events
from app.runtime import Runtime

if TYPE_CHECKING:
    from app.chain import RegistryClient

log = logging.getLogger("billchain.worker")

LEASE_NAME = "chain-sender"
REBROADCAST_AFTER = timedelta(seconds=5)
READY_POLL = 0.05  # seconds between two cheap looks for new work while the worker is idle
MAX_BACKOFF = 300.0  # seconds a failing job waits at most between two tries
# The reference of the salt leaf that makes a retried batch's root new.
BATCH_SALT_REF = keccak(text="billchain:batch-salt:v1")


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
    dead: int = 0  # jobs set aside this round
    reorged: int = 0  # confirmed jobs whose block a reorganisation dropped: in flight again
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
    def runtime(self) -> Runtime:
        found: Runtime = self.app.extensions["billchain"]
        return found

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
            started = utcnow()
            report = self.run_once()
            # A dead chain is polled gently; a live one every interval, or sooner when work is ready.
            backoff = min(backoff * 2, 30.0) if report.chain_down else interval
            if report.chain_down or not report.leased:
                self._wake.wait(backoff)
                self._wake.clear()
            elif not (report.batched or report.signed or report.sent or report.confirmed):
                self._wait_for_work(started, interval)
            # else: this round did work, and more may have arrived meanwhile: go again at once
        self.release_lease()

    def _wait_for_work(self, since: datetime, interval: float) -> None:
        """Until woken, until bills or jobs were queued after `since` (checked every READY_POLL s), or
        `interval` at most: anchoring starts as soon as a batch is ready, not on the next tick."""
        deadline = time.monotonic() + interval
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(READY_POLL, remaining)):
                break
            if self._work_ready(since):
                break
        self._wake.clear()

    def _work_ready(self, since: datetime) -> bool:
        """New pending bills or queued jobs since `since` (older ones are waiting for a reason of their own)."""
        try:
            with self.app.app_context():
                try:
                    new_bill = select(Bill.id).where(Bill.status == BillStatus.PENDING, Bill.created_at >= since)
                    new_job = select(ChainJob.id).where(
                        ChainJob.status == JobStatus.QUEUED, ChainJob.created_at >= since
                    )
                    return bool(db.session.scalar(select(or_(new_bill.exists(), new_job.exists()))))
                finally:
                    db.session.remove()
        except Exception:  # the round itself will report a database problem
            return True

    def run_once(self) -> RoundReport:
        report = RoundReport()
        with self.app.app_context():
            try:
                if not self._take_lease():
                    return report
                report.leased = True
                client = self.runtime.client
                self._recheck_confirmed(client, report)
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

    def _forget_settlements(self) -> None:
        """A claim or void was confirmed: this process's verify cache must not hide it."""
        reader = self.runtime.verify_reader
        if reader is not None:
            reader.forget_settlements()

    def _index_events(self, report: RoundReport) -> None:
        """Follow the registry's logs for timelines and reconciliation; never at anchoring's expense."""
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
        client = self.runtime.client
        # On registry v2 an issuer anchors once admitted there (its stable id known), e.g. after an upgrade.
        admitted = Organisation.chain_org_id.is_not(None) if client.version == 2 else true()
        issuers = db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ISSUER, Organisation.status == OrgStatus.ACTIVE, admitted)
            .where(
                select(Bill.id)
                .where(Bill.organisation_id == Organisation.id, Bill.status == BillStatus.PENDING)
                .where(Bill.batch_id.is_(None))
                .exists()
            )
        ).all()
        with_totals = client.version == 2  # registry v2 leaves commit to the bill's total
        signed_here = _signed_for(client)
        for org in issuers:
            rows = db.session.execute(
                select(Bill.id, Bill.bill_ref, Bill.content_hash, Bill.total_fen)
                .where(Bill.organisation_id == org.id, Bill.status == BillStatus.PENDING)
                .where(Bill.batch_id.is_(None), signed_here)
                .order_by(Bill.created_at, Bill.id)
                .limit(limit)
            ).all()
            if not rows:
                continue
            leaves: list[tuple[Any, ...]] = [
                (from_hex(r.bill_ref), from_hex(r.content_hash), *((int(r.total_fen),) if with_totals else ()))
                for r in rows
            ]
            tree = build_tree(leaves)
            root = to_hex(tree.root)
            if db.session.scalar(select(AnchorBatch.id).where(AnchorBatch.root == root)) is not None:
                # This exact root failed before (e.g. another issuer anchored it first): a random extra
                # leaf gives the same bills a fresh root. It is no bill, so nothing can claim it.
                salt = (BATCH_SALT_REF, os.urandom(32), *((1,) if with_totals else ()))
                tree = build_tree([*leaves, salt])
                root = to_hex(tree.root)
            job = ChainJob(sender=org.address, function=JobKind.ANCHOR, args=[root], organisation_id=org.id)
            batch = AnchorBatch(organisation_id=org.id, root=root, size=len(rows), status=BatchStatus.SIGNED)
            db.session.add_all([job, batch])
            db.session.flush()
            batch.job_id = job.id
            proofs = [
                {"id": r.id, "batch_id": batch.id, "proof": [to_hex(p) for p in tree.proof(i)]}
                for i, r in enumerate(rows)
            ]
            db.session.execute(update(Bill), proofs)
            db.session.commit()
            report.batched += len(rows)

    # ------------------------------------------------------------------ signing and sending

    def _sign_queued(self, client: RegistryClient, report: RoundReport) -> None:
        jobs = db.session.scalars(
            select(ChainJob).where(ChainJob.status == JobStatus.QUEUED, _due(utcnow())).order_by(ChainJob.id)
        ).all()
        for job in jobs:
            try:
                account = self.runtime.account(job.sender)
                sender = db.session.get(Sender, job.sender)
                if sender is None:
                    sender = Sender(address=job.sender, next_nonce=client.pending_nonce(job.sender))
                    db.session.add(sender)
                signed = handlers.sign(self._client_of(job, client), account, job, sender.next_nonce)
            except ChainUnavailableError:
                raise
            except RegistryRevert as exc:  # the node refused it in simulation: it would revert
                handlers.refused(job, exc, self._client_of(job, client))
                report.failed += 1
                db.session.commit()
                continue
            except Exception as exc:  # no key here, a node error: this job waits, the ones behind it go on
                self._job_failed(job.id, exc, report, holds_nonce=False)
                continue
            job.nonce = sender.next_nonce
            job.tx_hash = to_hex(bytes(signed.hash))
            job.raw_tx = to_hex(bytes(signed.raw_transaction))
            job.status = JobStatus.SIGNED
            sender.next_nonce += 1
            db.session.commit()  # written before it is sent: a crash now means rebroadcast, not loss
            report.signed += 1
            crash_point("signed")

    def _broadcast(self, client: RegistryClient, report: RoundReport) -> None:
        jobs = db.session.scalars(
            select(ChainJob)
            .where(ChainJob.status == JobStatus.SIGNED, ChainJob.attempts == 0)
            .order_by(ChainJob.sender, ChainJob.nonce)
        ).all()
        for job in jobs:
            if job.status != JobStatus.SIGNED or job.raw_tx is None:
                continue  # a nonce conflict earlier in this loop sent its sender's jobs back to be re-signed
            self._send(client, job)
            report.sent += 1
        db.session.commit()
        if jobs:
            crash_point("sent")

    def _send(self, client: RegistryClient, job: ChainJob) -> None:
        assert job.raw_tx is not None
        job.attempts += 1
        job.updated_at = utcnow()
        try:
            client.send_raw(from_hex(job.raw_tx))
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
        now = utcnow()
        jobs = db.session.scalars(
            select(ChainJob)
            .where(ChainJob.status == JobStatus.SIGNED, ChainJob.attempts > 0, _due(now))
            .order_by(ChainJob.sender, ChainJob.nonce)
        ).all()
        for job in jobs:
            assert job.tx_hash is not None
            mined = False
            own = self._client_of(job, client)  # its registry's ABI reads its receipt and revert reason
            try:
                receipt = own.receipt(job.tx_hash)
                if receipt is None:
                    if rebroadcast and now - job.updated_at > REBROADCAST_AFTER:
                        self._send(client, job)
                    continue
                mined = True
                if receipt.status:
                    handlers.confirmed(job, receipt, self._forget_settlements)
                    report.confirmed += 1
                else:
                    handlers.refused(job, own.revert_reason(job.tx_hash), own)
                    report.failed += 1
                db.session.commit()
            except ChainUnavailableError:
                raise
            except Exception as exc:  # e.g. a node error reading the revert reason: the others go on
                self._job_failed(job.id, exc, report, holds_nonce=not mined)

    def _client_of(self, job: ChainJob, client: RegistryClient) -> RegistryClient:
        """The client of the registry the job calls: the current one, or an earlier one (a v1 bill's claim)."""
        if not job.registry or job.registry.lower() == client.registry_address.lower():
            return client
        version = db.session.scalar(
            select(Registry.version).where(func.lower(Registry.address) == job.registry.lower())
        )
        return self.runtime.client_for(job.registry, int(version or 1))

    def _recheck_confirmed(self, client: RegistryClient, report: RoundReport) -> None:
        """Reorganisations: a job confirmed in the last BILLCHAIN_CONFIRMATIONS blocks is checked again. One
        whose receipt is gone goes back to SIGNED (an anchor's batch and bills are not anchored any more) and
        its stored bytes are rebroadcast at once: same hash, same nonce, so it can be mined once only. One
        the reorganisation mined again in another block is confirmed again there. Nothing to do at 0."""
        depth = int(self.app.config["BILLCHAIN_CONFIRMATIONS"])
        if depth <= 0:
            return
        head = client.block_number()
        jobs = db.session.scalars(
            select(ChainJob)
            .where(ChainJob.status == JobStatus.CONFIRMED, ChainJob.raw_tx.is_not(None))
            .where(ChainJob.block_number > head - depth)
            .order_by(ChainJob.block_number, ChainJob.id)  # the chain's own order: rebroadcast in it
        ).all()
        for job in jobs:
            assert job.tx_hash is not None
            receipt = client.receipt(job.tx_hash)
            if receipt is not None and receipt.block_number == job.block_number:
                continue
            dropped = job.block_number
            handlers.unconfirmed(job)
            report.reorged += 1
            if receipt is None:
                log.warning("job %s (%s): its block %s was dropped (reorganisation)", job.id, job.function, dropped)
                self._send(client, job)
            elif receipt.status:  # mined again in another block: the same effects, recorded there
                handlers.confirmed(job, receipt, self._forget_settlements)
            else:
                handlers.refused(job, client.revert_reason(job.tx_hash), client)
            db.session.commit()

    def _job_failed(self, job_id: int, exc: Exception, report: RoundReport, *, holds_nonce: bool) -> None:
        """Count a failed round on the job and back off; set it aside once it failed too often and holds no nonce."""
        db.session.rollback()
        job = db.session.get(ChainJob, job_id)
        if job is None:
            return
        job.failures = (job.failures or 0) + 1
        job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        interval = float(self.app.config["BILLCHAIN_ANCHOR_INTERVAL"])
        job.retry_at = utcnow() + timedelta(seconds=min(interval * 2**job.failures, MAX_BACKOFF))
        report.errors.append(f"job {job.id}: {job.last_error}")
        if job.failures >= int(self.app.config["BILLCHAIN_JOB_MAX_FAILURES"]) and not holds_nonce:
            job.status = JobStatus.DEAD
            report.dead += 1
            log.error("job %s (%s) set aside after %s failures: %s", job.id, job.function, job.failures, job.last_error)
        else:
            log.warning("job %s (%s) failed (%s so far): %s", job.id, job.function, job.failures, job.last_error)
        db.session.commit()


def _signed_for(client: RegistryClient) -> Any:
    """Bills signed for the registry the client speaks to: a bill signed for an earlier registry (before
    an upgrade) names that registry in its signature and can only be anchored there."""
    current = db.session.scalar(
        select(Registry.id).where(func.lower(Registry.address) == client.registry_address.lower())
    )
    first = db.session.scalar(select(func.min(Registry.id)))
    if current is None:
        return Bill.registry_id.is_(None) if first is None else false()
    if current == first:
        return or_(Bill.registry_id.is_(None), Bill.registry_id == current)
    return Bill.registry_id == current


def _due(now: datetime) -> Any:
    """Jobs not backing off after a failure."""
    return or_(ChainJob.retry_at.is_(None), ChainJob.retry_at <= now)


def crash_point(step: str) -> None:
    """Test-only: `BILLCHAIN_TEST_CRASH_AFTER=signed|sent` ends the process right after that step's commit.

    tests/app/test_faults.py kills a real `flask anchor-worker` at a chosen point this way, as a SIGKILL
    would (no cleanup, no lease release). Unset, as in production, it does nothing.
    """
    if os.environ.get("BILLCHAIN_TEST_CRASH_AFTER") == step:
        log.critical("BILLCHAIN_TEST_CRASH_AFTER=%s: exiting now (test-only crash point)", step)
        logging.shutdown()
        os._exit(137)


def wait_for_job(app: Flask, job_id: int, timeout: float) -> ChainJob | None:
    """Poll until a job is confirmed or failed (the API waits for claims this way); None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        job = db.session.get(ChainJob, job_id)
        # Not DEAD: a job set aside may be retried, so the caller answers "submitted" (202), not a verdict.
        if job is not None and job.status in (JobStatus.CONFIRMED, JobStatus.FAILED):
            return job
        if time.monotonic() >= deadline:
            return None
        # Hand the connection back while waiting (ending the read transaction; the session's objects stay
        # attached): requests waiting for the chain must not hold the pool the worker needs to record the
        # very decision they wait for.
        db.session.rollback()
        time.sleep(0.05)
