"""The registry's events copied into this database: the chain's side of every timeline and of reconciliation.

The chain is the authority for anchoring, claims and voids; the indexer copies its logs into
`chain_events` from the registry's deployment block on, remembers how far it got (ChainState
`indexer_cursor`), and can always rebuild from the chain if the table is lost.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.bills.hexstr import to_hex
from app.chain import load_deployment
from app.extensions import db
from app.models import ChainEvent, ChainState, Organisation
from app.outbox.projection import apply_events
from app.runtime import runtime

log = logging.getLogger("billchain.indexer")


CURSOR_KEY = "indexer_cursor"


DEPLOY_BLOCK_KEY = "deploy_block"


def index_new_events(app: Flask, max_blocks: int = 50_000) -> int:
    """Copy registry events after the cursor into `chain_events`; returns how many were new.

    Safe to call from several places: a second indexer racing on the same blocks hits the unique
    (tx_hash, log_index) constraint, rolls back and leaves the work to the first.
    """
    with app.app_context():
        client = runtime().client
        # Only blocks this deep are copied: a reorganisation shallower than that never reaches the index
        # (0 suits chains with instant finality, such as Besu QBFT and Anvil).
        head = client.block_number() - int(current_app.config["BILLCHAIN_CONFIRMATIONS"])
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
    new: list[Any] = []
    for event in events:
        tx_hash = to_hex(event.tx_hash)
        if (tx_hash, event.log_index) in known:
            continue
        new.append(event)
        args = {k: _jsonable(v) for k, v in event.args.items()}
        issuer = args.get("issuer") or args.get("account") or _v2_issuer(args)
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
    # Registry v2: what any member platform did to this platform's bills and organisations lands here.
    apply_events(new)
    return added


def _v2_issuer(args: dict[str, Any]) -> str | None:
    """Registry v2 names organisations by stable id: the issuer column keeps this platform's issuer's
    address (so reconciliation reads v1 and v2 alike), or "#<id>" for another platform's."""
    issuer_id = args.get("issuerId")
    if issuer_id is None:
        return None
    address = db.session.scalar(select(Organisation.address).where(Organisation.chain_org_id == int(issuer_id)))
    return str(address) if address else f"#{issuer_id}"


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
    client = runtime().client
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
        return to_hex(bytes(value))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
