"""Bulk import in a real browser: a CSV of a few hundred rows, the progress bar to done, the bills listed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from browserkit import Live
from playwright.sync_api import expect

from app.services.imports import COLUMNS

pytestmark = pytest.mark.e2e

ROWS = 300


def csv_file(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    for n in range(rows):
        writer.writerow(
            {
                "payer_name": f"导入交款人{n:03d}",
                "item1_code": "001",
                "item1_name": "学费",
                "item1_unit": "学期",
                "item1_unit_price_yuan": f"{100 + n}.50",
                "handler": "李四",
                "checker": "王五",
            }
        )
    return ("\ufeff" + out.getvalue()).encode()


def test_issuer_uploads_a_csv_and_watches_the_progress_to_done(
    live: Live, browser: Any, shots: Callable[..., bytes]
) -> None:
    issuer = live.onboard("issuer", "某区实验小学")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 800})
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", issuer.username)
    page.fill("input[name=password]", issuer.password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/")

    # Record the bar's value every 50 ms from page load: the test sees what a person would see.
    page.add_init_script(
        "window.__seen = []; setInterval(() => { const bar = document.getElementById('import-progress');"
        " if (bar) window.__seen.push(bar.value); }, 50);"
    )
    page.goto(f"{live.url}/import")
    page.set_input_files(
        "input[name=file]", files=[{"name": "bills.csv", "mimeType": "text/csv", "buffer": csv_file(ROWS)}]
    )
    page.click("input[type=submit]")
    page.wait_for_url("**/import/*")
    shots(page, "import-01-progress-zh")

    expect(page.locator("#import-state")).to_have_attribute("data-state", "done", timeout=30_000)
    assert int(page.get_attribute("#import-progress", "max") or 0) == ROWS
    assert page.evaluate("document.getElementById('import-progress').value") == ROWS
    seen = page.evaluate("window.__seen.concat([document.getElementById('import-progress').value])")
    # The page opens before the job has finished (it runs in the background), then only moves forward.
    assert seen[0] < ROWS and seen == sorted(seen) and seen[-1] == ROWS, sorted(set(seen))
    assert page.text_content("#import-state") == "已完成"
    assert page.text_content("#import-count") == f"{ROWS} / {ROWS}"
    shots(page, "import-02-done-zh")

    page.click("#to-bills")
    page.wait_for_url(f"{live.url}/bills")
    listing = page.text_content("#bill-list")
    assert f"导入交款人{ROWS - 1:03d}" in listing or "导入交款人000" in listing
    assert page.locator("#bill-list tbody tr").count() == 20  # first page of 300
    shots(page, "import-03-bill-list-zh")
    context.close()
