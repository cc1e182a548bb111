"""The finance dashboard, its CSV export and the reconciliation of the app's records against the chain."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AnchorBatch, BatchStatus, Bill, BillStatus, Organisation
from app.outbox.indexer import index_new_events

TODAY = datetime.now(UTC).date().isoformat()


def login(client: FlaskClient, username: str, password: str) -> None:
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert response.status_code == 201
    return response.get_json()["id"]  # type: ignore[no-any-return]


def anchored_and_claimed(app: Flask, client: FlaskClient, issuer: Org, claimant: Org) -> tuple[str, str]:
    claimed, kept = issue(client, issuer), issue(client, issuer)
    wait_until(app, lambda: all(db.session.get(Bill, i).status == "anchored" for i in (claimed, kept)))
    response = client.post(f"/api/v1/bills/{claimed}/claim", json={"claim_ref": "R-1"}, headers=claimant.auth)
    assert response.status_code == 200
    index_new_events(app)
    return claimed, kept


def test_dashboard_shows_issued_claimed_and_pending_per_organisation(app, client, issuer, claimant, worker):
    anchored_and_claimed(app, client, issuer, claimant)
    worker.stop()
    issue(client, issuer)  # stays pending: the worker is stopped
    login(client, "finance", "finance-pass")

    page = client.get("/finance").get_data(as_text=True)

    assert issuer.name in page
    assert "8,850.06" in page  # 3 × 2,950.02 issued today
    assert "2,950.02" in page  # 1 claimed
    assert '<strong class="pending">1</strong>' in page


def test_finance_pages_are_for_the_finance_department_only(app, client, issuer):
    login(client, issuer.username, issuer.password)

    assert client.get("/finance").status_code == 403
    assert client.get("/finance/reconcile").status_code == 403
    assert client.get("/finance/export.csv").status_code == 403


def test_export_csv_has_integer_fen_per_organisation_and_day(app, client, issuer, claimant, worker):
    anchored_and_claimed(app, client, issuer, claimant)
    login(client, "finance", "finance-pass")

    text = client.get("/finance/export.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["organisation"] == issuer.name]

    assert rows == [
        {
            "day": TODAY,
            "credit_code": rows[0]["credit_code"],
            "organisation": issuer.name,
            "issued": "2",
            "issued_fen": "590004",
            "issued_yuan": "5900.04",
            "claimed": "1",
            "claimed_fen": "295002",
            "voided": "0",
            "voided_fen": "0",
        }
    ]


def test_reconcile_reports_agreement_when_app_and_chain_agree(app, client, issuer, claimant, worker):
    anchored_and_claimed(app, client, issuer, claimant)
    login(client, "finance", "finance-pass")

    page = client.get(f"/finance/reconcile?org={issuer.id}&day={TODAY}").get_data(as_text=True)

    assert 'class="agreed"' in page


def test_reconcile_lists_every_difference(app, client, issuer, claimant, worker):
    claimed, _ = anchored_and_claimed(app, client, issuer, claimant)
    with app.app_context():
        bill = db.session.get(Bill, claimed)
        bill.status, bill.settle_state = BillStatus.ANCHORED, None  # the app "lost" the claim
        org = db.session.get(Organisation, issuer.id)
        db.session.add(
            AnchorBatch(
                organisation_id=org.id,
                root="0x" + "ab" * 32,
                size=3,
                status=BatchStatus.CONFIRMED,
                tx_hash="0x" + "cd" * 32,
                block_number=1,
                anchored_at=datetime.now(UTC),
            )
        )
        db.session.commit()
    login(client, "finance", "finance-pass")

    page = client.get(f"/finance/reconcile?org={issuer.id}&day={TODAY}").get_data(as_text=True)

    assert "claim_missing_in_app" in page
    assert "anchor_missing_on_chain" in page
    assert "0x" + "ab" * 32 in page
    assert 'data-count="2"' in page  # two differences (the sentence itself is in the page's language)
