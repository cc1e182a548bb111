"""The payer's wallet in a real browser: ID number + phone, the one-time code, the bill, its PDF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from appkit import bill_payload
from browserkit import ARTIFACTS, Live
from pdfkit import qr_urls

pytestmark = pytest.mark.e2e

ID_NUMBER = "110105194912310038"  # a payer of its own, so other browser tests' bills stay out of this wallet
PHONE = "13900139000"


def test_payer_opens_the_wallet_with_a_code_and_downloads_the_pdf(
    live: Live, browser: Any, shots: Callable[..., bytes]
) -> None:
    issuer = live.onboard("issuer", "某市人民医院")
    payload = bill_payload(
        bill_type="medical_outpatient",
        payer={"kind": "person", "name": "王二", "id_number": ID_NUMBER},
        contact={"phone": PHONE},
    )
    created = live.app.test_client().post("/api/v1/bills", json=payload, headers=issuer.auth).get_json()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900}, accept_downloads=True)
    page = context.new_page()

    page.goto(f"{live.url}/wallet/login")
    page.fill("input[name=identity]", ID_NUMBER)
    page.fill("input[name=contact]", "139-0013-9000")
    shots(page, "wallet-01-identify-zh")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/wallet/code")
    # No SMS gateway here: under TESTING the code is also put in the app's outbox (and always in the log).
    code = live.app.extensions["wallet_outbox"][PHONE]
    page.fill("input[name=code]", code)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/wallet")

    row = page.locator(f"tr[data-bill='{created['id']}']")
    assert created["bill_number"] in row.text_content()
    assert "某市人民医院" in row.text_content()
    shots(page, "wallet-02-bills-zh")

    with page.expect_download() as download_info:
        row.locator("a[data-pdf]").click()
    download = download_info.value
    assert download.suggested_filename == f"bill-{created['bill_code']}-{created['bill_number']}.pdf"
    pdf = Path(download.path()).read_bytes()
    (ARTIFACTS / "wallet-03-bill.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-")
    assert qr_urls(pdf) == [created["verify_url"]]

    row.locator("a", has_text="查看").click()
    page.wait_for_selector("#bill-qr svg")
    assert page.text_content("#bill-number") == created["bill_number"]
    shots(page, "wallet-04-bill-page-zh")
    context.close()
