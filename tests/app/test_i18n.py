"""Languages: Chinese by default, English by browser preference or the switch; labels, verdicts, catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from appkit import Org, bill_payload
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from app.bills import messages

PO = Path(__file__).resolve().parents[2] / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def zh_client(app: Flask) -> FlaskClient:
    """A browser with no language preference (the fixture `client` prefers English)."""
    return app.test_client()


def issue(client: FlaskClient, issuer: Org) -> dict[str, str]:
    response = client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def local(url: str) -> str:
    """The path of an absolute URL (the test client serves paths)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_home_is_chinese_for_a_browser_without_preference(app: Flask) -> None:
    page = zh_client(app).get("/").text
    assert '<html lang="zh-CN">' in page
    assert "查验票据" in page and "Verify a bill" not in page


def test_home_is_english_when_the_browser_prefers_it(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert '<html lang="en">' in page
    assert "Verify a bill" in page and "查验票据" not in page


def test_switch_sets_cookie_and_returns_to_the_local_page(app: Flask) -> None:
    browser = zh_client(app)
    response = browser.get("/lang/en?next=/verify")
    assert response.status_code == 302 and response.headers["Location"] == "/verify"
    assert "lang=en" in response.headers["Set-Cookie"]
    # The cookie wins over the browser's preference.
    assert "Verify a bill" in browser.get("/verify", headers={"Accept-Language": "zh-CN"}).text


def test_switch_never_redirects_off_site(app: Flask) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = zh_client(app).get("/lang/zh", query_string={"next": target})
        assert response.headers["Location"] == "/"


def test_switch_ignores_unknown_languages(app: Flask) -> None:
    response = zh_client(app).get("/lang/fr?next=/")
    assert "Set-Cookie" not in response.headers


def test_verify_page_shows_verdict_and_bill_labels_in_chinese(app: Flask, client: FlaskClient, issuer: Org) -> None:
    created = issue(client, issuer)
    page = zh_client(app).get(local(created["verify_url"])).text
    assert "教育收费票据" in page  # bill type name
    assert "票据代码" in page and "金额合计（大写）" in page and "贰仟玖佰伍拾元零贰分" in page
    assert "待上链" in page or "真实有效" in page  # verdict head, from the label mapping
    assert "Authentic" not in page and "Pending" not in page  # the domain sentence came from messages.ZH


def test_verify_page_in_english_keeps_the_capital_amount(app: Flask, client: FlaskClient, issuer: Org) -> None:
    created = issue(client, issuer)
    path = local(created["verify_url"])
    page = client.get(path).text
    assert "School fee bill" in page and "Total in words (大写)" in page and "贰仟玖佰伍拾元零贰分" in page


def test_json_api_messages_stay_english_whatever_the_language(client: FlaskClient, issuer: Org) -> None:
    created = issue(client, issuer)
    path = local(created["verify_url"])
    body = client.get(path, headers={"Accept": "application/json", "Accept-Language": "zh-CN"}).get_json()
    assert body["message"].startswith(messages.EN[body["message_key"]].split("{")[0])


def test_chinese_table_has_every_sentence_with_the_same_fields() -> None:
    assert set(messages.ZH) == set(messages.EN)
    for key, english in messages.EN.items():
        assert set(re.findall(r"{(\w+)}", messages.ZH[key])) == set(re.findall(r"{(\w+)}", english)), key


def test_every_msgid_has_a_chinese_translation_with_the_same_placeholders() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    assert not catalog.fuzzy
    ids = [m for m in catalog if m.id]
    assert len(ids) > 200
    for message in ids:
        assert message.string, f"untranslated: {message.id!r}"
        assert "fuzzy" not in message.flags, message.id
        fields = set(re.findall(r"%\((\w+)\)s", str(message.id)))
        assert set(re.findall(r"%\((\w+)\)s", str(message.string))) == fields, message.id
