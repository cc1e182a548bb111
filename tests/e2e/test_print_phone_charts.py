"""People's habits in a real browser: Beijing time on pages, the printed bill (one A5 page; a long bill on
numbered pages, header on each), the public pages on a phone, and the finance dashboard's charts.

Printing is Chromium's own print-to-PDF (Playwright page.pdf with the page's @page size); pypdf reads the
pages back.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from browserkit import ARTIFACTS, Live
from pypdf import PdfReader

from app.bills.times import BEIJING
from app.extensions import db
from app.models import Bill
from app.web.charts import Series, chart

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _issue(live: Live, issuer: Org, **overrides: Any) -> dict[str, Any]:
    answer = live.app.test_client().post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert answer.status_code == 201, answer.get_json()
    created: dict[str, Any] = answer.get_json()
    wait_until(live.app, lambda: db.session.get(Bill, created["id"]).status == "anchored", work=False)
    return created


def _login(context: Any, live: Live, org: Org) -> Any:
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", org.username)
    page.fill("input[name=password]", org.password)
    page.click("[type=submit]")
    page.wait_for_load_state()
    return page


def _printed(page: Any, name: str) -> list[str]:
    """Print the page as Chromium does (its own @page size and margins); the text of each printed page."""
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    (ARTIFACTS / f"{name}.pdf").write_bytes(pdf)
    return [p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture(scope="module")
def school(live: Live) -> Org:
    return live.onboard("issuer", "北京市打印测试中学")


def _items(count: int) -> tuple[list[dict[str, Any]], int]:
    items = [
        {
            "code": f"{n:03d}",
            "name": f"检查项目{n}",
            "unit": "次",
            "quantity": "1",
            "unit_price_fen": 1000 + n,
            "amount_fen": 1000 + n,
        }
        for n in range(1, count + 1)
    ]
    return items, sum(i["amount_fen"] for i in items)


def test_bill_page_and_print_show_beijing_time(
    live: Live, browser: Any, school: Org, shots: Callable[..., bytes]
) -> None:
    created = _issue(live, school)
    with live.app.app_context():
        issued = db.session.get(Bill, created["id"]).issued_at
    beijing_text = issued.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    detail = live.app.test_client().get(f"/api/v1/bills/{created['id']}", headers=school.auth).get_json()
    assert ISO_UTC.fullmatch(detail["issued_at"])  # the API keeps UTC ISO 8601

    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = _login(context, live, school)
    page.goto(f"{live.url}/bills/{created['id']}")
    assert page.text_content("#issued-at") == beijing_text
    assert "北京时间" in page.text_content(".ebill-meta")
    anchored = page.text_content("#anchored-at")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", anchored)
    assert not ISO_UTC.search(page.text_content("main"))
    shots(page, "bill-beijing-time")

    printed = "".join(_printed(page, "bill-beijing-time"))
    assert beijing_text in printed
    assert not ISO_UTC.search(printed)

    pdf = page.request.get(f"{live.url}/bills/{created['id']}/bill.pdf").body()
    assert beijing_text in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    context.close()


def test_a_two_item_bill_prints_on_one_page_with_signatures_and_the_right_border(
    live: Live, browser: Any, school: Org
) -> None:
    created = _issue(live, school)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = _login(context, live, school)
    page.goto(f"{live.url}/bills/{created['id']}")
    # Laid out for print at the printable width (A5 landscape 210 mm less 2 × 6 mm margins): nothing sticks out.
    printable = int((210 - 12) / 25.4 * 96)
    page.set_viewport_size({"width": printable, "height": 900})
    page.emulate_media(media="print")
    right = page.evaluate("document.querySelector('.ebill-sheet').getBoundingClientRect().right")
    assert right <= printable
    assert page.evaluate("document.documentElement.scrollWidth") <= printable

    pages = _printed(page, "print-two-items")
    assert len(pages) == 1, pages
    text = pages[0]
    for expected in (
        created["bill_number"],
        "开票单位",
        "收款人: 李四",
        "复核人: 王五",
        "贰仟玖佰伍拾元零贰分",
        "1 / 1",
    ):
        assert expected.replace(" ", "") in text.replace(" ", ""), (expected, text)
    context.close()


def test_a_sixty_item_bill_continues_on_numbered_pages_with_the_header_on_each(
    live: Live, browser: Any, school: Org
) -> None:
    items, total = _items(60)
    created = _issue(live, school, bill_type="medical_outpatient", items=items, total_fen=total)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = _login(context, live, school)
    page.goto(f"{live.url}/bills/{created['id']}")
    pages = _printed(page, "print-sixty-items")
    count = len(pages)
    assert count >= 2
    drawn = _qr_drawing_per_page(page, count)
    assert all(d >= 100 for d in drawn), "the QR on every page"
    every_item = "".join(pages).replace(" ", "")
    assert all(f"检查项目{n}" in every_item for n in range(1, 61))
    assert "复核人:王五" in pages[-1].replace(" ", "")  # signatures once, at the end
    assert "复核人" not in pages[0].replace(" ", "")
    context.close()


def _path_ops(pdf: bytes) -> list[int]:
    """Path-building operators (moveto, lineto, curveto) in each page's content stream."""
    pages = []
    for p in PdfReader(io.BytesIO(pdf)).pages:
        content = p.get_contents()
        data = content.get_data() if content is not None else b""
        pages.append(len(re.findall(rb"(?<=\s)[mlc](?=\s)", data)))
    return pages


