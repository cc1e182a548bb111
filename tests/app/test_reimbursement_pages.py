"""The reimbursement pages on registry v2, through the Flask test client, on a real Anvil and both databases:
review locks, split reimbursement by two units, paper conversion, void with a replacement, the payer's wallet,
the public verify page and the finance dashboard. Every test checks the page (names, amounts) and the
chain's own record of the bill (`chain_record`), not only the status code."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from test_wallet import ID_NUMBER, PHONE, open_wallet

from app import create_app
from app.bills.chainview_v2 import ChainBillRecordV2, ChainStatusV2
from app.bills.hexstr import from_hex
from app.bills.times import BEIJING
from app.chain import Deployment
from app.extensions import db
from app.models import Bill, Organisation
from app.services import reimbursement

TOTAL = 295002  # the sample bill: ¥2,950.02
SEVENTY = TOTAL * 7 // 10  # 206,501 fen = ¥2,065.01
REST = TOTAL - SEVENTY  # 88,501 fen = ¥885.01


@pytest.fixture
def deployment(deployment_v2: Deployment) -> Deployment:
    """Every app in this module runs on registry v2."""
    return deployment_v2


def browser(app: Flask, org: Org | None = None, lang: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    if org is not None:
        answer = client.post("/login", data={"username": org.username, "password": org.password})
        assert answer.status_code == 302, answer.text
    return client


def anchored(app: Flask, issuer: Org, count: int = 1) -> list[dict[str, Any]]:
    client = app.test_client()
    created = []
    for _ in range(count):
        answer = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
        assert answer.status_code == 201, answer.get_json()
        created.append(answer.get_json())
    wait_until(app, lambda: all(db.session.get(Bill, c["id"]).status == "anchored" for c in created))
    return created


def chain(app: Flask, bill_id: str) -> ChainBillRecordV2:
    """The registry's own record of the bill (its verify()), not this database's."""
    with app.app_context():
        return reimbursement.chain_record(db.session.get(Bill, bill_id))


def chain_id(app: Flask, org: Org) -> int:
    with app.app_context():
        return int(db.session.get(Organisation, org.id).chain_org_id)


def local(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def text(page: str) -> str:
    """The page's text: tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def beijing_in(days: float) -> tuple[str, datetime]:
    """A datetime-local value (Beijing time, minutes) `days` from now, and the UTC moment it means."""
    moment = (datetime.now(UTC) + timedelta(days=days)).astimezone(BEIJING).replace(second=0, microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M"), moment.astimezone(UTC)


def test_a_review_started_on_the_page_shows_its_holder_and_expiry_to_another_unit(
    app: Flask, issuer: Org, claimant: Org, other_claimant: Org, worker: Any
) -> None:
    (bill,) = anchored(app, issuer)
    unit_a, unit_b = browser(app, claimant), browser(app, other_claimant)

    # Unit A verifies the bill: the review panel offers a review and an amount (yuan; fen said underneath).
    verified = unit_a.post("/claim", data={"url": bill["verify_url"]})
    assert 'data-verdict="authentic"' in verified.text
    assert 'id="lock-form"' in verified.text and 'id="part-form"' in verified.text
    assert 'value="2950.02"' in verified.text  # the default amount: all that remains
    assert "295002 fen" in text(verified.text)

    value, until = beijing_in(2)
    started = unit_a.post(f"/claim/{bill['id']}/lock", data={"until": value})
    assert started.status_code == 302 and started.headers["Location"].endswith(f"/claim/{bill['id']}")
    page = text(unit_a.get(f"/claim/{bill['id']}").text)
    shown = value.replace("T", " ")
    assert f"You are reviewing this bill until {shown}" in page
    assert 'id="release-form"' in unit_a.get(f"/claim/{bill['id']}").text

    record = chain(app, bill["id"])
    assert record.lock_holder_id == chain_id(app, claimant)
    assert record.locked_until == until  # Beijing time on the page, UTC on chain

    reviews = unit_a.get("/reviews").text
    assert bill["bill_number"] in reviews and shown in text(reviews)

    # Unit B scans it: who reviews it and until when, no forms; a claim or a lock is refused with the facts.
    scanned = unit_b.post("/claim", data={"url": bill["verify_url"]})
    assert f"by 示例人寿保险 until {shown}" in text(scanned.text)
    assert 'id="part-form"' not in scanned.text and 'id="lock-form"' not in scanned.text
    refused = unit_b.post(f"/claim/{bill['id']}", data={"amount": "10.00", "claim_ref": "B-1"})
    assert refused.status_code == 409
    assert 'data-error="bill_locked"' in refused.text
    assert f"示例人寿保险 is reviewing this bill until {shown}" in text(refused.text)
    assert unit_b.post(f"/claim/{bill['id']}/lock", data={"until": value}).status_code == 409
    assert chain(app, bill["id"]).reimbursed_fen == 0

    # The public page shows the review too (holder, until), and never the payer's ID number or phone.
    public = browser(app).get(local(bill["verify_url"])).text
    assert f"by 示例人寿保险 until {shown}" in text(public)
    assert ID_NUMBER not in public and PHONE not in public

    # The same page in Chinese.
    chinese = text(browser(app, claimant, lang="zh-CN").get(f"/claim/{bill['id']}").text)
    assert "您正在审核本票据" in chinese and "释放审核" in chinese

    # Unit A releases: the chain has no holder any more, and B may start its own review.
    assert unit_a.post(f"/claim/{bill['id']}/release").status_code == 302
    assert chain(app, bill["id"]).lock_holder_id == 0
    assert unit_b.post(f"/claim/{bill['id']}/lock", data={"until": value}).status_code == 302
    assert chain(app, bill["id"]).lock_holder_id == chain_id(app, other_claimant)


def test_seventy_percent_then_the_rest_by_another_unit_via_the_pages(
    app: Flask, issuer: Org, claimant: Org, other_claimant: Org, worker: Any
) -> None:
    (bill,) = anchored(app, issuer)
    unit_a, unit_b = browser(app, claimant), browser(app, other_claimant)

    value, _until = beijing_in(7)
    assert unit_a.post(f"/claim/{bill['id']}/lock", data={"until": value}).status_code == 302
    first = unit_a.post(f"/claim/{bill['id']}", data={"amount": "2,065.01", "claim_ref": "MI-1"}, follow_redirects=True)
    assert first.status_code == 200
    page = text(first.text)
    assert f"Reimbursed ¥2,065.01 of bill {bill['bill_number']}; ¥885.01 remain." in page
    assert "示例人寿保险 ¥2,065.01 ¥885.01" in page  # the part: unit, amount, what remained after it
    record = chain(app, bill["id"])
    assert record.status is ChainStatusV2.PARTLY_REIMBURSED
    assert record.reimbursed_fen == SEVENTY and record.lock_holder_id == 0  # the holder's claim ended its lock

    # Unit B scans it: partly reimbursed, the default amount is the remainder.
    scanned = unit_b.post("/claim", data={"url": bill["verify_url"]})
    assert "Partly reimbursed" in scanned.text
    assert 'value="885.01"' in scanned.text and "88501 fen" in text(scanned.text)
    rest = unit_b.post(f"/claim/{bill['id']}", data={"amount": "885.01", "claim_ref": "CI-7"}, follow_redirects=True)
    assert rest.status_code == 200
    page = text(rest.text)
    assert "示例人寿保险 ¥2,065.01 ¥885.01" in page and "另一家保险 ¥885.01 ¥0.00" in page  # both parts
    record = chain(app, bill["id"])
    assert record.status is ChainStatusV2.REIMBURSED and record.reimbursed_fen == TOTAL
    with app.app_context():
        assert record.last_settled_by == db.session.get(Organisation, other_claimant.id).chain_org_id

    # Nothing remains: another part is refused with the chain's facts.
    again = unit_a.post(f"/claim/{bill['id']}", data={"amount": "0.01", "claim_ref": "MI-2"})
    assert again.status_code == 409 and 'data-error="bill_already_claimed"' in again.text
    assert "last part by 另一家保险" in text(again.text) and "Remaining on chain: ¥0.00 (0 fen)" in text(again.text)

    # Each unit's list of what it reimbursed: its own part and reference.
    claimed = text(unit_b.get("/claimed").text)
    assert "¥885.01" in claimed and "CI-7" in claimed and "¥2,065.01" not in claimed

    # The issuer's bill page and the payer's wallet show each part and the remainder.
    issuer_page = text(browser(app, issuer).get(f"/bills/{bill['id']}").text)
    assert "示例人寿保险 ¥2,065.01" in issuer_page and "另一家保险 ¥885.01" in issuer_page
    assert "Remaining ¥0.00" in issuer_page
    payer = browser(app)
    open_wallet(app, payer, ID_NUMBER, PHONE)
    wallet = text(payer.get(f"/wallet/bills/{bill['id']}").text)
    assert "示例人寿保险 ¥2,065.01" in wallet and "另一家保险 ¥885.01" in wallet

    # The public verify page: reimbursed in full, nothing remains, no payer contact.
    public = browser(app).get(local(bill["verify_url"])).text
    assert 'data-verdict="claimed"' in public and "Remaining ¥0.00" in text(public)
    assert PHONE not in public and ID_NUMBER not in public

    # The finance dashboard: one partial reimbursement per unit, with its own amount.
    dashboard = browser(app, Org(0, "finance", "", "", "finance", "finance-pass")).get("/finance").text
    rows = dict(re.findall(r'<tr data-org="(\d+)">(.*?)</tr>', dashboard, re.S))
    assert text(rows[str(claimant.id)]).split() == ["示例人寿保险", "0", "1", "2,065.01"]
    assert text(rows[str(other_claimant.id)]).split() == ["另一家保险", "0", "1", "885.01"]


def test_paper_via_the_issuer_page_then_the_claim_page_refuses(
    app: Flask, issuer: Org, claimant: Org, onboard: Any, worker: Any
) -> None:
    (bill,) = anchored(app, issuer)
    school = browser(app, issuer)
    assert 'id="paper-form"' in school.get(f"/bills/{bill['id']}").text

    # Only the bill's issuer converts it: another issuer learns nothing, a reimbursing unit may not.
    other_school = browser(app, onboard("issuer", "第二中学"))
    assert other_school.post(f"/bills/{bill['id']}/paper", data={"paper_number": "X-1"}).status_code == 404
    assert browser(app, claimant).post(f"/bills/{bill['id']}/paper", data={"paper_number": "X-1"}).status_code == 403
    bad = school.post(f"/bills/{bill['id']}/paper", data={"paper_number": "纸质一号"})
    assert bad.status_code == 422 and 'data-error="invalid_paper_number"' in bad.text

    done = school.post(f"/bills/{bill['id']}/paper", data={"paper_number": "ZJ-0012345"}, follow_redirects=True)
    assert done.status_code == 200
    page = text(done.text)
    assert "converted to paper bill ZJ-0012345" in page and "Converted to paper bill ZJ-0012345" in page
    assert 'id="paper-form"' not in done.text
    record = chain(app, bill["id"])
    assert record.status is ChainStatusV2.CONVERTED_TO_PAPER and record.paper_number == "ZJ-0012345"

    unit = browser(app, claimant)
    scanned = unit.post("/claim", data={"url": bill["verify_url"]})
    assert 'data-verdict="paper"' in scanned.text and 'id="part-form"' not in scanned.text
    refused = unit.post(f"/claim/{bill['id']}", data={"amount": "2950.02", "claim_ref": "X"})
    assert refused.status_code == 409 and 'data-error="bill_on_paper"' in refused.text
    assert "This bill was converted to paper bill ZJ-0012345" in text(refused.text)
    assert chain(app, bill["id"]).reimbursed_fen == 0

    public = text(browser(app).get(local(bill["verify_url"])).text)
    assert "Converted to paper bill ZJ-0012345" in public


def test_void_names_a_replacement_and_a_bill_under_review_is_refused_with_its_holder(
    app: Flask, issuer: Org, claimant: Org, worker: Any
) -> None:
    locked, old, new = anchored(app, issuer, 3)
    value, _until = beijing_in(1)
    assert browser(app, claimant).post(f"/claim/{locked['id']}/lock", data={"until": value}).status_code == 302

    school = browser(app, issuer)
    page = school.get(f"/bills/{locked['id']}").text
    assert "by 示例人寿保险 until" in text(page) and 'id="paper-form"' not in page  # nothing to convert now
    refused = school.post(f"/bills/{locked['id']}/void", data={"reason": "1"})
    assert refused.status_code == 409 and 'data-error="bill_locked"' in refused.text
    assert f"Under review by 示例人寿保险 until {value.replace('T', ' ')}" in text(refused.text)
    assert chain(app, locked["id"]).status is ChainStatusV2.ISSUED

    unknown = school.post(f"/bills/{old['id']}/void", data={"reason": "1", "replacement": "0000000000"})
    assert unknown.status_code == 422 and 'data-error="invalid_replacement"' in unknown.text

    voided = school.post(
        f"/bills/{old['id']}/void", data={"reason": "1", "replacement": new["bill_number"]}, follow_redirects=True
    )
    assert voided.status_code == 200
    assert f'href="/bills/{new["id"]}"' in voided.text and new["bill_ref"] in voided.text  # "Replaced by"
    record = chain(app, old["id"])
    assert record.status is ChainStatusV2.VOIDED and record.replacement_ref == from_hex(new["bill_ref"])

    public = text(browser(app).get(local(old["verify_url"])).text)
    assert f"Replaced by {new['bill_ref']}" in public


def test_reimbursing_pages_are_for_reimbursing_units_only(app: Flask, issuer: Org, claimant: Org) -> None:
    bill = browser(app, issuer).post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).get_json()
    school = browser(app, issuer)
    for path in (f"/claim/{bill['id']}", "/reviews"):
        assert school.get(path).status_code == 403
        assert browser(app).get(path).status_code == 302  # to the login page
    assert school.post(f"/claim/{bill['id']}/lock", data={"until": beijing_in(1)[0]}).status_code == 403
    assert school.post(f"/claim/{bill['id']}/release").status_code == 403
    # Not on chain yet: the review page says so (the chain's answer), never a 500.
    unit = browser(app, claimant)
    pending = unit.get(f"/claim/{bill['id']}")
    assert pending.status_code == 200 and 'data-error="bill_not_anchored"' in pending.text
    # A review longer than the registry allows is refused before anything is sent.
    too_long = unit.post(f"/claim/{bill['id']}/lock", data={"until": beijing_in(400)[0]})
    assert too_long.status_code == 422 and 'data-error="invalid_until"' in too_long.text
    unreadable = unit.post(f"/claim/{bill['id']}/lock", data={"until": "next week"})
    assert unreadable.status_code == 422 and 'data-error="invalid_until"' in unreadable.text


def test_every_reimbursement_form_needs_its_csrf_token(app: Flask) -> None:
    """The other tests switch CSRF off; with it on, as in production, a POST without the token is refused."""
    config = {k: v for k, v in app.config.items() if k.startswith("BILLCHAIN_")}
    assert config["BILLCHAIN_REGISTRY_VERSION"] == 2
    protected = create_app({**config, "TESTING": True, "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False})
    client = protected.test_client()
    for path in ("/claim/x/lock", "/claim/x/release", "/claim/x", "/bills/x/paper", "/bills/x/void"):
        assert client.post(path, data={"until": "2030-01-01T00:00", "amount": "1", "claim_ref": "r"}).status_code == 400
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()
