"""What the platform does, once, for the web pages, the API and the CLI alike.

Issuing stores and signs at once and never waits for the chain; claims and voids go through the
outbox and wait for the chain's confirmation; onboarding makes a key and queues its registration.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_utils import keccak
from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from app.bills.billfile import Anchoring, BillFile
from app.bills.errors import BillValidationError, ChainUnavailableError, FieldError
from app.bills.hashing import BillSignature, Domain, sign_bill
from app.bills.model import Bill as DomainBill
from app.bills.qr import verify_url
from app.errors import ApiError
from app.extensions import db
from app.models import (
    ApiToken,
    Bill,
    BillStatus,
    ChainJob,
    ChainState,
    Organisation,
    OrgKind,
    OrgStatus,
    SettleState,
    User,
    audit,
    iso,
    new_id,
    rows_changed,
    utcnow,
)
from app.pipeline import FUND
from app.platform import platform

VOID_REASONS = {1: "wrong content", 2: "refund", 3: "duplicate", 4: "other"}


# ---------------------------------------------------------------- chain identity


def chain_domain() -> tuple[int, str]:
    """(chain id, registry) for EIP-712: remembered in the database, so issuing works while the chain is down.

    Kept in the process too once read: they never change for a deployment, and every lookup needs them.
    """
    plat = platform()
    if plat.chain_domain is not None:
        return plat.chain_domain
    cached = {row.key: row.value for row in db.session.scalars(select(ChainState))}
    if "chain_id" in cached and "registry" in cached:
        plat.chain_domain = (int(cached["chain_id"]), cached["registry"])
        return plat.chain_domain
    chain_id, registry = plat.domain()
    try:
        db.session.merge(ChainState(key="chain_id", value=str(chain_id)))
        db.session.merge(ChainState(key="registry", value=registry))
        db.session.commit()
    except IntegrityError:  # a concurrent first request wrote the same facts first
        db.session.rollback()
    return chain_id, registry


# ---------------------------------------------------------------- issuing


def payer_key(id_number: str | None, name: str) -> str:
    """A keyed hash of the payer's ID number (or name, if none): lets the wallet find a payer's bills."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    basis = (id_number or f"name:{name}").strip().upper()
    return hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()


def issue_bills(org: Organisation, payloads: list[dict[str, Any]], actor: str, *, wake: bool = True) -> list[Bill]:
    """Validate all, then store and sign all, in one transaction: a bulk request lands whole or not at all.

    `wake=False` leaves the worker to its interval: an import issuing chunk after chunk wants a few
    large roots, not one small root per chunk.
    """
    if org.kind != OrgKind.ISSUER:
        raise ApiError(403, "forbidden", "Only issuing organisations may issue bills.")
    if org.status != OrgStatus.ACTIVE:
        raise ApiError(
            403 if org.status == OrgStatus.REVOKED else 409,
            "organisation_not_active",
            f"The organisation is {org.status}; it cannot issue bills.",
        )
    limit = int(current_app.config["BILLCHAIN_MAX_BULK"])
    if not payloads:
        raise ApiError(422, "invalid_bill", "Send one bill or a list of bills.", "body")
    if len(payloads) > limit:
        raise ApiError(413, "too_many_bills", f"At most {limit} bills in one request.", "body")

    chain_id, registry = chain_domain()
    domain = Domain(chain_id, registry)
    account = platform().account(org.address)
    numbers = _allocate_numbers(org, payloads)

    domain_bills: list[DomainBill] = []
    errors: list[FieldError] = []
    for index, payload in enumerate(payloads):
        prefix = f"[{index}]." if len(payloads) > 1 else ""
        data = dict(payload) if isinstance(payload, dict) else {}
        if not isinstance(payload, dict):
            errors.append(FieldError(prefix.rstrip(".") or "body", "must be a JSON object"))
            continue
        data["issuer"] = {"name": org.name, "credit_code": org.credit_code}
        data.setdefault("bill_code", org_bill_code(org))
        data.setdefault("bill_number", numbers[index])
        data.setdefault("issued_at", utcnow().isoformat())
        try:
            domain_bills.append(DomainBill.create(data))
        except BillValidationError as exc:
            errors.extend(FieldError(prefix + e.field, e.message) for e in exc.errors)
    if errors:
        db.session.rollback()
        raise BillValidationError(errors)

    # Core bulk INSERT rather than ORM objects: the unit of work costs more than signing at 1,000 bills.
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for bill in domain_bills:
        digest, signature = sign_bill(bill, domain, account)
        rows.append(
            dict(
                id=new_id(),
                organisation_id=org.id,
                bill_code=bill.bill_code,
                bill_number=bill.bill_number,
                bill_type=bill.bill_type.value,
                bill_ref="0x" + bill.bill_ref.hex(),
                content_hash="0x" + digest.hex(),
                payer_name=bill.payer.name,
                payer_key=payer_key(bill.payer.id_number, bill.payer.name),
                total_fen=bill.total_fen,
                issued_at=bill.issued_at,
                document=bill.to_dict(),
                signature="0x" + signature.value.hex(),
                status=BillStatus.PENDING,
                created_at=now,
            )
        )
    try:
        db.session.execute(insert(Bill), rows)
        audit(actor, "bills.issued", rows[0]["id"] if len(rows) == 1 else None, org.id, count=len(rows))
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ApiError(
            409, "duplicate_bill_number", "A bill with this bill code and number was already issued.", "bill_number"
        ) from exc
    if wake:
        _wake_worker()
    return [Bill(**row) for row in rows]  # transient views for the answer; the rows are stored


