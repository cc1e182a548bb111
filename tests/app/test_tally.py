"""Verification counts: one counter row per bill per UTC day, upserted in bulk, never a row per verification."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from appkit import bill_payload, wait_until
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Bill, BillStatus, VerificationCount
from app.runtime import runtime
from app.services.verification import tally


def _anchored(app, client, issuer) -> dict:
    created = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == BillStatus.ANCHORED)
    return created


def test_many_verifications_of_one_bill_are_one_counter_row(app, client, issuer):
    created = _anchored(app, client, issuer)
    path = urlsplit(created["verify_url"]).path

    for _ in range(25):
        assert client.get(path, headers={"Accept": "application/json"}).status_code == 200
    with app.app_context():
        tally().flush()
        rows = db.session.execute(select(VerificationCount.bill_id, VerificationCount.count)).all()
        audit_rows = db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "bill.verified"))

    assert rows == [(created["id"], 25)]
    assert audit_rows == 0


def test_counts_add_up_across_flushes_and_processes_and_the_timeline_shows_the_sum(app, client, issuer):
    created = _anchored(app, client, issuer)
    path = urlsplit(created["verify_url"]).path
    for _ in range(3):
        client.get(path, headers={"Accept": "application/json"})
    with app.app_context():
        tally().flush()
        runtime().verification_tally = None  # another process: its own tally, the same counter row
    for _ in range(4):
        client.post("/api/v1/verify", json={"url": created["verify_url"]})
    with app.app_context():
        tally().flush()

    events = client.get(f"/api/v1/bills/{created['id']}/events", headers=issuer.auth).get_json()["events"]
    verified = next(e for e in events if e["event"] == "verified")

    assert verified["count"] == 7
    assert verified["at"] <= verified["last_at"]


def test_each_utc_day_gets_its_own_counter(app, client, issuer):
    created = _anchored(app, client, issuer)
    with app.app_context():
        bill = db.session.get(Bill, created["id"])
        counts = tally()
        counts.add(bill.id, bill.organisation_id, at=datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC))
        counts.add(bill.id, bill.organisation_id, at=datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC))
        counts.add(bill.id, bill.organisation_id, at=datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC))
        counts.flush()
        rows = db.session.execute(
            select(VerificationCount.day, VerificationCount.count).order_by(VerificationCount.day)
        ).all()

    assert rows == [("2026-12-01", 1), ("2026-12-02", 2)]
