"""The payer wallet: one-time code to the contact on the bills, the payer's bills, adding a verified bill."""

from __future__ import annotations

import io
import json
from typing import Any

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Bill, WalletEntry
from app.web.wallet.routes import normalise_contact

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]


def open_wallet(app: Flask, client: FlaskClient, identity: str = ID_NUMBER, contact: str = PHONE) -> None:
    app.extensions.pop("wallet_outbox", None)
    response = client.post("/wallet/login", data={"identity": identity, "contact": contact})
    assert response.status_code == 302
    code = app.extensions["wallet_outbox"][normalise_contact(contact)]
    response = client.post("/wallet/code", data={"code": code})
    assert response.headers["Location"].endswith("/wallet")


def test_payer_opens_wallet_with_code_and_sees_bills_of_all_issuers(app, client, issuer, onboard):
    other = onboard("issuer", "某市人民医院")
    mine = issue(client, issuer)
    theirs = issue(client, other, bill_type="medical_outpatient")
    issue(client, issuer, payer={"kind": "person", "name": "王二", "id_number": "110105194912310038"})

    open_wallet(app, client, contact="138-0013-8000")
    page = client.get("/wallet").get_data(as_text=True)

    with app.app_context():
        numbers = {db.session.get(Bill, i).bill_number for i in (mine, theirs)}
        delivered = db.session.scalar(select(func.count()).where(AuditEntry.action == "bill.delivered"))
    assert all(n in page for n in numbers)
    assert "某市人民医院" in page
    assert page.count("View / print") == 2
    assert delivered == 2


def test_no_code_is_sent_when_contact_does_not_match_and_answer_is_the_same(app, client, issuer):
    issue(client, issuer)
    app.extensions.pop("wallet_outbox", None)

    response = client.post("/wallet/login", data={"identity": ID_NUMBER, "contact": "13900000000"})

    assert response.status_code == 302
    assert not app.extensions.get("wallet_outbox")
    assert client.get("/wallet").status_code == 302


def test_payer_without_id_number_identifies_by_name(app, client, issuer):
    issue(client, issuer, payer={"kind": "person", "name": "赵六"}, contact={"email": "Zhao@example.com"})

    open_wallet(app, client, identity="赵六", contact="zhao@example.com")

    assert "View / print" in client.get("/wallet").get_data(as_text=True)


def test_code_stops_working_after_five_wrong_tries(app, client, issuer):
    issue(client, issuer)
    app.extensions.pop("wallet_outbox", None)
    client.post("/wallet/login", data={"identity": ID_NUMBER, "contact": PHONE})
    code = app.extensions["wallet_outbox"][PHONE]
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    for _ in range(5):
        assert client.post("/wallet/code", data={"code": wrong}).status_code == 200
    response = client.post("/wallet/code", data={"code": code})

    assert response.status_code == 200
    assert client.get("/wallet").status_code == 302


def test_payer_downloads_own_bill_file_but_not_others(app, client, issuer):
    mine = issue(client, issuer)
    stranger = issue(client, issuer, payer={"kind": "person", "name": "王二", "id_number": "110105194912310038"})
    open_wallet(app, client)

    response = client.get(f"/wallet/bills/{mine}/file")

    assert response.status_code == 200
    assert json.loads(response.data)["bill"]["payer"]["id_number"] == ID_NUMBER
    assert client.get(f"/wallet/bills/{stranger}/file").status_code == 404
    assert client.get(f"/wallet/bills/{mine}").status_code == 200


def test_adding_a_verified_bill_of_the_same_payer_keeps_it_and_refuses_others(app, client, issuer, worker):
    own = issue(client, issuer)
    stranger = issue(client, issuer, payer={"kind": "person", "name": "王二", "id_number": "110105194912310038"})
    wait_until(app, lambda: all(db.session.get(Bill, i).status == "anchored" for i in (own, stranger)))
    own_file = client.get(f"/api/v1/bills/{own}/file", headers=issuer.auth).data
    stranger_file = client.get(f"/api/v1/bills/{stranger}/file", headers=issuer.auth).data
    open_wallet(app, client)

    refused = client.post(
        "/wallet/add", data={"file": (io.BytesIO(stranger_file), "b.json")}, content_type="multipart/form-data"
    )
    client.post("/wallet/add", data={"file": (io.BytesIO(own_file), "a.json")}, content_type="multipart/form-data")

    assert refused.status_code == 302
    with app.app_context():
        entries = db.session.scalars(select(WalletEntry)).all()
        assert [e.bill_id for e in entries] == [own]


def test_wallet_pages_need_the_code(client):
    assert client.get("/wallet").status_code == 302
    assert client.get("/wallet/bills/x/file").status_code == 302