def org_bill_code(org: Organisation) -> str:
    """The 8-digit bill code the finance department assigns; derived from the credit code here."""
    digits = "".join(c for c in org.credit_code if c.isdigit())
    return (digits + "00000000")[:8]


def _allocate_numbers(org: Organisation, payloads: list[Any]) -> list[str]:
    """Reserve consecutive bill numbers: the UPDATE locks the organisation row until commit."""
    wanted = sum(1 for p in payloads if not (isinstance(p, dict) and p.get("bill_number")))
    if wanted == 0:
        return ["" for _ in payloads]
    db.session.execute(
        update(Organisation)
        .where(Organisation.id == org.id)
        .values(next_bill_number=Organisation.next_bill_number + wanted)
    )
    end = db.session.scalar(select(Organisation.next_bill_number).where(Organisation.id == org.id))
    assert end is not None
    start = end - wanted
    out: list[str] = []
    for payload in payloads:
        if isinstance(payload, dict) and payload.get("bill_number"):
            out.append("")
        else:
            out.append(f"{start:010d}")
            start += 1
    return out


def _wake_worker() -> None:
    worker = platform().worker
    if worker is not None:
        worker.wake()


# ---------------------------------------------------------------- reading


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
            root=bytes.fromhex(row.root[2:]),
            proof=tuple(bytes.fromhex(p[2:]) for p in row.proof or []),
            tx_hash=bytes.fromhex(row.tx_hash[2:]),
            block_number=int(row.block_number or 0),
            anchored_at=row.anchored_at,
        )
    return BillFile(
        bill=DomainBill.from_dict(row.document),
        domain=domain,
        content_hash=bytes.fromhex(row.content_hash[2:]),
        bill_ref=bytes.fromhex(row.bill_ref[2:]),
        signature=BillSignature(signer=row.signer, value=bytes.fromhex(row.signature[2:])),
        anchoring=anchoring,
    )


def bill_file(bill: Bill) -> dict[str, Any]:
    return domain_bill_file(bill).to_dict()


def bill_verify_url(bill: Bill) -> str:
    return verify_url(
        current_app.config["BILLCHAIN_BASE_URL"], bytes.fromhex(bill.bill_ref[2:]), bytes.fromhex(bill.content_hash[2:])
    )


# ---------------------------------------------------------------- claims and voids


def _require_settleable(bill: Bill) -> None:
    if bill.status == BillStatus.CLAIMED or bill.settle_state == SettleState.CLAIMING:
        raise already_claimed(bill)
    if bill.status == BillStatus.VOIDED or bill.settle_state == SettleState.VOIDING:
        raise ApiError(
            409,
            "bill_voided",
            "This bill has been voided and cannot be reimbursed.",
            voided_at=iso(bill.settled_at or bill.settle_requested_at),
        )
    if bill.status == BillStatus.PENDING:
        raise ApiError(
            409,
            "bill_not_anchored",
            "This bill is not on the chain yet; try again in a few seconds.",
            retry_after=2,
        )


