"""Each bill's life, from issue to claim: the registry's events indexed into this database, plus our own records.

The chain is the authority for anchoring, claims and voids; the indexer copies its logs into
`chain_events` from the registry's deployment block on, remembers how far it got (ChainState
`indexer_cursor`), and can always rebuild from the chain if the table is lost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import AuditEntry, Bill, ChainEvent, ChainState, audit
from app.platform import platform
from app.presenters import iso

log = logging.getLogger("billchain.indexer")

CURSOR_KEY = "indexer_cursor"
DEPLOY_BLOCK_KEY = "deploy_block"
BILL_EVENTS = ("BillClaimed", "BillVoided")


# ---------------------------------------------------------------- indexer


def index_new_events(app: Flask, max_blocks: int = 50_000) -> int:
    """Copy registry events after the cursor into `chain_events`; returns how many were new.

    Safe to call from several places: a second indexer racing on the same blocks hits the unique
    (tx_hash, log_index) constraint, rolls back and leaves the work to the first.
    """
    with app.app_context():
        client = platform().client
        head = client.block_number()
        cursor = _cursor()
        start = (cursor + 1) if cursor is not None else deploy_block()
        if start > head:
            return 0
        end = min(head, start + max_blocks - 1)
        events = client.events(start, end, with_time=True)
        known = {
            (tx, idx)
            for tx, idx in db.session.execute(
                select(ChainEvent.tx_hash, ChainEvent.log_index).where(
                    ChainEvent.block_number >= start, ChainEvent.block_number <= end
                )
            )
        }
        added = 0
        try:
            added = _store(events, known)
            db.session.merge(ChainState(key=CURSOR_KEY, value=str(end)))
            db.session.commit()
        except IntegrityError:  # the worker's indexer (or another instance) stored these blocks first
            db.session.rollback()
            log.info("another indexer took blocks %s..%s", start, end)
            return 0
        if added:
            log.info("indexed %s events in blocks %s..%s", added, start, end)
        return added


def _store(events: list[Any], known: set[tuple[str, int]]) -> int:
    added = 0
    for event in events:
        tx_hash = "0x" + event.tx_hash.hex()
        if (tx_hash, event.log_index) in known:
            continue
        args = {k: _jsonable(v) for k, v in event.args.items()}
        issuer = args.get("issuer") or args.get("account")
        db.session.add(
            ChainEvent(
                block_number=event.block_number,
                tx_hash=tx_hash,
                log_index=event.log_index,
                name=event.name,
                args=args,
                block_time=event.block_time,
                issuer=str(issuer).lower() if issuer else None,
                bill_ref=args.get("billRef"),
                root=args.get("root"),
            )
        )
        added += 1
    return added


def reset_index(app: Flask) -> None:
    """Forget the index (events and cursor): the next `index_new_events` rebuilds it from the chain."""
    with app.app_context():
        db.session.execute(delete(ChainEvent))
        db.session.execute(delete(ChainState).where(ChainState.key == CURSOR_KEY))
        db.session.commit()


def deploy_block() -> int:
    """Where the registry's history starts: remembered, configured, from the deployment record, or 0."""
    stored = db.session.get(ChainState, DEPLOY_BLOCK_KEY)
    if stored is not None:
        return int(stored.value)
    configured = current_app.config.get("BILLCHAIN_DEPLOY_BLOCK")
    if configured not in (None, ""):
        return int(configured)
    from app.chain import load_deployment

    client = platform().client
    try:
        deployment = load_deployment(Path(current_app.config["BILLCHAIN_DEPLOYMENTS_DIR"]), client.chain_id)
    except (OSError, ValueError, KeyError):  # an unreadable record is as good as none
        deployment = None
    if deployment is not None and deployment.address.lower() == client.registry_address.lower():
        db.session.merge(ChainState(key=DEPLOY_BLOCK_KEY, value=str(deployment.block)))
        db.session.commit()
        return deployment.block
    return 0  # a dev chain is short: scanning it all is cheap


def _cursor() -> int | None:
    row = db.session.get(ChainState, CURSOR_KEY)
    return int(row.value) if row is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------- delivery and verification counters


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
    audit("public", "bill.verified", bill.id, bill.organisation_id)
    db.session.commit()


# ---------------------------------------------------------------- timeline


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
    steps: list[dict[str, Any]] = [{"event": "created", "at": iso(bill.created_at), "source": "platform"}]
    chain = bill_events(bill)
    anchored = next((e for e in chain if e.name == "BillsAnchored"), None)
    if anchored is not None:
        steps.append(_chain_step("anchored", anchored, root=anchored.root))
    elif bill.batch is not None and bill.batch.tx_hash and bill.batch.anchored_at:
        # Confirmed by our worker but not indexed yet: the platform's record, marked as such.
        steps.append(
            {
                "event": "anchored",
                "at": iso(bill.batch.anchored_at),
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
        steps.append({"event": "delivered", "at": iso(delivered), "source": "platform"})
    count, first, last = db.session.execute(
        select(func.count(AuditEntry.id), func.min(AuditEntry.at), func.max(AuditEntry.at)).where(
            AuditEntry.action == "bill.verified", AuditEntry.target == bill.id
        )
    ).one()
    if count:
        steps.append(
            {"event": "verified", "at": iso(first), "last_at": iso(last), "count": count, "source": "platform"}
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
        "at": iso(event.block_time),
        "source": "chain",
        "block_number": event.block_number,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        **extra,
    }


_RANK = {"created": 0, "anchored": 1, "delivered": 2, "verified": 3, "claimed": 4, "voided": 4}


def _sort_key(step: dict[str, Any]) -> tuple[datetime, int]:
    """By time to the second (block times have no finer grain), then in the order a bill's life allows."""
    at = datetime.fromisoformat(step["at"].replace("Z", "+00:00")).replace(microsecond=0)
    return at, _RANK[step["event"]]
