"""One handler per job kind: how an outbox job is signed, and what its confirmation or refusal changes.

The worker (worker.py) owns nonces, leases and sending; it knows nothing of bills or organisations.
Everything a transaction means to this database is written here, once per `JobKind`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update

from app.bills.chainview import ChainStatus
from app.bills.hexstr import from_hex, to_hex
from app.bills.times import utc_iso
from app.chain import ChainUnavailableError, Receipt, RegistryClient, SignedTx
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
    OrgStatus,
    audit,
)
from app.outbox.projection import apply_events

log = logging.getLogger("billchain.outbox")

# Fixed gas for anchors: no estimation round trip; the real cost is ~48k.
ANCHOR_GAS = 120_000
# Fixed gas for registry v2 locks, claims, releases, voids and paper (≤ 65k with a 10-level proof; a
# 20-level proof adds ~10k): generous, since a claim racing another can cost more than it did alone.
SETTLEMENT_GAS_V2 = 250_000


# ---------------------------------------------------------------- signing


def sign(client: RegistryClient, account: LocalAccount, job: ChainJob, nonce: int) -> SignedTx:
    """The signed transaction of a job; raises RegistryRevert when the node says it would revert."""
    kind = JobKind(job.function)
    if kind is JobKind.FUND:
        return client.sign_transfer(account, job.args[0], int(job.args[1]), nonce)
    gas = ANCHOR_GAS if kind is JobKind.ANCHOR else None
    if kind.settles_bill and client.version == 2:
        # Not simulated first: a simulation runs at the latest block's time, which on a chain that mines
        # on demand can be long before an expired review lock; the contract decides when it is mined.
        gas = SETTLEMENT_GAS_V2
    return client.build_and_sign(account, kind.value, _decode_args(job.args), nonce, gas)


# ---------------------------------------------------------------- confirmation


def _anchor_confirmed(job: ChainJob, receipt: Receipt, forget_settlements: Callable[[], None]) -> None:
    batch = db.session.scalar(select(AnchorBatch).where(AnchorBatch.job_id == job.id))
    if batch is not None:
        batch.tx_hash = job.tx_hash
        batch.block_number = receipt.block_number
        batch.anchored_at = receipt.block_time
        mark_batch_anchored(batch)


def _settlement_confirmed(job: ChainJob, receipt: Receipt, forget_settlements: Callable[[], None]) -> None:
    bill = db.session.get(Bill, job.bill_id)
    if bill is not None:
        bill.status = BillStatus.CLAIMED if job.function == JobKind.CLAIM else BillStatus.VOIDED
        bill.settle_state = None
        bill.settled_at = receipt.block_time
        bill.settle_tx = job.tx_hash
        forget_settlements()
        audit("chain", f"bill.{bill.status}", bill.id, bill.organisation_id, tx=job.tx_hash)


def _registration_confirmed(job: ChainJob, receipt: Receipt, forget_settlements: Callable[[], None]) -> None:
    org = db.session.get(Organisation, job.organisation_id)
    if org is not None:
        org.status = OrgStatus.ACTIVE
        org.registered_at = receipt.block_time


def _revocation_confirmed(job: ChainJob, receipt: Receipt, forget_settlements: Callable[[], None]) -> None:
    org = db.session.get(Organisation, job.organisation_id)
    if org is not None:
        org.status = OrgStatus.REVOKED
        org.revoked_at = receipt.block_time


def _nothing(job: ChainJob, *_: Any) -> None:
    """A transfer changes nothing here: the key simply has ether now."""


_ON_CONFIRMED: dict[JobKind, Callable[[ChainJob, Receipt, Callable[[], None]], None]] = {
    JobKind.ANCHOR: _anchor_confirmed,
    JobKind.CLAIM: _settlement_confirmed,
    JobKind.VOID: _settlement_confirmed,
    JobKind.REGISTER: _registration_confirmed,
    JobKind.REVOKE: _revocation_confirmed,
    JobKind.FUND: _nothing,
    # Registry v2 only: their events (app/outbox/projection.py) say what they changed.
    JobKind.LOCK: _nothing,
    JobKind.RELEASE: _nothing,
    JobKind.PAPER: _nothing,
    JobKind.ROTATE: _nothing,
}


def confirmed(job: ChainJob, receipt: Receipt, forget_settlements: Callable[[], None]) -> None:
    """The job's transaction was mined and succeeded: record what it means."""
    job.status = JobStatus.CONFIRMED
    job.block_number = receipt.block_number
    job.block_time = receipt.block_time
    kind = JobKind(job.function)
    if kind is not JobKind.ANCHOR and apply_events(receipt.events, receipt.block_time):
        # Registry v2: the receipt's events say what happened (a part, a lock, paper, an admission),
        # through the same projection the indexer applies to every member platform's transactions.
        if kind.settles_bill:
            forget_settlements()
            audit("chain", f"bill.{kind.value}", job.bill_id, job.organisation_id, tx=job.tx_hash)
        return
    _ON_CONFIRMED[kind](job, receipt, forget_settlements)


