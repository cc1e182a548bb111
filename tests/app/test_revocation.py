"""Revocation takes effect in the app at once, before the chain confirms; single API tokens can be revoked.

Each test revokes through the finance department's page with no worker running, so the chain has not
confirmed anything when the assertions run: what is refused is refused by the app itself.
"""

from __future__ import annotations

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, AuditEntry, Bill, BillStatus, Organisation, OrgStatus


def _login(client: FlaskClient, username: str, password: str) -> None:
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)


def _finance(app: Flask) -> FlaskClient:
    client = app.test_client()
    _login(client, "finance", "finance-pass")
    return client


def _revoke(app: Flask, org: Org) -> None:
    assert _finance(app).post(f"/admin/orgs/{org.id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(Organisation, org.id).status == OrgStatus.REVOKING


def _issue(client: FlaskClient, issuer: Org) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]


def test_revoked_issuer_cannot_issue_before_the_chain_confirms(app, client, issuer):
    _revoke(app, issuer)

    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)

    assert response.status_code == 403
    assert response.get_json()["error"] == "organisation_revoked"
    with app.app_context():
        assert db.session.scalar(select(Bill.id)) is None


def test_revoked_organisations_token_cannot_even_read(app, client, issuer):
    bill_id = _issue(client, issuer)
    assert client.get(f"/api/v1/bills/{bill_id}", headers=issuer.auth).status_code == 200
    _revoke(app, issuer)

    for path in (f"/api/v1/bills/{bill_id}", "/api/v1/bills", f"/api/v1/bills/{bill_id}/file"):
        response = client.get(path, headers=issuer.auth)
        assert response.status_code == 403, path
        assert response.get_json()["error"] == "organisation_revoked"


def test_revoked_claimant_cannot_claim(app, client, issuer, claimant):
    bill_id = _issue(client, issuer)
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED)
    _revoke(app, claimant)

    response = client.post(f"/api/v1/bills/{bill_id}/claim", json={"claim_ref": "C-1"}, headers=claimant.auth)

    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Bill, bill_id).settle_state is None


def test_web_session_of_a_revoked_organisation_ends(app, client, issuer):
    _login(client, issuer.username, issuer.password)
    assert client.get("/issue").status_code == 200

    _revoke(app, issuer)

    response = client.get("/issue")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_revocation_is_confirmed_by_the_chain_afterwards(app, client, issuer):
    _revoke(app, issuer)

    wait_until(app, lambda: db.session.get(Organisation, issuer.id).status == OrgStatus.REVOKED)

    assert client.get("/api/v1/bills", headers=issuer.auth).status_code == 403


def test_one_api_token_is_revoked_on_its_own(app, client, issuer):
    finance = _finance(app)
    page = finance.post(f"/admin/orgs/{issuer.id}/tokens").get_data(as_text=True)
    second = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    with app.app_context():
        first = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(issuer.token)))
        first_id, prefix = first.id, first.prefix

    assert finance.post(f"/admin/tokens/{first_id}/revoke").status_code == 302

    refused = client.get("/api/v1/bills", headers=issuer.auth)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"
    assert client.get("/api/v1/bills", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    with app.app_context():
        assert db.session.get(Organisation, issuer.id).status == OrgStatus.ACTIVE
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "token.revoked"))
        assert entry.detail == {"prefix": prefix}
    assert finance.post(f"/admin/tokens/{first_id}/revoke").status_code == 409


def test_only_finance_revokes_tokens(app, client, issuer):
    _login(client, issuer.username, issuer.password)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.organisation_id == issuer.id))

    assert client.post(f"/admin/tokens/{token_id}/revoke").status_code == 403
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is None
