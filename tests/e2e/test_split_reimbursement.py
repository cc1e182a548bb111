"""Split reimbursement on registry v2 in a real browser: unit A verifies the bill, starts a review and
reimburses 70 %; unit B scans it, sees it partly reimbursed, and reimburses the rest; B's screen shows both
parts. Unit A works in Chinese, unit B in English. The chain's own record is checked at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from appkit import bill_payload, wait_until
from browserkit import Live

from app.bills.chainview_v2 import ChainStatusV2
from app.extensions import db
from app.models import Bill
from app.services import reimbursement

pytestmark = pytest.mark.e2e

TOTAL = 295002  # the sample bill: ¥2,950.02
SEVENTY = TOTAL * 7 // 10  # ¥2,065.01; ¥885.01 remain


def login(context: Any, live: Live, username: str, password: str = "pw") -> Any:
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/")
    return page


def scan(page: Any, live: Live, verify_url: str) -> None:
    """What the QR code gives: the verify URL, pasted on the claimant's verify page."""
    page.goto(f"{live.url}/claim")
    page.fill("input[name=url]", verify_url)
    page.click("[data-verify-form] button[type=submit]")
    page.wait_for_selector("#verdict")


def test_two_units_split_one_bill_seventy_and_thirty(live_v2: Live, browser: Any, shots: Callable[..., bytes]) -> None:
    live = live_v2
    issuer = live.onboard("issuer", "北京市第一中学")
    unit_a = live.onboard("claimant", "示例人寿保险")
    unit_b = live.onboard("claimant", "另一家保险")
    created = live.app.test_client().post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    wait_until(live.app, lambda: db.session.get(Bill, created["id"]).status == "anchored", work=False)

    # Unit A (Chinese) verifies: authentic, nothing reimbursed, a review and an amount are offered.
    a_ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    a = login(a_ctx, live, unit_a.username)
    scan(a, live, created["verify_url"])
    assert a.get_attribute("#verdict", "data-verdict") == "authentic"
    assert a.input_value("#part-form input[name=amount]") == "2950.02"
    assert "295002" in a.text_content("#fen-note")
    shots(a, "split-1-review")

    # A starts a review (default: 7 days, Beijing time) and holds the bill.
    a.click("#lock-form button[type=submit]")
    a.wait_for_selector("#review-mine")
    assert a.get_attribute("#review-panel", "data-mine") == "yes"
    assert "示例人寿保险" in a.text_content("#chain-lock")
    shots(a, "split-2-under-review")
    a.goto(f"{live.url}/reviews")
    assert created["bill_number"] in a.text_content("#review-list")
    shots(a, "split-3-open-reviews")

    # A reimburses 70 % (yuan on the page; integer fen to the chain).
    a.goto(f"{live.url}/claim/{created['id']}")
    a.fill("#part-form input[name=amount]", "2065.01")
    a.fill("#part-form input[name=claim_ref]", "MI-2026-001")
    a.click("#part-form button[type=submit]")
    a.wait_for_selector("#parts tr[data-part='1']")
    assert a.get_attribute("#money", "data-remaining-fen") == str(TOTAL - SEVENTY)
    assert "¥2,065.01" in a.text_content("#parts")
    shots(a, "split-4-seventy-percent")

    # Unit B (English) scans it: partly reimbursed, A's part listed, the remainder offered by default.
    b_ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US")
    b = login(b_ctx, live, unit_b.username)
    scan(b, live, created["verify_url"])
    assert b.get_attribute("#verdict", "data-verdict") == "authentic"
    assert "Partly reimbursed" in b.text_content("#verdict")
    assert "示例人寿保险" in b.text_content("#parts")
    assert b.get_attribute("#review-panel", "data-chain-status") == "partly_reimbursed"
    assert b.input_value("#part-form input[name=amount]") == "885.01"
    shots(b, "split-5-second-unit-scans")

    b.fill("#part-form input[name=claim_ref]", "CI-7")
    b.click("#part-form button[type=submit]")
    b.wait_for_selector("#parts tr[data-part='2']")
    rows = [" ".join(r.split()) for r in b.locator("#parts tbody tr").all_inner_texts()]
    assert rows[0].startswith("示例人寿保险 ¥2,065.01 ¥885.01"), rows
    assert rows[1].startswith("另一家保险 ¥885.01 ¥0.00"), rows
    assert b.get_attribute("#money", "data-remaining-fen") == "0"
    assert b.locator("#part-form").count() == 0  # nothing remains to reimburse
    shots(b, "split-6-both-parts")

    # The chain's own record: reimbursed in full, last by unit B.
    with live.app.app_context():
        record = reimbursement.chain_record(db.session.get(Bill, created["id"]))
    assert record.status is ChainStatusV2.REIMBURSED and record.reimbursed_fen == TOTAL

    # Anyone scanning the QR code on a phone: already reimbursed, nothing remains.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    anon = phone.new_page()
    anon.goto(created["verify_url"])
    assert anon.get_attribute("#verdict", "data-verdict") == "claimed"
    assert anon.get_attribute("#result-remaining", "data-fen") == "0"
    assert "13800138000" not in anon.content()
    shots(anon, "split-7-public-verify-phone")

    for ctx in (a_ctx, b_ctx, phone):
        ctx.close()