def already_claimed(bill: Bill) -> ApiError:
    by = bill.settled_by
    return ApiError(
        409,
        "bill_already_claimed",
        f"This bill was already reimbursed by {by.name if by else 'another organisation'}.",
        claimed_by=by.name if by else None,
        claimed_by_address=by.address if by else None,
        claimed_at=iso(bill.settled_at or bill.settle_requested_at),
        confirmed=bill.status == BillStatus.CLAIMED,
    )


def request_claim(bill: Bill, claimant: Organisation, claim_ref: str, actor: str) -> ChainJob:
    """Take the bill for this claimant with one atomic UPDATE, then queue the claim transaction."""
    if claimant.kind != OrgKind.CLAIMANT or claimant.status != OrgStatus.ACTIVE:
        raise ApiError(403, "forbidden", "Only active reimbursing organisations may claim bills.")
    _take_for_settlement(bill, claimant, SettleState.CLAIMING, claim_ref=claim_ref)
    assert bill.batch is not None
    args = [bill.batch.root, bill.proof or [], bill.bill_ref, bill.content_hash, _bytes32_text(claim_ref)]
    return _queue_settlement(bill, claimant, "claim", args, actor, "bill.claim_requested", claim_ref=claim_ref)


def request_void(
    bill: Bill, issuer: Organisation, reason: int, note: str, replacement: Bill | None, actor: str
) -> ChainJob:
    """Take the bill for a void by its own issuer, then queue the void transaction."""
    if bill.organisation_id != issuer.id:
        raise ApiError(403, "forbidden", "Only the issuing organisation may void its bills.")
    if issuer.status != OrgStatus.ACTIVE:
        raise ApiError(403, "organisation_revoked", "A revoked organisation cannot void bills.")
    if reason not in VOID_REASONS:
        raise ApiError(422, "invalid_reason", f"reason must be one of {sorted(VOID_REASONS)}.", "reason")
    _take_for_settlement(
        bill,
        issuer,
        SettleState.VOIDING,
        void_reason=reason,
        void_note=note[:200],
        replacement_bill_id=replacement.id if replacement else None,
    )
    assert bill.batch is not None
    replacement_ref = replacement.bill_ref if replacement else "0x" + "00" * 32
    args = [bill.batch.root, bill.proof or [], bill.bill_ref, bill.content_hash, reason, replacement_ref]
    return _queue_settlement(bill, issuer, "voidBill", args, actor, "bill.void_requested", reason=reason, note=note)


def _take_for_settlement(bill: Bill, org: Organisation, state: str, **values: Any) -> None:
    """One atomic UPDATE takes an anchored, unsettled bill: of concurrent requests exactly one wins.

    The chain is asked first, so that a request nobody can complete now gets 503 instead of a queue.
    """
    _require_settleable(bill)
    platform().client.block_number()
    taken = rows_changed(
        db.session.execute(
            update(Bill)
            .where(Bill.id == bill.id, Bill.status == BillStatus.ANCHORED, Bill.settle_state.is_(None))
            .values(settle_state=state, settled_by_org_id=org.id, settle_requested_at=utcnow(), **values)
        )
    )
    if not taken:
        db.session.rollback()
        db.session.refresh(bill)
        _require_settleable(bill)
        raise already_claimed(bill)


def _queue_settlement(
    bill: Bill, org: Organisation, function: str, args: list[Any], actor: str, action: str, **detail: Any
) -> ChainJob:
    job = ChainJob(sender=org.address, function=function, args=args, bill_id=bill.id, organisation_id=org.id)
    db.session.add(job)
    audit(actor, action, bill.id, org.id, **detail)
    db.session.commit()
    _wake_worker()
    return job


