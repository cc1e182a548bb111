"""The lifecycle trace: registry events indexed from the chain, a bill's timeline, rebuilding a lost index."""

from __future__ import annotations

from typing import Any

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Bill, ChainEvent, ChainState
from app.outbox.indexer import CURSOR_KEY, index_new_events, reset_index
from app.services.timeline import record_delivery, record_verification


def issue_anchored(app: Flask, client: FlaskClient, issuer: Org) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201
    bill_id: str = response.get_json()["id"]
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == "anchored")
    return bill_id


def events_of(client: FlaskClient, org: Org, bill_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/bills/{bill_id}/events", headers=org.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["events"]  # type: ignore[no-any-return]


def test_timeline_has_created_and_anchored_from_the_chain(app, client, issuer, worker):
    bill_id = issue_anchored(app, client, issuer)

    index_new_events(app)  # may find the worker's own indexer was first: either way the events are in
    events = events_of(client, issuer, bill_id)

    assert [e["event"] for e in events] == ["created", "anchored"]
    with app.app_context():
        batch = db.session.get(Bill, bill_id).batch
        assert events[1]["source"] == "chain"
        assert events[1]["tx_hash"] == batch.tx_hash
        assert events[1]["block_number"] == batch.block_number


def test_claim_appears_as_a_chain_event_in_the_timeline(app, client, issuer, claimant, worker):
    bill_id = issue_anchored(app, client, issuer)
    response = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "C-1"}, headers=claimant.auth)
    assert response.status_code == 200

    index_new_events(app)
    events = events_of(client, claimant, bill_id)

    assert [e["event"] for e in events] == ["created", "anchored", "claimed"]
    assert events[2]["claimant"].lower() == claimant.address.lower()


def test_delivery_and_verifications_are_counted_without_identities(app, client, issuer, worker):
    bill_id = issue_anchored(app, client, issuer)
    with app.app_context():
        record_delivery(db.session.get(Bill, bill_id))
        record_delivery(db.session.get(Bill, bill_id))
        db.session.commit()
        record_verification(bill_id)
        record_verification(bill_id)

    events = {e["event"]: e for e in events_of(client, issuer, bill_id)}

    assert events["verified"]["count"] == 2
    assert "delivered" in events


def test_lost_index_is_rebuilt_from_the_chain_with_the_same_events(app, client, issuer, claimant, worker):
    bill_id = issue_anchored(app, client, issuer)
    client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "C-2"}, headers=claimant.auth)
    index_new_events(app)
    before = events_of(client, issuer, bill_id)
    with app.app_context():
        rows_before = sorted(db.session.execute(select(ChainEvent.tx_hash, ChainEvent.log_index)).all())

    reset_index(app)
    with app.app_context():
        assert db.session.get(ChainState, CURSOR_KEY) is None
    index_new_events(app)

    with app.app_context():
        rows_after = sorted(db.session.execute(select(ChainEvent.tx_hash, ChainEvent.log_index)).all())
    assert rows_after == rows_before
    assert events_of(client, issuer, bill_id) == before


def test_indexer_resumes_from_its_cursor_without_duplicates(app, client, issuer, worker):
    issue_anchored(app, client, issuer)
    index_new_events(app)

    again = index_new_events(app)

    assert again == 0


def test_other_issuers_cannot_read_a_timeline(app, client, issuer, onboard, worker):
    bill_id = issue_anchored(app, client, issuer)
    other = onboard("issuer")

    response = client.get(f"/api/v1/bills/{bill_id}/events", headers=other.auth)

    assert response.status_code == 404
