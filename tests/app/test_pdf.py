"""The bill as a PDF: same access as the bill page, the QR code inside decodes to the verify URL, no font → 503."""

from __future__ import annotations

from appkit import Org, bill_payload
from flask import Flask
from flask.testing import FlaskClient
from pdfkit import info, qr_urls
from test_wallet import open_wallet

from app.web.pdf import FONT_PACKAGE


def issue(client: FlaskClient, issuer: Org) -> dict[str, str]:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def login(client: FlaskClient, org: Org) -> None:
    assert client.post("/login", data={"username": org.username, "password": org.password}).status_code == 302


def test_issuer_downloads_a_pdf_whose_qr_code_is_the_verify_url(client: FlaskClient, issuer: Org) -> None:
    bill = issue(client, issuer)
    login(client, issuer)

    response = client.get(f"/bills/{bill['id']}/bill.pdf")

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert f"bill-{bill['bill_code']}-{bill['bill_number']}.pdf" in response.headers["Content-Disposition"]
    assert info(response.data, "Subject") == f"{bill['bill_code']}-{bill['bill_number']}"
    assert b"/FontFile2" in response.data  # the CJK font is embedded (subset)
    assert qr_urls(response.data) == [bill["verify_url"]]


def test_pdf_title_follows_the_page_language(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill = issue(client, issuer)
    login(client, issuer)
    english = client.get(f"/bills/{bill['id']}/bill.pdf").data
    client.set_cookie("lang", "zh")
    chinese = client.get(f"/bills/{bill['id']}/bill.pdf").data
    assert info(english, "Title").startswith("Fiscal e-bill")
    assert info(chinese, "Title").startswith("财政电子票据")


def test_claimant_gets_the_pdf_and_another_issuer_does_not(
    app: Flask, client: FlaskClient, issuer: Org, claimant: Org, onboard
) -> None:
    bill = issue(client, issuer)
    stranger = onboard("issuer", "另一所学校")
    login(client, claimant)
    assert client.get(f"/bills/{bill['id']}/bill.pdf").status_code == 200
    other = app.test_client()
    login(other, stranger)
    assert other.get(f"/bills/{bill['id']}/bill.pdf").status_code == 404
    assert app.test_client().get(f"/bills/{bill['id']}/bill.pdf").status_code == 302  # anonymous: log in first


def test_payer_downloads_the_pdf_from_the_wallet(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill = issue(client, issuer)
    open_wallet(app, client)

    response = client.get(f"/wallet/bills/{bill['id']}/bill.pdf")

    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert qr_urls(response.data) == [bill["verify_url"]]
    assert f"/wallet/bills/{bill['id']}/bill.pdf" in client.get("/wallet").text


def test_missing_font_answers_503_naming_the_debian_package(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill = issue(client, issuer)
    login(client, issuer)
    app.config["BILLCHAIN_PDF_FONT"] = "/nonexistent/font.ttc"

    as_json = client.get(f"/bills/{bill['id']}/bill.pdf", headers={"Accept": "application/json"})
    as_page = client.get(f"/bills/{bill['id']}/bill.pdf")

    assert as_json.status_code == 503 and as_json.get_json()["error"] == "pdf_font_missing"
    assert FONT_PACKAGE in as_json.get_json()["message"]
    assert as_page.status_code == 503 and FONT_PACKAGE in as_page.text
