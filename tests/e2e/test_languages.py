"""The language switch in a real browser: Chinese by default, English on a click, the printed bill in both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from appkit import bill_payload
from browserkit import Live

pytestmark = pytest.mark.e2e


def test_pages_are_chinese_by_default_and_english_after_the_switch(
    live: Live, browser: Any, shots: Callable[..., bytes]
) -> None:
    issuer = live.onboard("issuer", "北京市第一中学")
    created = live.app.test_client().post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = context.new_page()

    page.goto(f"{live.url}/verify")
    assert page.text_content("h1") == "查验票据"
    assert page.get_attribute("html", "lang") == "zh-CN"
    shots(page, "lang-01-verify-zh")

    page.click("#lang-switch a[data-lang=en]")
    page.wait_for_url(f"{live.url}/verify")
    assert page.text_content("h1") == "Verify a bill"
    assert page.text_content("#verify-submit") == "Verify"
    shots(page, "lang-02-verify-en")

    # The issuer's printed bill, in English and then in Chinese: 大写 in both.
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", issuer.username)
    page.fill("input[name=password]", issuer.password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/")
    page.goto(f"{live.url}/bills/{created['id']}")
    page.emulate_media(media="print")
    assert page.text_content("#total-capital-label") == "Total in words (大写)"
    assert page.text_content("#bill-type") == "School fee bill"
    assert page.text_content("#total-capital") == "贰仟玖佰伍拾元零贰分"
    shots(page, "lang-03-bill-print-en")

    page.emulate_media(media="screen")
    page.click("#lang-switch a[data-lang=zh]")
    page.wait_for_url(f"{live.url}/bills/{created['id']}")
    page.emulate_media(media="print")
    assert page.text_content("#total-capital-label") == "金额合计（大写）"
    assert page.text_content("#bill-type") == "教育收费票据"
    assert page.text_content("#total-capital") == "贰仟玖佰伍拾元零贰分"
    shots(page, "lang-04-bill-print-zh")
    context.close()
