"""One bill's life in a real browser: issued through the form, scanned, photographed, reimbursed once."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from browserkit import ARTIFACTS, Live
from PIL import Image
from playwright.sync_api import expect

from app.bills.qr import decode_image

pytestmark = pytest.mark.e2e


def login(context: Any, live: Live, username: str, password: str = "pw") -> Any:
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/")
    return page


def test_bill_issued_verified_by_qr_and_photo_and_claimed_once(
    live: Live, browser: Any, shots: Callable[..., bytes]
) -> None:
    issuer = live.onboard("issuer", "北京市第一中学")
    claimant = live.onboard("claimant", "示例人寿保险")
    other = live.onboard("claimant", "另一家保险")

    # The issuer fills in the form; the preview computes amounts and 大写 while typing.
    issuer_ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    page = login(issuer_ctx, live, issuer.username)
    page.goto(f"{live.url}/issue")
    page.select_option("select[name=bill_type]", "school_fee")
    page.fill("input[name=payer_name]", "张三")
    page.fill("input[name=payer_id_number]", "11010519491231002X")
    page.fill("input[name=contact_phone]", "13800138000")
    page.fill("input[name=items-0-code]", "001")
    page.fill("input[name=items-0-name]", "学费")
    page.fill("input[name=items-0-unit]", "学期")
    page.fill("input[name=items-0-quantity]", "1")
    page.fill("input[name=items-0-unit_price]", "2500.00")
    page.click("[data-add-row]")
    page.fill("input[name=items-1-code]", "002")
    page.fill("input[name=items-1-name]", "住宿费")
    page.fill("input[name=items-1-unit]", "月")
    page.fill("input[name=items-1-quantity]", "1.5")
    page.fill("input[name=items-1-unit_price]", "300.01")
    page.fill("input[name=handler]", "李四")
    page.fill("input[name=checker]", "王五")

    # A price with three decimals: the server refuses it next to the field and keeps everything typed.
    page.fill("input[name=items-1-unit_price]", "300.015")
    page.click("#issue-submit")
    page.wait_for_selector("[data-field='items-1-unit_price']")
    assert page.input_value("input[name=payer_name]") == "张三"
    assert page.input_value("input[name=items-1-unit_price]") == "300.015"
    shots(page, "01a-issuer-form-field-error")
    page.fill("input[name=items-1-unit_price]", "300.01")
    # Locator waits, not wait_for_function: the page's CSP forbids evaluating strings, tests included.
    expect(page.locator("#preview-capital")).to_have_text("贰仟玖佰伍拾元零贰分")
    assert page.text_content("#preview-total") == "¥2,950.02"
    shots(page, "01-issuer-bill-form")
    page.click("#issue-submit")
    page.wait_for_url("**/bills/*")

    # The page polls the status and shows the anchoring once the worker has put the root on chain.
    page.wait_for_selector("#bill-status[data-status=anchored]", timeout=20_000)
    assert "贰仟玖佰伍拾元零贰分" in page.text_content("#total-capital")
    bill_png = shots(page, "02-issuer-bill-page-anchored")
    page.emulate_media(media="print")
    shots(page, "03-bill-print-layout")
    page.emulate_media(media="screen")
    qr_png = page.locator("#bill-qr").screenshot(path=str(ARTIFACTS / "04-bill-qr.png"))
    urls = decode_image(qr_png)
    assert len(urls) == 1 and urls[0].startswith(f"{live.url}/v/")
    verify_url = urls[0]

    # Anyone who scans it lands on the public page: authentic, payer ID masked.
    public = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    anon = public.new_page()
    anon.goto(verify_url)
    assert anon.get_attribute("#verdict", "data-verdict") == "authentic"
    assert "11010519491231002X" not in anon.content()
    assert "北京市第一中学" in anon.text_content("#issuer-name")
    shots(anon, "05-public-verify-from-qr-phone")

    # A photo of the printed bill (JPEG-recompressed screenshot) uploaded on /verify.
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(bill_png)).convert("RGB").save(jpeg, format="JPEG", quality=70)
    photo = ARTIFACTS / "06-bill-photo.jpg"
    photo.write_bytes(jpeg.getvalue())
    anon.goto(f"{live.url}/verify")
    shots(anon, "06-verify-page")
    anon.set_input_files("input[name=photo]", str(photo))
    anon.click("[data-verify-form] button[type=submit]")
    anon.wait_for_selector("#verdict")
    assert anon.get_attribute("#verdict", "data-verdict") == "authentic"
    shots(anon, "07-public-verify-from-photo")

    # The insurer verifies and marks it reimbursed.
    claim_ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    cpage = login(claim_ctx, live, claimant.username)
    cpage.goto(f"{live.url}/claim")
    cpage.fill("input[name=url]", verify_url)
    cpage.click("[data-verify-form] button[type=submit]")
    cpage.wait_for_selector("#claim-form")
    assert cpage.get_attribute("#verdict", "data-verdict") == "authentic"
    cpage.fill("input[name=claim_ref]", "CASE-2026-001")
    shots(cpage, "08-claimant-verified")
    cpage.click("#claim-form button[type=submit]")
    cpage.wait_for_selector("#claim-result")
    assert cpage.get_attribute("#claim-result", "data-result") == "claimed"
    shots(cpage, "09-claimant-reimbursed")
    cpage.goto(f"{live.url}/claimed")
    assert "CASE-2026-001" in cpage.text_content("#claimed-list")

    # A second insurer is told who reimbursed it and when; no claim form is offered.
    other_ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    opage = login(other_ctx, live, other.username)
    opage.goto(f"{live.url}/claim")
    opage.fill("input[name=url]", verify_url)
    opage.click("[data-verify-form] button[type=submit]")
    opage.wait_for_selector("#verdict")
    assert opage.get_attribute("#verdict", "data-verdict") == "claimed"
    assert "示例人寿保险" in opage.text_content("#claimed-by")
    assert opage.locator("#claim-form").count() == 0
    shots(opage, "10-second-claimant-refused")

    # The finance department's register.
    finance_ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    fpage = login(finance_ctx, live, "finance", "finance-pass")
    fpage.goto(f"{live.url}/admin/orgs")
    assert "北京市第一中学" in fpage.text_content("#org-list")
    shots(fpage, "11-finance-organisations")

    for ctx in (issuer_ctx, public, claim_ctx, other_ctx, finance_ctx):
        ctx.close()
