"""The people's pages through the Flask test client: roles, forms, escaping, issuing, claiming, admin."""

from __future__ import annotations

import re
from collections.abc import Callable

from appkit import Org, wait_until
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import Bill, BillStatus, Organisation


def login(client: FlaskClient, username: str, password: str = "pw") -> None:
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.text


def form_data(**overrides: str) -> dict[str, str]:
    """The issue form as a person fills it in: prices in yuan."""
    data = {
        "bill_type": "school_fee",
        "payer_kind": "person",
        "payer_name": "张三",
        "payer_id_number": "11010519491231002X",
        "contact_phone": "13800138000",
        "contact_email": "",
        "items-0-code": "001",
        "items-0-name": "学费",
        "items-0-unit": "学期",
        "items-0-quantity": "1",
        "items-0-unit_price": "2500.00",
        "items-1-code": "002",
        "items-1-name": "住宿费",
        "items-1-unit": "月",
        "items-1-quantity": "1.5",
        "items-1-unit_price": "300.01",
        "handler": "李四",
        "checker": "王五",
        "remarks": "2026 秋季学期",
    }
    data.update(overrides)
    return data


def issue_via_form(client: FlaskClient, **overrides: str) -> str:
    response = client.post("/issue", data=form_data(**overrides))
    assert response.status_code == 302, response.text
    match = re.search(r"/bills/([0-9a-f]{32})$", response.headers["Location"])
    assert match
    return match.group(1)


# ---------------------------------------------------------------- access