def unconfirmed(job: ChainJob) -> None:
    """A reorganisation dropped the block that confirmed the job: it is in flight again (SIGNED, its stored
    bytes kept). An anchor's batch and its bills are not anchored until the chain confirms the root again;
    `confirmed` then runs once more and anchors them."""
    job.status = JobStatus.SIGNED
    job.block_number = None
    job.block_time = None
    if JobKind(job.function) is not JobKind.ANCHOR:
        return
    batch = db.session.scalar(select(AnchorBatch).where(AnchorBatch.job_id == job.id))
    if batch is not None:
        batch.status = BatchStatus.SIGNED
        batch.block_number = None
        batch.anchored_at = None
        db.session.execute(
            update(Bill)
            .where(Bill.batch_id == batch.id, Bill.status == BillStatus.ANCHORED)
            .values(status=BillStatus.PENDING)
        )


# ---------------------------------------------------------------- refusal


def _anchor_refused(job: ChainJob, client: RegistryClient | None) -> None:
    batch = db.session.scalar(select(AnchorBatch).where(AnchorBatch.job_id == job.id))
    # v1 names the first anchoring address `issuer`; v2 (anchors per issuer) names the key that anchored.
    error_args = job.error_args or {}
    first_issuer = str(error_args.get("issuer") or error_args.get("key") or "").lower()
    if batch is not None and job.error == "BillRootAlreadyAnchored" and first_issuer == job.sender.lower():
        # Anchored earlier by this same key (a job whose receipt we lost): the chain's record stands.
        # If another issuer took the root first, the bills are re-batched below instead.
        job.status = JobStatus.CONFIRMED
        mark_batch_anchored(batch)
    elif batch is not None:
        batch.status = BatchStatus.FAILED
        # The bills go back to the queue for a new root.
        db.session.execute(
            update(Bill)
            .where(Bill.batch_id == batch.id, Bill.status == BillStatus.PENDING)
            .values(batch_id=None, proof=None)
        )


def _settlement_refused(job: ChainJob, client: RegistryClient | None) -> None:
    bill = db.session.get(Bill, job.bill_id) if job.bill_id else None
    if bill is not None and getattr(client, "version", 1) != 1:
        bill.settle_state = None  # registry v2 takes nothing in this database first: nothing to give back
        return
    if bill is not None:
        bill.settle_state = None
        bill.settled_by_org_id = None
        bill.settle_requested_at = None
        bill.claim_ref = None
        if client is not None:
            sync_settlement_from_chain(client, bill)


_ON_REFUSED: dict[JobKind, Callable[[ChainJob, RegistryClient | None], None]] = {
    JobKind.ANCHOR: _anchor_refused,
    JobKind.CLAIM: _settlement_refused,
    JobKind.VOID: _settlement_refused,
    JobKind.LOCK: _settlement_refused,
    JobKind.RELEASE: _settlement_refused,
    JobKind.PAPER: _settlement_refused,
}


def refused(job: ChainJob, reason: Any, client: RegistryClient | None) -> None:
    """The chain refused the job (in simulation or mined): a claim or void is released, or corrected
    from the chain's record; an anchor's bills are re-batched unless the root is already ours."""
    job.status = JobStatus.FAILED
    job.error = getattr(reason, "name", None) or str(reason)
    job.error_args = _jsonable(getattr(reason, "error_args", None))
    log.warning("job %s (%s) failed: %s", job.id, job.function, job.error)
    handler = _ON_REFUSED.get(JobKind(job.function))
    if handler is not None:
        handler(job, client)


def sync_settlement_from_chain(client: RegistryClient, bill: Bill) -> None:
    """After a refused claim or void, take the chain's word for who settled the bill, if anyone did.

    Registry v2 needs nothing here: its events reach this database through the projection."""
    if getattr(client, "version", 1) != 1:
        return
    try:
        settlement = client.settlement_of(bill.organisation.address, from_hex(bill.bill_ref))
    except ChainUnavailableError:
        return
    if settlement is None:
        return
    org = db.session.scalar(select(Organisation).where(Organisation.address == settlement.by))
    bill.settled_by_org_id = org.id if org else None
    bill.settled_at = settlement.at
    bill.status = BillStatus.CLAIMED if settlement.status == ChainStatus.CLAIMED else BillStatus.VOIDED


def mark_batch_anchored(batch: AnchorBatch) -> None:
    """The batch's root is on chain: it and its still-pending bills are anchored."""
    batch.status = BatchStatus.CONFIRMED
    db.session.execute(
        update(Bill)
        .where(Bill.batch_id == batch.id, Bill.status == BillStatus.PENDING)
        .values(status=BillStatus.ANCHORED)
    )


# ---------------------------------------------------------------- JSON ⇄ ABI values


def _decode_args(args: list[Any]) -> list[Any]:
    """JSON holds bytes32 values as 0x-hex strings; the client wants bytes for them."""
    out: list[Any] = []
    for value in args:
        # bytes32 (66 characters) and signatures (132); addresses (42) stay text for web3.
        if isinstance(value, str) and value.startswith("0x") and len(value) in (66, 132):
            out.append(from_hex(value))
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
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return to_hex(value)
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, int | str | float | bool):
        return value
    return str(value)
