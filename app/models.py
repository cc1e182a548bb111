"""The off-chain store: full bill content (personal data stays here), organisations, the chain outbox.

The chain holds only roots and settlements; everything a person reads comes from here, and the
outbox tables (AnchorBatch, ChainJob, Sender) make every transaction durable before it is sent.
Statuses are StrEnums (stored as their text); the contract's own enums are mirrored in
app.bills.chainview as IntEnums.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.bills.chainview import ChainOrgKind
from app.bills.hexstr import to_hex
from app.bills.times import utc_iso
from app.extensions import db


def rows_changed(result: Any) -> int:
    """rowcount of an UPDATE (SQLAlchemy types execute() as Result, which hides it)."""
    return int(result.rowcount)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(db.TypeDecorator):  # type: ignore[name-defined]
    """Stores aware UTC datetimes; SQLite drops the zone, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Hex32(db.TypeDecorator):  # type: ignore[name-defined]
    """A 32-byte value (hash, root, bill reference, tx hash) as lower-case 0x-hex text.

    Bytes are accepted on the way in, so callers need not convert; text is lower-cased, so a lookup
    with a checksum-cased or upper-case hash still finds its row. Anything else is passed through and
    simply matches nothing (a lookup with a stranger's bad input must not become an error).
    """

    impl = String(66)
    cache_ok = True

    def process_bind_param(self, value: bytes | str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return to_hex(value) if isinstance(value, bytes | bytearray) else str(value).lower()


class OrgKind(StrEnum):
    FINANCE = "finance"
    ISSUER = "issuer"
    CLAIMANT = "claimant"

    @property
    def on_chain(self) -> ChainOrgKind:
        """The registry's OrgKind for an issuer or claimant (the finance department is the admin, no kind)."""
        return ChainOrgKind[self.name]


class OrgStatus(StrEnum):
    REGISTERING = "registering"  # key made, registration queued on chain
    ACTIVE = "active"
    REVOKING = "revoking"  # the finance department revoked it: refused at once here, chain confirmation queued
    REVOKED = "revoked"

    @property
    def revoked(self) -> bool:
        """Revoked in the app, whether or not the chain has confirmed it yet."""
        return self in (OrgStatus.REVOKING, OrgStatus.REVOKED)


class Organisation(db.Model):  # type: ignore[name-defined]
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(42), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.REGISTERING)
    next_bill_number: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seal_public_key: Mapped[str | None] = mapped_column(String(130))  # SM2 04||X||Y hex; key in the keystore
    chain_org_id: Mapped[int | None] = mapped_column(Integer, index=True)  # its stable id on registry v2

    users: Mapped[list[User]] = relationship(back_populates="organisation")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "credit_code": self.credit_code,
            "kind": self.kind,
            "address": self.address,
            "status": self.status,
            "registered_at": utc_iso(self.registered_at),
            "revoked_at": utc_iso(self.revoked_at),
        }


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def kind(self) -> str:
        return self.organisation.kind