def sync_settlement_from_chain(bill: Bill) -> None:
    """After a refused claim or void, take the chain's word for who settled the bill, if anyone did."""
    try:
        settlement = platform().client.settlement_of(bill.organisation.address, bytes.fromhex(bill.bill_ref[2:]))
    except ChainUnavailableError:
        return
    if settlement is None:
        return
    org = db.session.scalar(select(Organisation).where(Organisation.address == settlement.by))
    bill.settled_by_org_id = org.id if org else None
    bill.settled_at = settlement.at
    bill.status = BillStatus.CLAIMED if settlement.status == 2 else BillStatus.VOIDED


# ---------------------------------------------------------------- organisations


@dataclass
class Onboarded:
    organisation: Organisation
    username: str | None
    password: str | None
    token: str


def onboard_organisation(
    name: str,
    credit_code: str,
    kind: str,
    actor: str,
    username: str | None = None,
    password: str | None = None,
) -> Onboarded:
    """Make the organisation's key, queue its registration (and funding where gas is paid), add a user and a token."""
    if kind not in (OrgKind.ISSUER, OrgKind.CLAIMANT):
        raise ApiError(422, "invalid_kind", "kind must be 'issuer' or 'claimant'.", "kind")
    if not name.strip():
        raise ApiError(422, "invalid_name", "name must not be empty.", "name")
    problem = validate_credit_code(credit_code)
    if problem:
        raise ApiError(422, "invalid_credit_code", problem, "credit_code")
    if db.session.scalar(select(Organisation).where(Organisation.credit_code == credit_code)):
        raise ApiError(409, "organisation_exists", "An organisation with this credit code exists.", "credit_code")

    plat = platform()
    address = plat.keystore.create(plat.keystore_password())
    org = Organisation(name=name.strip(), credit_code=credit_code, kind=kind, address=address)
    db.session.add(org)
    db.session.flush()
    admin = finance_organisation()
    if current_app.config["BILLCHAIN_FUND_WEI"] and _gas_is_paid():
        db.session.add(
            ChainJob(
                sender=admin.address,
                function=FUND,
                args=[address, int(current_app.config["BILLCHAIN_FUND_WEI"])],
                organisation_id=org.id,
            )
        )
    db.session.add(
        ChainJob(
            sender=admin.address,
            function="registerOrganisation",
            args=[address, org.name, credit_code, 1 if kind == OrgKind.ISSUER else 2],
            organisation_id=org.id,
        )
    )
    user_password = None
    if username:
        user = User(username=username, organisation=org)
        user_password = password or _random_password()
        user.set_password(user_password)
        db.session.add(user)
    token, plain = ApiToken.issue(org)
    db.session.add(token)
    audit(actor, "organisation.onboarded", str(org.id), org.id, name=org.name, kind=kind, address=address)
    db.session.commit()
    _wake_worker()
    return Onboarded(org, username, user_password, plain)


def revoke_organisation(org: Organisation, actor: str) -> ChainJob:
    if org.kind == OrgKind.FINANCE:
        raise ApiError(422, "invalid_kind", "The finance department cannot be revoked.", "organisation")
    if org.status == OrgStatus.REVOKED:
        raise ApiError(409, "organisation_revoked", "This organisation is already revoked.")
    admin = finance_organisation()
    job = ChainJob(sender=admin.address, function="revokeOrganisation", args=[org.address], organisation_id=org.id)
    db.session.add(job)
    audit(actor, "organisation.revoke_requested", str(org.id), org.id)
    db.session.commit()
    _wake_worker()
    return job


def validate_credit_code(code: str) -> str | None:
    """None if `code` is a valid unified social credit code, else what is wrong (the domain's rule)."""
    from pydantic import ValidationError

    from app.bills.model import Issuer

    try:
        Issuer.model_validate({"name": "-", "credit_code": code})
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


def finance_organisation() -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.FINANCE))
    if org is None:
        raise ApiError(
            409, "no_finance_admin", "No finance department is set up: run `flask --app app orgs init-finance`."
        )
    return org


def _gas_is_paid() -> bool:
    try:
        return platform().client.gas_is_paid()
    except ChainUnavailableError:
        return False


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(12)


def _bytes32_text(text: str) -> str:
    """A claim reference as bytes32: short ones verbatim (readable on chain), long ones hashed."""
    raw = text.encode()
    if len(raw) <= 32:
        return "0x" + raw.ljust(32, b"\0").hex()
    return "0x" + keccak(raw).hex()
