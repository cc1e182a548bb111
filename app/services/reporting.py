"""What the finance department oversees: issued, claimed and voided per organisation and day, and a
reconciliation of this database against the chain's own events.

Days are UTC calendar days, over a period of at most BILLCHAIN_REPORT_MAX_DAYS. Aggregation runs in Python
over the period's rows (the same code on SQLite and PostgreSQL, whose date functions differ); at larger
scale it belongs in SQL with a date column.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.bills.errors import ChainUnavailableError
from app.extensions import db
from app.models import AnchorBatch, Bill, BillPart, BillStatus, ChainEvent, Organisation, OrgKind
from app.outbox.indexer import index_new_events


@dataclass
class DayFigures:
    issued: int = 0
    issued_fen: int = 0
    claimed: int = 0
    claimed_fen: int = 0
    voided: int = 0
    voided_fen: int = 0


@dataclass
class OrgFigures:
    organisation: Organisation
    pending: int = 0
    days: dict[date, DayFigures] = field(default_factory=lambda: defaultdict(DayFigures))


@dataclass
class ClaimantFigures:
    """A reimbursing unit's claims per UTC day: how many bills it reimbursed and their amount (fen).

    Over the period: `full` claims (the unit reimbursed the whole bill at once), `partial` ones (a part of a
    bill, registry v2) and `reimbursed_fen`, the sum it paid (each part's own amount, not the bill's total).
    """

    organisation: Organisation
    days: dict[date, DayFigures] = field(default_factory=lambda: defaultdict(DayFigures))
    full: int = 0
    partial: int = 0
    reimbursed_fen: int = 0


@dataclass(frozen=True)
class Period:
    """UTC calendar days `start`..`end`, both included."""

    start: date
    end: date

    @classmethod
    def last(cls, days: int, today: date | None = None) -> Period:
        end = today or datetime.now(UTC).date()
        return cls(end - timedelta(days=days - 1), end)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


def _window(days: int) -> datetime:
    return Period.last(days).since


def figures(days: int = 30, period: Period | None = None) -> list[OrgFigures]:
    """Per issuing organisation and UTC day: bills issued, claimed, voided (counts and fen); pending now."""
    period = period or Period.last(days)
    since, until = period.since, period.until
    orgs = {
        o.id: OrgFigures(o)
        for o in db.session.scalars(
            select(Organisation).where(Organisation.kind == OrgKind.ISSUER).order_by(Organisation.name)
        )
    }
    for org_id, count in db.session.execute(
        select(Bill.organisation_id, func.count(Bill.id))
        .where(Bill.status == BillStatus.PENDING)
        .group_by(Bill.organisation_id)
    ):
        if org_id in orgs:
            orgs[org_id].pending = count
    rows = db.session.execute(
        select(Bill.organisation_id, Bill.issued_at, Bill.total_fen, Bill.status, Bill.settled_at).where(
            Bill.issued_at.between(since, until) | Bill.settled_at.between(since, until)
        )
    )
    for org_id, issued_at, total, status, settled_at in rows:
        org = orgs.get(org_id)
        if org is None:
            continue
        if since <= issued_at < until:
            day = org.days[issued_at.date()]
            day.issued += 1
            day.issued_fen += total
        if settled_at is not None and since <= settled_at < until and status in (BillStatus.CLAIMED, BillStatus.VOIDED):
            day = org.days[settled_at.date()]
            if status == BillStatus.CLAIMED:
                day.claimed += 1
                day.claimed_fen += total
            else:
                day.voided += 1
                day.voided_fen += total
    return list(orgs.values())


def claimant_figures(period: Period) -> list[ClaimantFigures]:
    """Per reimbursing unit and UTC day of the claim: bills (or parts of bills) it reimbursed and their amount.

    Registry v2's parts (BillPart, one per BillClaimed event) count each claim with its own amount; a part
    that covers the whole bill is a full reimbursement, any other a partial one. Bills reimbursed on
    registry v1 (no parts) count as full, with the bill's total.
    """
    orgs = {
        o.id: ClaimantFigures(o)
        for o in db.session.scalars(
            select(Organisation).where(Organisation.kind == OrgKind.CLAIMANT).order_by(Organisation.name)
        )
    }
    parts = db.session.execute(
        select(BillPart.organisation_id, BillPart.block_time, BillPart.amount_fen, Bill.total_fen)
        .join(Bill, Bill.id == BillPart.bill_id)
        .where(BillPart.block_time >= period.since, BillPart.block_time < period.until)
    )
    for org_id, at, amount, total in parts:
        org = orgs.get(org_id) if org_id is not None else None
        if org is None or at is None:
            continue
        _count(org, at, amount, full=amount >= total)
    with_parts = select(BillPart.bill_id)
    rows = db.session.execute(
        select(Bill.settled_by_org_id, Bill.settled_at, Bill.total_fen).where(
            Bill.status == BillStatus.CLAIMED,
            Bill.settled_at >= period.since,
            Bill.settled_at < period.until,
            Bill.id.not_in(with_parts),
        )
    )
    for org_id, settled_at, total in rows:
        org = orgs.get(org_id) if org_id is not None else None
        if org is None or settled_at is None:
            continue
        _count(org, settled_at, total, full=True)
    return list(orgs.values())


def _count(org: ClaimantFigures, at: datetime, amount: int, *, full: bool) -> None:
    day = org.days[at.date()]
    day.claimed += 1
    day.claimed_fen += amount
    org.reimbursed_fen += amount
    if full:
        org.full += 1
    else:
        org.partial += 1


@dataclass(frozen=True)
class Difference:
    kind: str
    detail: str
    bill_id: str | None = None
    root: str | None = None
    tx_hash: str | None = None


def reconcile(org: Organisation, day: date) -> list[Difference]:
    """Every disagreement, for one issuer and UTC day, between this database and the indexed chain events."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    address = org.address.lower()
    diffs: list[Difference] = []

    batches = db.session.scalars(
        select(AnchorBatch).where(
            AnchorBatch.organisation_id == org.id, AnchorBatch.anchored_at >= start, AnchorBatch.anchored_at < end
        )
    ).all()
    anchored = {
        e.root: e
        for e in db.session.scalars(
            select(ChainEvent).where(
                ChainEvent.name == "BillsAnchored",
                ChainEvent.issuer == address,
                ChainEvent.block_time >= start,
                ChainEvent.block_time < end,
            )
        )
    }
    db_roots = {b.root for b in batches}
    for batch in batches:
        if batch.root not in anchored:
            diffs.append(
                Difference(
                    "anchor_missing_on_chain",
                    f"batch {batch.id} ({batch.size} bills) anchored in the app, no BillsAnchored event for its root",
                    root=batch.root,
                    tx_hash=batch.tx_hash,
                )
            )
    for root, event in anchored.items():
        if root not in db_roots:
            known = db.session.scalar(select(AnchorBatch).where(AnchorBatch.root == root))
            detail = (
                f"root on chain, but the app records batch {known.id} as {known.status} at {known.anchored_at}"
                if known
                else "root anchored on chain by this issuer, unknown to the app"
            )
            diffs.append(Difference("anchor_unknown_to_app", detail, root=root, tx_hash=event.tx_hash))

    for name, status, kind in (("BillClaimed", BillStatus.CLAIMED, "claim"), ("BillVoided", BillStatus.VOIDED, "void")):
        events = {
            e.bill_ref: e
            for e in db.session.scalars(
                select(ChainEvent).where(
                    ChainEvent.name == name,
                    ChainEvent.issuer == address,
                    ChainEvent.block_time >= start,
                    ChainEvent.block_time < end,
                )
            )
        }
        # A bill reimbursed in parts (registry v2) is settled by each part's claim as much as by the last.
        statuses = (status, BillStatus.PARTLY_CLAIMED) if kind == "claim" else (status,)
        settled = db.session.scalars(
            select(Bill).where(
                Bill.organisation_id == org.id,
                Bill.status.in_(statuses),
                Bill.settled_at >= start,
                Bill.settled_at < end,
            )
        ).all()
        settled_refs = {b.bill_ref for b in settled}
        for bill in settled:
            if bill.bill_ref not in events:
                diffs.append(
                    Difference(
                        f"{kind}_missing_on_chain",
                        f"{kind} recorded in the app but no {name} event",
                        bill_id=bill.id,
                        tx_hash=bill.settle_tx,
                    )
                )
            elif kind == "claim":
                args = events[bill.bill_ref].args
                claimant = str(args.get("claimant", "")).lower()
                if "claimantId" in args:  # registry v2: the last part's claimant, by stable id (any platform's)
                    last_part = db.session.scalar(
                        select(BillPart.claimant_chain_id)
                        .where(BillPart.bill_id == bill.id)
                        .order_by(BillPart.block_number.desc(), BillPart.log_index.desc())
                        .limit(1)
                    )
                    agrees = last_part == int(args["claimantId"])
                    claimant = f"#{args['claimantId']}"
                else:
                    agrees = bill.settled_by is not None and bill.settled_by.address.lower() == claimant
                if not agrees:
                    diffs.append(
                        Difference(
                            "claimant_differs",
                            f"app: {bill.settled_by.name if bill.settled_by else 'nobody'}; chain: {claimant}",
                            bill_id=bill.id,
                            tx_hash=events[bill.bill_ref].tx_hash,
                        )
                    )
        for ref, event in events.items():
            if ref in settled_refs:
                continue
            found = db.session.scalar(select(Bill).where(Bill.organisation_id == org.id, Bill.bill_ref == ref))
            detail = f"{name} on chain, but the app has " + (f"the bill as {found.status}" if found else "no such bill")
            diffs.append(
                Difference(f"{kind}_missing_in_app", detail, bill_id=found.id if found else None, tx_hash=event.tx_hash)
            )
    return diffs


def reconcile_now(org: Organisation, day: date) -> tuple[list[Difference], str | None]:
    """Catch the index up with the chain first (if it can be reached), then reconcile; a note if it could not."""
    note = None
    try:
        index_new_events(current_app._get_current_object())  # type: ignore[attr-defined]
    except ChainUnavailableError as exc:
        note = f"The chain is unreachable ({exc}); compared with the events indexed so far."
    return reconcile(org, day), note