class ApiToken(db.Model):  # type: ignore[name-defined]
    """Bearer tokens for hospital and school systems; only their SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(80), default="default")
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, organisation: Organisation, name: str = "default") -> tuple[ApiToken, str]:
        """A new token; the plain value is returned once and never stored."""
        plain = "bct_" + secrets.token_urlsafe(32)
        return cls(organisation=organisation, name=name, prefix=plain[:12], token_hash=cls.hash(plain)), plain


class BillStatus(StrEnum):
    PENDING = "pending"  # stored, waiting for its anchoring batch
    ANCHORED = "anchored"
    PARTLY_CLAIMED = "partly_claimed"  # registry v2: some parts reimbursed, a remainder left
    CLAIMED = "claimed"  # reimbursed in full
    PAPER = "paper"  # registry v2: converted to paper, the paper bill is the instrument
    VOIDED = "voided"


class SettleState(StrEnum):
    """An in-flight claim or void, taken by one atomic UPDATE so concurrent requests cannot both win."""

    CLAIMING = "claiming"
    VOIDING = "voiding"


class Bill(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("organisation_id", "bill_code", "bill_number", name="uq_bill_number_per_org"),
        Index("ix_bills_org_status", "organisation_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    bill_code: Mapped[str] = mapped_column(String(8))
    bill_number: Mapped[str] = mapped_column(String(10))
    bill_type: Mapped[str] = mapped_column(String(32))
    bill_ref: Mapped[str] = mapped_column(Hex32, index=True)
    content_hash: Mapped[str] = mapped_column(Hex32, unique=True)
    payer_name: Mapped[str] = mapped_column(String(200), index=True)
    payer_key: Mapped[str] = mapped_column(String(64), index=True)  # hash of payer id, for the wallet
    total_fen: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the bill as the domain serialises it
    signature: Mapped[str] = mapped_column(String(132))
    # The key that signed it: the organisation's key of the day (registry v2 can rotate an organisation's key).
    signer: Mapped[str | None] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16), default=BillStatus.PENDING)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    proof: Mapped[list[str] | None] = mapped_column(JSON)
    settle_state: Mapped[str | None] = mapped_column(String(16))
    settled_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    settle_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settle_tx: Mapped[str | None] = mapped_column(Hex32)
    claim_ref: Mapped[str | None] = mapped_column(String(64))
    void_reason: Mapped[int | None] = mapped_column(Integer)
    void_note: Mapped[str | None] = mapped_column(String(200))
    replacement_bill_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Registry v2, each copied from the chain's events (app/outbox/projection.py), never decided here.
    registry_id: Mapped[int | None] = mapped_column(Integer)  # signed for registries.id; None: the first
    reimbursed_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    lock_holder_chain_id: Mapped[int | None] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paper_number: Mapped[str | None] = mapped_column(String(32))
    replacement_ref: Mapped[str | None] = mapped_column(Hex32)

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    settled_by: Mapped[Organisation | None] = relationship(foreign_keys=[settled_by_org_id])
    batch: Mapped[AnchorBatch | None] = relationship(back_populates="bills")


class BatchStatus(StrEnum):
    SIGNED = "signed"  # root and signed transaction stored, not yet accepted by a node
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class AnchorBatch(db.Model):  # type: ignore[name-defined]
    """One Merkle root; the signed transaction is stored before sending, so a crash loses nothing."""

    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    root: Mapped[str] = mapped_column(Hex32, unique=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.SIGNED, index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("chain_jobs.id"))
    tx_hash: Mapped[str | None] = mapped_column(Hex32)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    bills: Mapped[list[Bill]] = relationship(back_populates="batch")


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for a nonce
    SIGNED = "signed"  # signed with its nonce; (re)broadcast until a receipt comes
    CONFIRMED = "confirmed"
    FAILED = "failed"  # reverted on chain; `error` says why
    DEAD = "dead"  # set aside after BILLCHAIN_JOB_MAX_FAILURES failures (never holds an unmined nonce); finance retries


class JobKind(StrEnum):
    """What an outbox job sends: a registry function by its Solidity name, or a plain ether transfer."""

    ANCHOR = "anchor"
    CLAIM = "claim"
    VOID = "voidBill"
    LOCK = "lock"  # registry v2: review lock
    RELEASE = "release"
    PAPER = "convertToPaper"
    ROTATE = "rotateKey"  # registry v2: the finance admin moves an organisation to a new key
    REGISTER = "registerOrganisation"
    REVOKE = "revokeOrganisation"
    FUND = "__fund__"  # an ether transfer to a new key, on chains where gas is paid (no contract call)

    @property
    def settles_bill(self) -> bool:
        return self in (JobKind.CLAIM, JobKind.VOID, JobKind.LOCK, JobKind.RELEASE, JobKind.PAPER)


class ChainJob(db.Model):  # type: ignore[name-defined]
    """The outbox: every transaction the platform sends, in nonce order per sender."""

    __tablename__ = "chain_jobs"
    __table_args__ = (
        Index("ix_chain_jobs_status", "status", "sender"),
        # the worker re-checks jobs confirmed in the last BILLCHAIN_CONFIRMATIONS blocks (reorganisations)
        Index("ix_chain_jobs_status_block", "status", "block_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(42))
    function: Mapped[str] = mapped_column(String(40))
    args: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(Hex32)
    raw_tx: Mapped[str | None] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # rounds it failed in
    last_error: Mapped[str | None] = mapped_column(Text)  # why the last round failed (not a revert: `error`)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # backed off until then
    bill_id: Mapped[str | None] = mapped_column(String(32), index=True)
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    # The registry it calls when not the current one: a claim or void of a bill signed for the v1 registry
    # after the platform moved to v2 is decided where that bill is anchored.
    registry: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Registry(db.Model):  # type: ignore[name-defined]
    """Every registry this platform has signed bills for: bill files name theirs, and keep verifying there."""

    __tablename__ = "registries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))
    version: Mapped[int] = mapped_column(Integer)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("chain_id", "address", name="uq_registry_chain_address"),)


class AdmissionStatus(StrEnum):
    PENDING = "pending"  # received by the finance department, not decided yet
    APPROVED = "approved"  # registerOrganisation queued with the request's signature
    REFUSED = "refused"


class AdmissionRecord(db.Model):  # type: ignore[name-defined]
    """An admission request from a member platform, as the finance department's platform received it."""

    __tablename__ = "admission_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(42), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the signed request file, as received
    status: Mapped[str] = mapped_column(String(16), default=AdmissionStatus.PENDING, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    job_id: Mapped[int | None] = mapped_column(Integer)


class BillPart(db.Model):  # type: ignore[name-defined]
    """One reimbursed part of a bill, copied from a registry v2 BillClaimed event (the chain's record)."""

    __tablename__ = "bill_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), index=True)
    claimant_chain_id: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int | None] = mapped_column(Integer)  # when the claimant is one of ours
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    remaining_fen: Mapped[int] = mapped_column(BigInteger)
    claim_ref: Mapped[str] = mapped_column(Hex32)
    tx_hash: Mapped[str] = mapped_column(Hex32)
    log_index: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("tx_hash", "log_index", name="uq_bill_part_log"),)