def test_issue_page_redirects_anonymous_to_login(client: FlaskClient) -> None:
    response = client.get("/issue")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_issue_page_refuses_claimant(client: FlaskClient, claimant: Org) -> None:
    login(client, claimant.username)
    response = client.get("/issue", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert "may not do this" in response.text


def test_admin_page_refuses_issuer(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    assert client.get("/admin/orgs").status_code == 403


def test_claim_page_refuses_issuer(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    assert client.get("/claim").status_code == 403


def test_nav_shows_the_pages_of_the_role(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    page = client.get("/").text
    assert 'href="/issue"' in page and 'href="/bills"' in page
    assert 'href="/admin/orgs"' not in page and 'href="/claim"' not in page


def test_post_without_csrf_token_is_refused(app: Flask) -> None:
    """The other tests switch CSRF off; here it is on, as in production, and a bare POST is refused."""
    config = {k: v for k, v in app.config.items() if k.startswith("BILLCHAIN_")}
    protected = create_app({**config, "TESTING": True, "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False})
    client = protected.test_client()
    response = client.post("/login", data={"username": "finance", "password": "finance-pass"})
    assert response.status_code == 400
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()


# ---------------------------------------------------------------- issuing


def test_issue_form_issues_a_bill_with_amounts_in_fen(app: Flask, client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client)
    with app.app_context():
        bill = db.session.get(Bill, bill_id)
        assert bill is not None
        assert bill.total_fen == 250000 + 45002  # 1.5 × 30001 fen = 45001.5 → 45002 (half up)
        assert bill.document["items"][1]["amount_fen"] == 45002
    page = client.get(f"/bills/{bill_id}").text
    assert "贰仟玖佰伍拾元零贰分" in page
    assert "<svg" in page and 'id="bill-qr"' in page
    assert "11010519491231002X" in page  # the owner sees the full ID number


def test_field_errors_sit_next_to_fields_and_keep_typed_values(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    response = client.post(
        "/issue",
        data=form_data(**{"items-1-quantity": "abc", "items-0-unit_price": "12.345", "payer_name": "李雷同学"}),
    )
    assert response.status_code == 422
    page = response.text
    assert re.search(r'data-field="items-1-quantity"', page)
    assert re.search(r'data-field="items-0-unit_price"', page)
    assert 'value="abc"' in page and 'value="12.345"' in page
    assert 'value="李雷同学"' in page and "2026 秋季学期" in page and 'value="13800138000"' in page


def test_payer_id_check_digit_error_shows_at_the_id_field(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    response = client.post("/issue", data=form_data(payer_id_number="110105194912310021"))
    assert response.status_code == 422
    assert 'data-field="payer_id_number"' in response.text
    assert 'value="110105194912310021"' in response.text


def test_templates_escape_payer_names(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client, payer_name="<script>alert(1)</script>", payer_id_number="AB12345")
    page = client.get(f"/bills/{bill_id}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    listing = client.get("/bills").text
    assert "<script>alert(1)</script>" not in listing


def test_bill_list_searches_by_payer_and_number(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    issue_via_form(client, payer_name="王小明")
    issue_via_form(client, payer_name="赵大海")
    page = client.get("/bills", query_string={"q": "小明"}).text
    assert "王小明" in page and "赵大海" not in page


def test_capital_endpoint_uses_the_domain_rule(client: FlaskClient, issuer: Org) -> None:
    login(client, issuer.username)
    assert client.get("/issue/capital?fen=105").json["capital"] == "壹元零伍分"  # type: ignore[index]


def test_other_issuer_cannot_see_the_bill(client: FlaskClient, onboard: Callable[..., Org], issuer: Org) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client)
    client.post("/logout")
    other = onboard("issuer")
    login(client, other.username)
    assert client.get(f"/bills/{bill_id}").status_code == 404


# ---------------------------------------------------------------- verify, claim, void


def test_claimant_verifies_claims_and_second_claimant_sees_who(
    app: Flask, client: FlaskClient, issuer: Org, claimant: Org, other_claimant: Org, worker: object
) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client)
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED)
    status = client.get(f"/bills/{bill_id}/status.json").json
    assert status is not None and status["anchoring"]["tx_url"]
    page = client.get(f"/bills/{bill_id}").text
    url = re.search(r'href="(http[^"]+/v/[^"]+)"', page)
    assert url
    client.post("/logout")

    anonymous = client.get(url.group(1).replace("http://127.0.0.1:5000", ""))
    assert 'data-verdict="authentic"' in anonymous.text
    assert "11010519491231002X" not in anonymous.text and "1101**********002X" in anonymous.text

    login(client, claimant.username)
    result = client.post("/claim", data={"url": url.group(1)})
    assert 'data-verdict="authentic"' in result.text and 'id="claim-form"' in result.text
    done = client.post(f"/claim/{bill_id}", data={"claim_ref": "CASE-1"})
    assert done.status_code == 200 and 'data-result="claimed"' in done.text
    assert "CASE-1" in client.get("/claimed").text
    client.post("/logout")

    login(client, other_claimant.username)
    refused = client.post(f"/claim/{bill_id}", data={"claim_ref": "OTHER-9"})
    assert refused.status_code == 409
    assert "示例人寿保险" in refused.text and 'id="claimed-by"' in refused.text


def test_issuer_voids_an_anchored_bill(app: Flask, client: FlaskClient, issuer: Org, worker: object) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client)
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED)
    response = client.post(f"/bills/{bill_id}/void", data={"reason": "3", "note": "typo"}, follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        bill = db.session.get(Bill, bill_id)
        assert bill is not None and bill.status == BillStatus.VOIDED


def test_verify_page_without_input_explains(client: FlaskClient) -> None:
    response = client.post("/verify", data={}, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "Choose a photo" in response.text


# ---------------------------------------------------------------- finance


def test_finance_onboards_shows_secrets_once_and_revokes(app: Flask, client: FlaskClient) -> None:
    from appkit import credit_code

    login(client, "finance", "finance-pass")
    code = credit_code()
    response = client.post(
        "/admin/orgs", data={"name": "新医院 <b>", "credit_code": code, "kind": "issuer", "username": "newhosp"}
    )
    assert response.status_code == 200
    assert 'id="new-password"' in response.text and "bct_" in response.text
    assert "新医院 &lt;b&gt;" in response.text
    again = client.get("/admin/orgs").text
    assert 'id="new-token"' not in again and 'id="new-password"' not in again
    with app.app_context():
        org = db.session.query(Organisation).filter_by(credit_code=code).one()
        org_id = org.id
    token = client.post(f"/admin/orgs/{org_id}/tokens")
    assert 'id="new-token"' in token.text
    revoked = client.post(f"/admin/orgs/{org_id}/revoke", follow_redirects=True)
    assert revoked.status_code == 200 and "Revocation" in revoked.text


def test_onboard_form_shows_bad_credit_code_at_the_field(client: FlaskClient) -> None:
    login(client, "finance", "finance-pass")
    response = client.post(
        "/admin/orgs", data={"name": "X", "credit_code": "91110000100000000X", "kind": "claimant", "username": ""}
    )
    assert response.status_code == 422
    assert 'data-field="credit_code"' in response.text


def test_tampered_bill_file_shows_red_verdict_and_failed_check(
    app: Flask, client: FlaskClient, issuer: Org, worker: object
) -> None:
    import io
    import json

    login(client, issuer.username)
    bill_id = issue_via_form(client)
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED)
    document = client.get(f"/bills/{bill_id}/file.json").json
    assert document is not None
    document["bill"]["remarks"] = "改过的备注"
    upload = (io.BytesIO(json.dumps(document).encode()), "bill.json")
    response = client.post("/verify", data={"bill_file": upload}, content_type="multipart/form-data")
    assert 'data-verdict="tampered"' in response.text
    assert 'id="failed-check"' in response.text and "verdict-red" in response.text


def test_claimant_sees_the_bill_page_masked_without_file(client: FlaskClient, issuer: Org, claimant: Org) -> None:
    login(client, issuer.username)
    bill_id = issue_via_form(client)
    client.post("/logout")
    login(client, claimant.username)
    page = client.get(f"/bills/{bill_id}").text
    assert "1101**********002X" in page and "11010519491231002X" not in page
    assert client.get(f"/bills/{bill_id}/file.json").status_code == 403
