"""Each bill's life, from issue to claim: indexed chain events plus the platform's own records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.bills.times import parse_utc_iso, utc_iso
from app.extensions import db
from app.models import AuditEntry, Bill, ChainEvent, Delivery, DeliveryStatus, VerificationCount, audit, utcnow
from app.services.verification import upsert_verification_counts

BILL_EVENTS = ("BillClaimed", "BillVoided")


def record_delivery(bill: Bill, actor: str = "wallet") -> None:
    """The payer saw or downloaded the bill: recorded once (the first time), in the caller's transaction."""
    seen = db.session.scalar(
        select(AuditEntry.id).where(AuditEntry.action == "bill.delivered", AuditEntry.target == bill.id).limit(1)
    )
    if seen is None:
        audit(actor, "bill.delivered", bill.id, bill.organisation_id)


def record_verification(bill_id: str) -> None:
    """Count one public verification of a bill; who verified is never stored, only that it happened."""
    bill = db.session.get(Bill, bill_id)
    if bill is None:
        return
    now = utcnow()
    upsert_verification_counts(
        [
            {
                "bill_id": bill.id,
                "day": now.date().isoformat(),
                "organisation_id": bill.organisation_id,
                "count": 1,
                "first_at": now,
                "last_at": now,
            }
        ]
    )
    db.session.commit()


def bill_events(bill: Bill) -> list[ChainEvent]:
    """The indexed chain events of one bill: its anchoring (by root) and its claim or void (by issuer + ref)."""
    issuer = bill.organisation.address.lower()
    query = select(ChainEvent).where(
        ChainEvent.issuer == issuer,
        ChainEvent.bill_ref == bill.bill_ref,
        ChainEvent.name.in_(BILL_EVENTS),
    )
    found = list(db.session.scalars(query))
    if bill.batch is not None:
        found += db.session.scalars(
            select(ChainEvent).where(ChainEvent.name == "BillsAnchored", ChainEvent.root == bill.batch.root)
        )
    return sorted(found, key=lambda e: (e.block_number, e.log_index))


def timeline(bill: Bill) -> list[dict[str, Any]]:
    """The bill's life in order: created, anchored, delivered, verified (a count), claimed or voided."""
    steps: list[dict[str, Any]] = [{"event": "created", "at": utc_iso(bill.created_at), "source": "platform"}]
    chain = bill_events(bill)
    anchored = next((e for e in chain if e.name == "BillsAnchored"), None)
    if anchored is not None:
        steps.append(_chain_step("anchored", anchored, root=anchored.root))
    elif bill.batch is not None and bill.batch.tx_hash and bill.batch.anchored_at:
        # Confirmed by our worker but not indexed yet: the platform's record, marked as such.
        steps.append(
            {
                "event": "anchored",
                "at": utc_iso(bill.batch.anchored_at),
                "source": "platform",
                "block_number": bill.batch.block_number,
                "tx_hash": bill.batch.tx_hash,
                "root": bill.batch.root,
            }
        )
    delivered = db.session.scalar(
        select(func.min(AuditEntry.at)).where(AuditEntry.action == "bill.delivered", AuditEntry.target == bill.id)
    )
    if delivered is not None:
        steps.append({"event": "delivered", "at": utc_iso(delivered), "source": "platform"})
    for sent in db.session.scalars(
        select(Delivery)
        .where(Delivery.bill_id == bill.id, Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.sent_at)
    ):  # one step per channel the bill reached the payer by (e-mail, text message)
        steps.append(
            {
                "event": "delivered",
                "at": utc_iso(sent.sent_at),
                "source": "platform",
                "channel": sent.channel,
                "to": sent.destination,
                "attempts": sent.attempts,
            }
        )
    count, first, last = db.session.execute(
        select(
            func.coalesce(func.sum(VerificationCount.count), 0),
            func.min(VerificationCount.first_at),
            func.max(VerificationCount.last_at),
        ).where(VerificationCount.bill_id == bill.id)
    ).one()
    if count:
        steps.append(
            {
                "event": "verified",
                "at": utc_iso(first),
                "last_at": utc_iso(last),
                "count": int(count),  # PostgreSQL's sum of a bigint is a numeric
                "source": "platform",
            }
        )
    for event in chain:
        if event.name == "BillClaimed":
            steps.append(_chain_step("claimed", event, claimant=event.args.get("claimant")))
        elif event.name == "BillVoided":
            steps.append(
                _chain_step(
                    "voided",
                    event,
                    reason_code=event.args.get("reasonCode"),
                    replacement_ref=event.args.get("replacementRef"),
                )
            )
    return sorted(steps, key=_sort_key)


def _chain_step(name: str, event: ChainEvent, **extra: Any) -> dict[str, Any]:
    return {
        "event": name,
        "at": utc_iso(event.block_time),
        "source": "chain",
        "block_number": event.block_number,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        **extra,
    }


_RANK = {"created": 0, "anchored": 1, "delivered": 2, "verified": 3, "claimed": 4, "voided": 4}


def _sort_key(step: dict[str, Any]) -> tuple[datetime, int]:
    """By time to the second (block times have no finer grain), then in the order a bill's life allows."""
    at = parse_utc_iso(step["at"]).replace(microsecond=0)
    return at, _RANK[step["event"]]