class Sender(db.Model):  # type: ignore[name-defined]
    """The next nonce of each key, owned by whichever worker holds the lease."""

    __tablename__ = "senders"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class WorkerLease(db.Model):  # type: ignore[name-defined]
    """Only one worker sends at a time, whatever the number of app instances."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(80), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ChainState(db.Model):  # type: ignore[name-defined]
    """Small key/value facts about the chain this database belongs to (chain id, registry)."""

    __tablename__ = "chain_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VerificationCount(db.Model):  # type: ignore[name-defined]
    """Public verifications of one bill in one UTC day: a counter upserted in bulk, never a row per request."""

    __tablename__ = "verification_counts"

    bill_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC date, YYYY-MM-DD
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


def audit(
    actor: str, action: str, target: str | None = None, organisation_id: int | None = None, **detail: Any
) -> None:
    """Append to the audit log in the caller's transaction."""
    db.session.add(
        AuditEntry(
            actor=actor,
            action=action,
            target=target,
            organisation_id=organisation_id,
            detail=json.loads(json.dumps(detail, default=str)) if detail else None,
        )
    )


# ---------------------------------------------------------------- chain index, imports, wallet


class ChainEvent(db.Model):  # type: ignore[name-defined]
    """One registry log as the indexer saw it: the chain's side of every bill's timeline and of reconciliation."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", name="uq_chain_event_log"),
        Index("ix_chain_events_issuer_ref", "issuer", "bill_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(Hex32)
    log_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40), index=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issuer: Mapped[str | None] = mapped_column(String(42))  # lower-case address: issuer, or the organisation
    bill_ref: Mapped[str | None] = mapped_column(Hex32)
    root: Mapped[str | None] = mapped_column(Hex32, index=True)


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # validation errors (nothing issued) or a stop part-way (`done` says how far)


class ImportJob(db.Model):  # type: ignore[name-defined]
    """A bulk import from CSV/XLSX, run by a background thread; the web page polls it."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WalletCode(db.Model):  # type: ignore[name-defined]
    """A one-time code proving a payer holds the phone or e-mail on their bills; only its hash is kept."""

    __tablename__ = "wallet_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_key: Mapped[str] = mapped_column(String(64), index=True)
    contact: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64))
    pending_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # hash of the browser's opaque token
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WalletEntry(db.Model):  # type: ignore[name-defined]
    """A bill a payer added to their wallet from a bill file or QR photo (their own bills are found by payer_key)."""

    __tablename__ = "wallet_entries"
    __table_args__ = (UniqueConstraint("payer_key", "content_hash", name="uq_wallet_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payer_key: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(Hex32)
    bill_ref: Mapped[str] = mapped_column(Hex32)
    bill_id: Mapped[str | None] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the verified bill file, for bills stored elsewhere
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    contact: Mapped[str | None] = mapped_column(String(200))  # the proven contact of the session that added it


class WalletSession(db.Model):  # type: ignore[name-defined]
    """A wallet opened with one-time codes: the (payer key, contact) pairs it proved; the cookie holds a token only."""

    __tablename__ = "wallet_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    proven: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [[payer_key, contact], ...]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------- delivery to payers


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued or waiting for its next attempt (next_attempt_at)
    SENT = "sent"
    FAILED = "failed"  # gave up after BILLCHAIN_DELIVERY_MAX_ATTEMPTS


class Delivery(db.Model):  # type: ignore[name-defined]
    """One message to a payer about one bill; the full address stays in the bill, only a masked copy here."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(200))  # masked: 138****00, a***@example.cn
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
