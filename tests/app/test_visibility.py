"""One visibility rule: every role asks for the same bill through the API and through the pages and gets
the same answer (issuer in full, payer in full, reimbursing units and finance masked and without the
bill file, another issuer told there is no such bill)."""

from __future__ import annotations

from typing import Any

import pytest
from appkit import Org, bill_payload
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import ApiToken, Organisation, OrgKind
from app.web.wallet.routes import normalise_contact

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
MASKED_ID = "1101**********002X"


def _issue(client: FlaskClient, issuer: Org) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _finance_token(app: Flask) -> dict[str, str]:
    with app.app_context():
        finance = db.session.query(Organisation).filter_by(kind=OrgKind.FINANCE).one()
        token, plain = ApiToken.issue(finance)
        db.session.add(token)
        db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def _login(app: Flask, username: str, password: str) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert browser.post("/login", data={"username": username, "password": password}).status_code == 302
    return browser


def _wallet(app: Flask) -> FlaskClient:
    browser = app.test_client()
    app.extensions.pop("wallet_outbox", None)
    browser.post("/wallet/login", data={"identity": ID_NUMBER, "contact": PHONE})
    code = app.extensions["wallet_outbox"][normalise_contact(PHONE)]
    assert browser.post("/wallet/code", data={"code": code}).headers["Location"].endswith("/wallet")
    return browser


def _shown_id(status: int, text: str) -> str | None:
    """Which form of the payer's ID number the answer shows: full, masked, or none (refused)."""
    if status != 200:
        return None
    if ID_NUMBER in text:
        return "full"
    assert MASKED_ID in text, "a bill answer must show the payer's ID, masked or not"
    return "masked"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("issuer", {"bill": (200, "full"), "file": 200}),
        ("other_issuer", {"bill": (404, None), "file": 404}),
        ("claimant", {"bill": (200, "masked"), "file": 403}),
        ("finance", {"bill": (200, "masked"), "file": 403}),
    ],
)
def test_api_and_pages_give_each_role_the_same_answer(
    app: Flask, client: FlaskClient, issuer: Org, claimant: Org, onboard: Any, role: str, expected: dict[str, Any]
) -> None:
    bill_id = _issue(client, issuer)
    if role == "issuer":
        token, browser = issuer.auth, _login(app, issuer.username, issuer.password)
    elif role == "other_issuer":
        other = onboard("issuer", "某市人民医院")
        token, browser = other.auth, _login(app, other.username, other.password)
    elif role == "claimant":
        token, browser = claimant.auth, _login(app, claimant.username, claimant.password)
    else:
        token, browser = _finance_token(app), _login(app, "finance", "finance-pass")

    api_bill = client.get(f"/api/v1/bills/{bill_id}", headers=token)
    page_bill = browser.get(f"/bills/{bill_id}")
    api_file = client.get(f"/api/v1/bills/{bill_id}/file", headers=token)
    page_file = browser.get(f"/bills/{bill_id}/file.json")

    status, shown = expected["bill"]
    assert (api_bill.status_code, _shown_id(api_bill.status_code, api_bill.get_data(as_text=True))) == (status, shown)
    assert (page_bill.status_code, _shown_id(page_bill.status_code, page_bill.get_data(as_text=True))) == (
        status,
        shown,
    )
    assert api_file.status_code == page_file.status_code == expected["file"]
    if expected["file"] == 200:
        assert api_file.get_json() == page_file.get_json()
        assert api_file.get_json()["bill"]["payer"]["id_number"] == ID_NUMBER
    if role in ("claimant", "finance"):
        # Masked answers never carry the contact or the salt either.
        body = api_bill.get_json()["bill"]
        assert "contact" not in body and "salt" not in body


def test_the_payer_in_the_wallet_sees_and_downloads_their_own_bill(
    app: Flask, client: FlaskClient, issuer: Org
) -> None:
    bill_id = _issue(client, issuer)
    wallet = _wallet(app)
    page = wallet.get(f"/wallet/bills/{bill_id}")
    download = wallet.get(f"/wallet/bills/{bill_id}/file")
    assert _shown_id(page.status_code, page.get_data(as_text=True)) == "full"
    assert download.status_code == 200
    assert download.get_json() == client.get(f"/api/v1/bills/{bill_id}/file", headers=issuer.auth).get_json()


def test_a_payer_cannot_open_another_payers_bill_in_the_wallet(app: Flask, client: FlaskClient, issuer: Org) -> None:
    theirs = client.post(
        "/api/v1/bills",
        json=bill_payload(payer={"kind": "person", "name": "李四", "id_number": "110105194912310038"}),
        headers=issuer.auth,
    ).get_json()["id"]
    _issue(client, issuer)  # the wallet's own bill, so the wallet opens
    wallet = _wallet(app)
    assert wallet.get(f"/wallet/bills/{theirs}").status_code == 404
    assert wallet.get(f"/wallet/bills/{theirs}/file").status_code == 404