def _qr_drawing_per_page(page: Any, count: int) -> list[int]:
    """How much of each printed page is the QR: the page's path operators, less those of the same print
    without the QR (the QR is an inline SVG, printed as vector paths, so no image to count)."""
    with_qr = _path_ops(page.pdf(prefer_css_page_size=True))
    page.evaluate("document.getElementById('bill-qr').style.visibility = 'hidden'")
    without = _path_ops(page.pdf(prefer_css_page_size=True))
    assert len(with_qr) == len(without) == count
    return [a - b for a, b in zip(with_qr, without, strict=True)]


@pytest.mark.parametrize("which", ["home", "verify", "result", "wallet-login"])
def test_public_pages_on_a_phone_have_no_word_broken_per_character_and_no_sideways_scroll(
    live: Live, browser: Any, school: Org, shots: Callable[..., bytes], which: str
) -> None:
    paths = {"home": "/", "verify": "/verify", "wallet-login": "/wallet/login"}
    if which == "result":
        created = _issue(live, school)
        path = created["verify_url"].removeprefix(live.url)
    else:
        path = paths[which]
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live.url}{path}")
    shots(page, f"phone-{which}")
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "sideways scroll"
    # Lines of an element's text, from its text's line boxes (so padding does not count).
    broken = page.evaluate(
        """() => {
        const lines = (el) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          const rects = [...range.getClientRects()].filter(r => r.width > 0).sort((a, b) => a.top - b.top);
          let count = 0, bottom = -Infinity;
          for (const r of rects) {  // a rect that does not overlap the line above starts a new line
            if (r.top >= bottom - 2) { count += 1; bottom = r.bottom; } else { bottom = Math.max(bottom, r.bottom); }
          }
          return count;
        };
        const bad = [];
        const width = document.documentElement.clientWidth;
        const texts = 'header a, header strong, header span, header button, nav a, h1, h2, th, .btn, label > span, p';
        for (const el of document.querySelectorAll(texts)) {
          const text = el.textContent.trim();
          if (text.length < 2 || !el.getClientRects().length) continue;
          const n = lines(el);
          if (n > 1 && n >= text.length / 2) bad.push(text.slice(0, 30) + ' (' + n + ' lines)');
          if (el.getBoundingClientRect().right > width + 1) bad.push(text.slice(0, 30) + ' (off screen)');
        }
        for (const a of document.querySelectorAll('header a, header button, nav a')) {
          if (a.getClientRects().length && lines(a) > 1) bad.push(a.textContent.trim() + ' (a link on two lines)');
        }
        return bad;
    }"""
    )
    assert broken == []
    context.close()


def test_finance_dashboard_charts_issuers_and_reimbursing_units_over_a_date_range(
    live: Live, browser: Any, shots: Callable[..., bytes]
) -> None:
    school = live.onboard("issuer", "北京市图表测试中学")  # its own: the other tests' bills stay out of its figures
    insurer = live.onboard("claimant", "示例图表保险公司")
    claimed, voided, kept = (_issue(live, school) for _ in range(3))
    api = live.app.test_client()
    answer = api.post(f"/api/v1/bills/{claimed['id']}/claim", json={"claim_ref": "R-1"}, headers=insurer.auth)
    assert answer.status_code == 200, answer.get_json()
    answer = api.post(f"/api/v1/bills/{voided['id']}/void", json={"reason": 1}, headers=school.auth)
    assert answer.status_code in (200, 202), answer.get_json()
    wait_until(live.app, lambda: db.session.get(Bill, voided["id"]).status == "voided", work=False)
    with live.app.app_context():
        issuer_id = db.session.get(Bill, kept["id"]).organisation_id
    today = datetime.now(UTC).date()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900})
    finance = Org(0, "财政局", "", "", "finance", "finance-pass")
    page = _login(context, live, finance)
    page.goto(f"{live.url}/finance?from={(today - timedelta(days=6)).isoformat()}&to={today.isoformat()}")
    counts = page.locator(f"#chart-counts-{issuer_id}")
    assert counts.locator("rect[data-series='开具']").last.get_attribute("data-value") == "3"
    assert counts.locator("rect[data-series='已报销']").last.get_attribute("data-value") == "1"
    assert counts.locator("rect[data-series='已作废']").last.get_attribute("data-value") == "1"
    assert page.locator(f"#chart-amounts-{issuer_id} polyline").count() == 3
    claims = page.locator(f"#chart-claims-{insurer.id}")
    assert claims.locator("rect").filter(has=page.locator("title")).last.get_attribute("data-value") == "1"
    section = page.locator(f"section.claimant[data-org='{insurer.id}']")
    assert "示例图表保险公司" in section.text_content() and "2,950.02" in section.text_content()
    assert page.locator("svg.chart title").first.text_content() == "每日票据数"
    assert "已报销" in page.locator("section.org").first.locator("th").all_text_contents()
    page.locator(f"section.claimant[data-org='{insurer.id}']").scroll_into_view_if_needed()
    page.locator("h2.group").first.scroll_into_view_if_needed()
    shots(page, "finance-charts")
    context.close()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01&to=2026-12-01", "from"),
        ("from=2026-12-01&to=yesterday", "to"),
        ("from=2026-12-02&to=2026-12-01", "from"),
        ("from=2025-01-01&to=2026-12-01", "from"),
    ],
)
def test_finance_dashboard_refuses_bad_dates_naming_the_field(live: Live, query: str, field: str) -> None:
    client = live.app.test_client()
    client.post("/login", data={"username": "finance", "password": "finance-pass"})
    for path in ("/finance", "/finance/export.csv"):
        answer = client.get(f"{path}?{query}", headers={"Accept": "application/json"})
        assert answer.status_code == 400, (path, answer.status_code)
        assert answer.get_json()["field"] == field


def test_charts_escape_every_text() -> None:
    svg = chart("<b>t</b>", ["<i>"], [Series('x"><script>', "#123456", [1])])
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    assert "&lt;b&gt;t&lt;/b&gt;" in svg
