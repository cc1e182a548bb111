"""The wallet under attack: a code proves one contact, never a whole ID number; codes are capped, single,
never logged; the cookie tells nothing; wallets close when idle."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

from appkit import Org, bill_payload, make_config, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from app.extensions import db
from app.models import Bill, BillStatus, WalletEntry, WalletSession, utcnow
from app.services.issuing import payer_key
from app.services.wallet import CODES_PER_CONTACT

VICTIM_ID = "11010519491231002X"
VICTIM_PHONE = "13800138000"
ATTACKER_PHONE = "13911112222"


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> str:
    payload = bill_payload(**overrides)
    if overrides.get("contact") is None and "contact" in overrides:
        del payload["contact"]  # contact=None: a bill that records no contact at all
    response = client.post("/api/v1/bills", json=payload, headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]


def ask_code(app: Flask, browser: FlaskClient, identity: str, contact: str) -> str | None:
    app.extensions.pop("wallet_outbox", None)
    assert browser.post("/wallet/login", data={"identity": identity, "contact": contact}).status_code == 302
    return app.extensions.get("wallet_outbox", {}).get(contact)  # type: ignore[no-any-return]


def open_wallet(app: Flask, identity: str, contact: str, browser: FlaskClient | None = None) -> FlaskClient:
    if browser is None:
        browser = app.test_client()
        browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    code = ask_code(app, browser, identity, contact)
    assert code is not None, "no code was sent"
    assert browser.post("/wallet/code", data={"code": code}).headers["Location"].endswith("/wallet")
    return browser


def cookie(app: Flask, browser: FlaskClient) -> dict[str, Any]:
    raw = browser.get_cookie("session")
    assert raw is not None
    return dict(app.session_interface.get_signing_serializer(app).loads(raw.value))  # type: ignore[attr-defined]


def test_a_bill_with_the_victims_id_and_the_attackers_phone_opens_only_that_bill(app, client, issuer, onboard):
    hospital = onboard("issuer", "某市人民医院")
    victims = [issue(client, issuer), issue(client, hospital)]
    bait = issue(client, issuer, contact={"phone": ATTACKER_PHONE})

    attacker = open_wallet(app, VICTIM_ID, ATTACKER_PHONE)

    page = attacker.get("/wallet").get_data(as_text=True)
    assert f'data-bill="{bait}"' in page
    for bill_id in victims:
        assert f'data-bill="{bill_id}"' not in page
        assert attacker.get(f"/wallet/bills/{bill_id}").status_code == 404
        assert attacker.get(f"/wallet/bills/{bill_id}/file").status_code == 404
        assert attacker.get(f"/wallet/bills/{bill_id}/bill.pdf").status_code == 404


def test_proving_a_second_contact_adds_its_bills_to_the_same_wallet(app, client, issuer):
    first = issue(client, issuer)
    second = issue(client, issuer, contact={"email": "Zhang.San@Example.com"})
    browser = open_wallet(app, VICTIM_ID, VICTIM_PHONE)
    assert f'data-bill="{second}"' not in browser.get("/wallet").get_data(as_text=True)

    open_wallet(app, VICTIM_ID, "zhang.san@example.com", browser)

    page = browser.get("/wallet").get_data(as_text=True)
    assert f'data-bill="{first}"' in page and f'data-bill="{second}"' in page
    with app.app_context():
        assert db.session.scalar(select(WalletSession.id).where(WalletSession.id > 1)) is None  # one wallet


def test_people_of_the_same_name_without_id_number_do_not_share_a_wallet(app, client, issuer):
    zhang = {"kind": "person", "name": "张伟"}
    mine = issue(client, issuer, payer=zhang, contact={"phone": "13700000001"})
    theirs = issue(client, issuer, payer=zhang, contact={"phone": "13700000002"})

    page = open_wallet(app, "张伟", "13700000001").get("/wallet").get_data(as_text=True)

    assert f'data-bill="{mine}"' in page
    assert f'data-bill="{theirs}"' not in page


def test_bill_with_neither_id_number_nor_contact_is_in_no_wallet_and_the_page_says_so(app, client, issuer):
    issue(client, issuer, payer={"kind": "person", "name": "李四"}, contact=None)
    issue(client, issuer, payer={"kind": "person", "name": "李四"}, contact={"phone": "13700000003"})

    page = open_wallet(app, "李四", "13700000003").get("/wallet").get_data(as_text=True)

    assert page.count("View / print") == 1
    assert "neither an ID number nor a phone or e-mail" in page


def test_codes_to_one_contact_are_capped_across_app_processes(app, client, issuer, anvil, deployment, tmp_path):
    issue(client, issuer)
    other = create_app(make_config(anvil, deployment, app.config["BILLCHAIN_DATABASE_URL"], tmp_path / "b"))
    sent = []
    for i in range(CODES_PER_CONTACT + 2):
        instance = (app, other)[i % 2]  # two app instances, one database: the cap is counted there
        sent.append(ask_code(instance, instance.test_client(), VICTIM_ID, VICTIM_PHONE) is not None)

    assert sent == [True] * CODES_PER_CONTACT + [False, False]
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_new_code_ends_the_older_unused_one(app, client, issuer):
    issue(client, issuer)
    first_browser, second_browser = app.test_client(), app.test_client()
    old = ask_code(app, first_browser, VICTIM_ID, VICTIM_PHONE)
    new = ask_code(app, second_browser, VICTIM_ID, VICTIM_PHONE)
    assert old and new

    first_browser.post("/wallet/code", data={"code": old})
    second_browser.post("/wallet/code", data={"code": new})

    assert first_browser.get("/wallet").status_code == 302
    assert second_browser.get("/wallet").status_code == 200


def test_the_code_is_never_logged_only_that_it_was_sent(app, client, issuer, caplog):
    issue(client, issuer)
    with caplog.at_level(logging.DEBUG):
        code = ask_code(app, app.test_client(), VICTIM_ID, VICTIM_PHONE)

    assert code is not None
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in text
    assert VICTIM_PHONE not in text
    assert "wallet code sent to 138****00" in text


def test_the_cookie_looks_the_same_whether_or_not_the_details_have_bills(app, client, issuer):
    issue(client, issuer)
    matching, stranger = app.test_client(), app.test_client()

    assert ask_code(app, matching, VICTIM_ID, VICTIM_PHONE) is not None
    assert ask_code(app, stranger, VICTIM_ID, "13900000000") is None

    a, b = cookie(app, matching), cookie(app, stranger)
    assert set(a) == set(b)
    assert {k: (type(v), len(str(v))) for k, v in a.items()} == {k: (type(v), len(str(v))) for k, v in b.items()}
    opened = open_wallet(app, VICTIM_ID, VICTIM_PHONE, matching)
    with app.app_context():
        key = payer_key(VICTIM_ID, "")
    assert key not in str(cookie(app, opened))  # the wallet's cookie holds a token only


def test_wallet_closes_after_the_idle_time(app, client, issuer):
    issue(client, issuer)
    browser = open_wallet(app, VICTIM_ID, VICTIM_PHONE)
    assert browser.get("/wallet").status_code == 200
    idle = timedelta(minutes=app.config["BILLCHAIN_WALLET_SESSION_MINUTES"], seconds=1)
    with app.app_context():
        db.session.execute(update(WalletSession).values(last_seen_at=utcnow() - idle))
        db.session.commit()

    assert browser.get("/wallet").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(WalletSession.id)) is None


def test_closing_the_wallet_ends_it_on_the_server(app, client, issuer):
    issue(client, issuer)
    browser = open_wallet(app, VICTIM_ID, VICTIM_PHONE)
    stolen = browser.get_cookie("session")
    assert stolen is not None

    browser.post("/wallet/logout")

    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    assert replay.get("/wallet").status_code == 302


def test_an_added_bill_shows_only_in_wallets_that_prove_the_contact_it_was_added_under(app, client, issuer, worker):
    first = issue(client, issuer, contact={"phone": "13700000011"})
    issue(client, issuer, contact={"phone": "13700000012"})
    issue(client, issuer, contact={"phone": "13700000013"})
    wait_until(app, lambda: db.session.get(Bill, first).status == BillStatus.ANCHORED)
    file = client.get(f"/api/v1/bills/{first}/file", headers=issuer.auth).data
    adder = open_wallet(app, VICTIM_ID, "13700000012")
    adder.post("/wallet/add", data={"file": (io.BytesIO(file), "a.json")}, content_type="multipart/form-data")

    assert f'data-bill="{first}"' in adder.get("/wallet").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(WalletEntry.contact)) == "13700000012"
    stranger = open_wallet(app, VICTIM_ID, "13700000013")
    assert f'data-bill="{first}"' not in stranger.get("/wallet").get_data(as_text=True)
    assert stranger.get(f"/wallet/bills/{first}").status_code == 404
