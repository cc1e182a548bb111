"""Verdicts against a real Anvil, through the API: revoked issuer, forged signature, pending, QR photo."""

from __future__ import annotations

import io

from appkit import bill_payload, wait_until
from eth_account import Account
from PIL import Image

from app.bills.billfile import BillFile
from app.bills.hashing import sign_bill
from app.bills.qr import render_png
from app.extensions import db
from app.models import Bill, Organisation, OrgStatus
from app.services.organisations import revoke_organisation


def _anchored_bill(app, client, issuer) -> dict:
    created = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")
    return created


def test_bill_of_an_issuer_revoked_after_anchoring_stays_authentic_with_the_cut_off(app, client, issuer, worker):
    created = _anchored_bill(app, client, issuer)
    with app.app_context():
        revoke_organisation(db.session.get(Organisation, issuer.id), actor="test")
    wait_until(app, lambda: db.session.get(Organisation, issuer.id).status == OrgStatus.REVOKED)

    answer = client.post("/api/v1/verify", json={"url": created["verify_url"]}).get_json()

    assert answer["verdict"] == "authentic"
    assert answer["issuer_revoked_at"] is not None
    assert any("revoked" in note.lower() for note in answer["notes"])


def test_revoked_issuer_cannot_issue_any_more(app, client, issuer, worker):
    with app.app_context():
        revoke_organisation(db.session.get(Organisation, issuer.id), actor="test")
    wait_until(app, lambda: db.session.get(Organisation, issuer.id).status == OrgStatus.REVOKED)

    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)

    assert response.status_code == 403
    assert response.get_json()["error"] == "organisation_revoked"


def test_bill_file_re_signed_by_another_key_is_signature_invalid(app, client, issuer, worker):
    created = _anchored_bill(app, client, issuer)
    data = client.get(f"/api/v1/bills/{created['id']}/file", headers=issuer.auth).get_json()
    original = BillFile.from_dict(data)
    forger = Account.create()
    _, forged = sign_bill(original.bill, original.domain, forger)
    data["signature"] = {"signer": forged.signer, "value": "0x" + forged.value.hex()}

    answer = client.post("/api/v1/verify", json=data).get_json()

    assert answer["verdict"] == "signature_invalid"
    assert answer["failed_check"] == "issuer_match"  # a valid signature, by someone who is not the issuer


def test_bill_not_yet_anchored_is_reported_pending(app, client, issuer):
    created = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()

    answer = client.post("/api/v1/verify", json={"url": created["verify_url"]}).get_json()

    assert answer["verdict"] == "not_anchored"


def test_photo_of_the_qr_code_verifies_authentic(app, client, issuer, worker):
    created = _anchored_bill(app, client, issuer)
    qr = Image.open(io.BytesIO(render_png(created["verify_url"])))
    page = Image.new("RGB", (qr.width * 3, qr.height * 2), "white")
    page.paste(qr, (qr.width * 2 - 20, 20))
    photo = io.BytesIO()
    page.rotate(4, expand=True, fillcolor="white").save(photo, "JPEG", quality=50)

    answer = client.post(
        "/api/v1/verify", data={"photo": (io.BytesIO(photo.getvalue()), "bill.jpg")}, content_type="multipart/form-data"
    ).get_json()

    assert answer["verdict"] == "authentic"
    assert answer["issuer"]["name"] == issuer.name
