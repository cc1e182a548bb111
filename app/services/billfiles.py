"""Bill files: a stored bill as the self-contained file anyone can verify on any node, and its verify URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.bills.billfile import Anchoring, BillFile
from app.bills.hashing import BillSignature, Domain
from app.bills.hexstr import from_hex
from app.bills.model import Bill as DomainBill
from app.bills.qr import verify_url
from app.extensions import db
from app.models import (
    Bill,
    BillStatus,
    ChainState,
)
from app.runtime import runtime


def chain_domain() -> tuple[int, str]:
    """(chain id, registry) for EIP-712: remembered in the database, so issuing works while the chain is down.

    Kept in the process too once read: they never change for a deployment, and every lookup needs them.
    """
    rt = runtime()
    if rt.chain_domain is not None:
        return rt.chain_domain
    cached = {row.key: row.value for row in db.session.scalars(select(ChainState))}
    if "chain_id" in cached and "registry" in cached:
        rt.chain_domain = (int(cached["chain_id"]), cached["registry"])
        return rt.chain_domain
    chain_id, registry = rt.domain()
    try:
        db.session.merge(ChainState(key="chain_id", value=str(chain_id)))
        db.session.merge(ChainState(key="registry", value=registry))
        db.session.commit()
    except IntegrityError:  # a concurrent first request wrote the same facts first
        db.session.rollback()
    return chain_id, registry


def domain_bill_file(bill: Bill) -> BillFile:
    """The bill file of a stored bill: enough to verify it on any node, without this platform."""
    batch = bill.batch
    return make_bill_file(
        StoredBillRow(
            document=bill.document,
            content_hash=bill.content_hash,
            bill_ref=bill.bill_ref,
            signer=bill.organisation.address,
            signature=bill.signature,
            status=bill.status,
            proof=bill.proof,
            root=batch.root if batch else None,
            tx_hash=batch.tx_hash if batch else None,
            block_number=batch.block_number if batch else None,
            anchored_at=batch.anchored_at if batch else None,
        )
    )


@dataclass(frozen=True)
class StoredBillRow:
    """The columns a bill file is made of (an ORM bill, or one row of a column query on the hot path)."""

    document: dict[str, Any]
    content_hash: str
    bill_ref: str
    signer: str
    signature: str
    status: str
    proof: list[str] | None
    root: str | None
    tx_hash: str | None
    block_number: int | None
    anchored_at: datetime | None


def make_bill_file(row: StoredBillRow) -> BillFile:
    chain_id, registry = chain_domain()
    domain = Domain(chain_id, registry)
    anchoring = None
    if row.root and row.tx_hash and row.anchored_at and row.status != BillStatus.PENDING:
        anchoring = Anchoring(
            chain_id=chain_id,
            registry=domain.verifying_contract,
            root=from_hex(row.root),
            proof=tuple(from_hex(p) for p in row.proof or []),
            tx_hash=from_hex(row.tx_hash),
            block_number=int(row.block_number or 0),
            anchored_at=row.anchored_at,
        )
    return BillFile(
        bill=DomainBill.from_dict(row.document),
        domain=domain,
        content_hash=from_hex(row.content_hash),
        bill_ref=from_hex(row.bill_ref),
        signature=BillSignature(signer=row.signer, value=from_hex(row.signature)),
        anchoring=anchoring,
    )


def bill_file(bill: Bill) -> dict[str, Any]:
    return domain_bill_file(bill).to_dict()


def bill_verify_url(bill: Bill) -> str:
    return verify_url(current_app.config["BILLCHAIN_BASE_URL"], from_hex(bill.bill_ref), from_hex(bill.content_hash))
