"""Issue → anchor → verify → claim once, through the JSON API, on a real Anvil and both databases."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Bill


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def wait_anchored(app: Flask, bill_id: str) -> None:
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == "anchored")


def test_issue_answers_at_once_with_pending_status_and_verify_url(app, client, issuer):
    created = issue(client, issuer)

    assert created["status"] == "pending"
    assert created["verify_url"].startswith("http://127.0.0.1:5000/v/")
    assert len(created["bill_number"]) == 10


def test_issued_bill_is_anchored_and_verifies_authentic(app, client, issuer, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])

    by_url = client.post("/api/v1/verify", json={"url": created["verify_url"]}).get_json()
    bill_file = client.get(f"/api/v1/bills/{created['id']}/file", headers=issuer.auth).get_json()
    by_file = client.post("/api/v1/verify", json=bill_file).get_json()

    assert by_url["verdict"] == "authentic"
    assert by_file["verdict"] == "authentic"
    assert bill_file["anchoring"]["root"].startswith("0x")


def test_tampered_bill_file_is_reported_tampered(app, client, issuer, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])
    bill_file = client.get(f"/api/v1/bills/{created['id']}/file", headers=issuer.auth).get_json()

    bill_file["bill"]["payer"]["name"] = "李四"
    answer = client.post("/api/v1/verify", json=bill_file).get_json()

    assert answer["verdict"] == "tampered"


def test_bulk_issue_of_many_bills_lands_under_one_root(app, client, issuer, worker):
    response = client.post("/api/v1/bills", json=[bill_payload() for _ in range(50)], headers=issuer.auth)
    assert response.status_code == 201
    ids = [b["id"] for b in response.get_json()]

    wait_until(app, lambda: all(db.session.get(Bill, i).status == "anchored" for i in ids))
    with app.app_context():
        roots = {db.session.get(Bill, i).batch.root for i in ids}
    assert len(roots) == 1


def test_bulk_issue_with_one_bad_bill_stores_nothing_and_names_the_field(app, client, issuer):
    bad = bill_payload(total_fen=1)
    response = client.post("/api/v1/bills", json=[bill_payload(), bad], headers=issuer.auth)

    body = response.get_json()
    assert response.status_code == 422
    assert body["field"] == "[1].total_fen"
    with app.app_context():
        assert db.session.query(Bill).count() == 0


def test_issue_without_token_is_401_and_claimant_token_is_403(app, client, claimant):
    assert client.post("/api/v1/bills", json=bill_payload()).status_code == 401
    response = client.post("/api/v1/bills", json=bill_payload(), headers=claimant.auth)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_claim_succeeds_once_then_409_names_who_and_when(app, client, issuer, claimant, other_claimant, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])

    first = client.post(f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "CASE-1"}, headers=claimant.auth)
    second = client.post(
        f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "CASE-9"}, headers=other_claimant.auth
    )

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "claimed"
    assert second.status_code == 409
    assert second.get_json()["claimed_by"] == claimant.name
    assert second.get_json()["claimed_at"]


def test_concurrent_claims_give_exactly_one_200(app, client, issuer, claimant, other_claimant, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])
    url = f"/api/v1/bills/{created['id']}/claim"

    def attempt(i: int) -> int:
        org = claimant if i % 2 else other_claimant
        with app.test_client() as c:
            return c.post(url, json={"claim_ref": f"C{i}"}, headers=org.auth).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(attempt, range(32)))

    assert codes.count(200) == 1
    assert codes.count(409) == 31


def test_verify_reports_claimed_after_claim(app, client, issuer, claimant, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])
    client.post(f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "X"}, headers=claimant.auth)

    answer = client.post("/api/v1/verify", json={"url": created["verify_url"]}).get_json()

    assert answer["verdict"] == "claimed"


def test_void_then_claim_is_refused(app, client, issuer, claimant, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])

    voided = client.post(f"/api/v1/bills/{created['id']}/void", json={"reason": 2}, headers=issuer.auth)
    claim = client.post(f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "X"}, headers=claimant.auth)
    verdict = client.post("/api/v1/verify", json={"url": created["verify_url"]}).get_json()["verdict"]

    assert voided.status_code == 200, voided.get_json()
    assert claim.status_code == 409
    assert claim.get_json()["error"] == "bill_voided"
    assert verdict == "voided"


def test_void_by_another_issuer_is_404(app, client, issuer, onboard, worker):
    other = onboard("issuer")
    created = issue(client, issuer)
    wait_anchored(app, created["id"])

    response = client.post(f"/api/v1/bills/{created['id']}/void", json={"reason": 1}, headers=other.auth)

    assert response.status_code == 404


def test_claim_before_anchoring_is_409_with_retry_hint(app, client, issuer, claimant):
    created = issue(client, issuer)

    response = client.post(f"/api/v1/bills/{created['id']}/claim", json={"claim_ref": "X"}, headers=claimant.auth)

    assert response.status_code == 409
    assert response.get_json()["error"] == "bill_not_anchored"


def test_claim_without_claim_ref_is_422_naming_the_field(app, client, issuer, claimant):
    created = issue(client, issuer)

    response = client.post(f"/api/v1/bills/{created['id']}/claim", json={}, headers=claimant.auth)

    assert response.status_code == 422
    assert response.get_json()["field"] == "claim_ref"


def test_claimant_sees_bill_with_payer_id_masked(app, client, issuer, claimant):
    created = issue(client, issuer)

    as_owner = client.get(f"/api/v1/bills/{created['id']}", headers=issuer.auth).get_json()
    as_claimant = client.get(f"/api/v1/bills/{created['id']}", headers=claimant.auth).get_json()

    assert as_owner["bill"]["payer"]["id_number"] == "11010519491231002X"
    assert "*" in as_claimant["bill"]["payer"]["id_number"]
    assert "11010519491231002X" not in json.dumps(as_claimant)


def test_qr_svg_and_png_are_served(app, client, issuer):
    created = issue(client, issuer)

    svg = client.get(f"/api/v1/bills/{created['id']}/qr.svg", headers=issuer.auth)
    png = client.get(f"/api/v1/bills/{created['id']}/qr.png", headers=issuer.auth)

    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_openapi_document_lists_the_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    assert "/api/v1/bills" in spec["paths"]
    assert "/api/v1/bills/{bill_id}/claim" in spec["paths"]
    assert "/api/v1/verify" in spec["paths"]


def test_unknown_bill_is_404_json(client, issuer):
    response = client.get("/api/v1/bills/nope", headers=issuer.auth)

    assert response.status_code == 404
    assert response.get_json()["error"] == "bill_not_found"


def test_transaction_page_shows_the_anchoring_receipt(app, client, issuer, worker):
    created = issue(client, issuer)
    wait_anchored(app, created["id"])
    detail = client.get(f"/api/v1/bills/{created['id']}", headers=issuer.auth).get_json()

    tx = client.get(detail["anchoring"]["tx_url"], headers={"Accept": "application/json"}).get_json()

    assert tx["status"] == "success"
    assert tx["events"][0]["name"] == "BillsAnchored"
    assert tx["events"][0]["args"]["root"] == detail["anchoring"]["root"]


def test_public_verifications_are_counted_in_the_bill_timeline(app, client, issuer, claimant, worker):
    from app.services.verification import tally

    created = issue(client, issuer)
    wait_anchored(app, created["id"])
    for _ in range(3):
        assert client.post("/api/v1/verify", json={"url": created["verify_url"]}).status_code == 200
    with app.app_context():
        tally().flush()

    body = client.get(f"/api/v1/bills/{created['id']}/events", headers=issuer.auth).get_json()

    verified = [e for e in body["events"] if e["event"] == "verified"]
    assert verified and verified[0]["count"] == 3
    assert "payer" not in json.dumps(verified)
