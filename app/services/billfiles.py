"""Bill files: a stored bill as the self-contained file anyone can verify on any node, and its verify URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.bills.billfile import Anchoring, BillFile
from app.bills.errors import ChainUnavailableError
from app.bills.hashing import BillSignature, Domain
from app.bills.hexstr import from_hex
from app.bills.model import Bill as DomainBill
from app.bills.qr import verify_url
from app.extensions import db
from app.models import (
    Bill,
    BillStatus,
    ChainState,
    Registry,
)
from app.runtime import runtime


@dataclass(frozen=True)
class RegistryRef:
    """A registry this platform signs (or signed) bills for: bill files name theirs."""

    id: int
    chain_id: int
    address: str
    version: int


def current_registry() -> RegistryRef:
    """The registry new bills are signed for: the configured one, recorded in `registries` on first use.

    Kept in the process once known. While the chain cannot be reached, the last recorded registry
    stands in, so issuing works with the chain down.
    """
    rt = runtime()
    if isinstance(rt.chain_domain, RegistryRef):
        return rt.chain_domain
    try:
        client = rt.client
        wanted = (client.chain_id, client.registry_address, client.version)
    except ChainUnavailableError:
        latest = db.session.scalar(select(Registry).order_by(Registry.id.desc()).limit(1))
        if latest is None:
            legacy = _legacy_registry()
            if legacy is None:
                raise
            latest = legacy
        return _ref(latest)
    found = _find_registry(wanted[0], wanted[1])
    if found is None:
        _legacy_registry()  # a database from before `registries` existed: its registry comes first
        found = _find_registry(wanted[0], wanted[1])
    if found is None:
        try:
            db.session.add(Registry(chain_id=wanted[0], address=wanted[1], version=wanted[2]))
            db.session.commit()
        except IntegrityError:  # a concurrent first request recorded it first
            db.session.rollback()
        found = _find_registry(wanted[0], wanted[1])
        assert found is not None
    rt.chain_domain = _ref(found)
    rt.registries[found.id] = rt.chain_domain
    return rt.chain_domain


def registry_of(registry_id: int | None) -> RegistryRef:
    """The registry a stored bill was signed for (None: the first this database used)."""
    rt = runtime()
    known = rt.registries.get(registry_id)
    if known is not None:
        return known
    query = select(Registry)
    query = query.where(Registry.id == registry_id) if registry_id else query.order_by(Registry.id).limit(1)
    row = db.session.scalar(query)
    if row is None:
        if registry_id is None:
            return current_registry()
        raise LookupError(f"registry {registry_id} is not recorded")
    ref = rt.registries[registry_id] = _ref(row)
    return ref


def chain_domain() -> tuple[int, str]:
    """(chain id, registry) for the EIP-712 signature of a new bill."""
    ref = current_registry()
    return ref.chain_id, ref.address


def _find_registry(chain_id: int, address: str) -> Registry | None:
    return db.session.scalar(
        select(Registry).where(Registry.chain_id == chain_id, func.lower(Registry.address) == address.lower())
    )


def _legacy_registry() -> Registry | None:
    """The (chain id, registry) a database written before `registries` remembered, recorded as registry v1."""
    if db.session.scalar(select(Registry.id).limit(1)) is not None:
        return None
    cached = {row.key: row.value for row in db.session.scalars(select(ChainState))}
    if "chain_id" not in cached or "registry" not in cached:
        return None
    row = Registry(chain_id=int(cached["chain_id"]), address=cached["registry"], version=1)
    try:
        db.session.add(row)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(select(Registry).order_by(Registry.id).limit(1))
    return row


def _ref(row: Registry) -> RegistryRef:
    return RegistryRef(row.id, int(row.chain_id), row.address, int(row.version))


def domain_bill_file(bill: Bill) -> BillFile:
    """The bill file of a stored bill: enough to verify it on any node, without this platform."""
    batch = bill.batch
    return make_bill_file(
        StoredBillRow(
            document=bill.document,
            content_hash=bill.content_hash,
            bill_ref=bill.bill_ref,
            signer=bill.signer or bill.organisation.address,
            signature=bill.signature,
            status=bill.status,
            proof=bill.proof,
            root=batch.root if batch else None,
            tx_hash=batch.tx_hash if batch else None,
            block_number=batch.block_number if batch else None,
            anchored_at=batch.anchored_at if batch else None,
            registry_id=bill.registry_id,
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
    registry_id: int | None = None


def make_bill_file(row: StoredBillRow) -> BillFile:
    registry = registry_of(row.registry_id)
    chain_id = registry.chain_id
    domain = Domain(chain_id, registry.address)
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
