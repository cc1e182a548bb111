"""Issue 13, part A: bounded parsing and the small holes, each tried as an attacker would.

Open redirects, body limits by endpoint, query parameters, a photo bomb, an XLSX that declares a
million rows, exponent quantities, secret files, login timing (counted in hash calls, never timed),
RPC credentials in answers and logs, and the payer's contact on the public verify page.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appkit import Org, bill_payload, make_config, wait_until
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from PIL import Image

import app.models
import app.web.auth
from app import create_app
from app.config import _instance_secret
from app.extensions import db
from app.keys import Keystore
from app.models import Bill
from app.services.imports import MAX_COLUMNS, ImportFileError, read_rows, row_payload
from app.web.security import safe_next
from dev import run as dev_run

ROW = {
    "payer_name": "张三",
    "item1_code": "001",
    "item1_name": "学费",
    "item1_unit": "学期",
    "item1_unit_price_yuan": "2500.00",
    "handler": "李四",
    "checker": "王五",
}


def login(client: FlaskClient, username: str, password: str = "pw", next_: str | None = None) -> Any:
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data={"username": username, "password": password})


# ---------------------------------------------------------------- open redirects


EVIL = [
    "/%09/evil.example",  # the finding: a tab the browser drops, leaving //evil.example
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%00/evil.example",
    "/%20/evil.example",
    "//evil.example",
    "/%5Cevil.example",  # /\evil.example: browsers read the backslash as a slash
    "%5C%5Cevil.example",
    "https://evil.example/",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.mark.parametrize("target", EVIL)
def test_safe_next_refuses_every_way_off_site(target: str) -> None:
    from urllib.parse import unquote

    assert safe_next(unquote(target), "/home") == "/home"


@pytest.mark.parametrize("target", ["/verify", "/bills/abc?tab=file", "/wallet#bills", "/"])
def test_safe_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target, "/home") == target


def test_language_switch_does_not_redirect_to_another_host(client: FlaskClient) -> None:
    for target in EVIL:
        response = client.get(f"/lang/en?next={target}")
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target
    assert client.get("/lang/en?next=/verify").headers["Location"] == "/verify"


def test_login_next_does_not_redirect_to_another_host(client: FlaskClient, issuer: Org) -> None:
    for target in ("/%09/evil.example", "/%5Cevil.example", "/%5C/evil.example", "https://evil.example"):
        response = login(client, issuer.username, next_=target)
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target
    assert login(client, issuer.username, next_="/issue").headers["Location"] == "/issue"


# ---------------------------------------------------------------- login timing


def test_unknown_and_known_usernames_cost_one_password_hash_each(
    client: FlaskClient, issuer: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = app.models.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(app.models, "check_password_hash", counting)
    monkeypatch.setattr(app.web.auth, "check_password_hash", counting)

    login(client, issuer.username, "wrong-password")
    known = list(calls)
    calls.clear()
    response = login(client, "nobody-of-that-name", "wrong-password")
    unknown = list(calls)

    assert response.status_code == 200 and "Wrong username or password" in response.text
    assert len(known) == len(unknown) == 1
    assert known == unknown  # the same hash method (and cost) either way


# ---------------------------------------------------------------- query parameters


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1001", "1e3", "١٢", "99999999999999999999"])
def test_bill_list_limit_out_of_bounds_is_422_naming_limit(client: FlaskClient, issuer: Org, value: str) -> None:
    response = client.get("/api/v1/bills", query_string={"limit": value}, headers=issuer.auth)
    assert response.status_code == 422, response.text
    assert response.json["field"] == "limit"
    assert "limit must be a whole number from 1 to 1000" in response.json["message"]


def test_bill_list_limit_bounds_the_answer(client: FlaskClient, issuer: Org) -> None:
    for _ in range(3):
        assert client.post("/api/v1/bills", json=bill_payload(), headers=issuer.auth).status_code == 201
    response = client.get("/api/v1/bills?limit=2", headers=issuer.auth)
    assert response.status_code == 200
    assert len(response.json) == 2
    assert len(client.get("/api/v1/bills", headers=issuer.auth).json) == 3


@pytest.mark.parametrize("path", ["/finance", "/finance/export.csv"])
@pytest.mark.parametrize("value", ["abc", "-5", "0", "367", "9" * 30])
def test_finance_days_out_of_bounds_is_422_naming_days(client: FlaskClient, path: str, value: str) -> None:
    assert login(client, "finance", "finance-pass").status_code == 302
    response = client.get(path, query_string={"days": value}, headers={"Accept": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json["field"] == "days"
    assert "days must be a whole number from 1 to 366" in response.json["message"]


def test_finance_days_within_bounds_still_work(client: FlaskClient) -> None:
    assert login(client, "finance", "finance-pass").status_code == 302
    assert client.get("/finance?days=7").status_code == 200
    assert client.get("/finance/export.csv?days=366").status_code == 200


# ---------------------------------------------------------------- body limits


def test_json_api_body_over_2_mb_is_413_before_parsing(client: FlaskClient, issuer: Org) -> None:
    body = b'{"claim_ref": "' + b"x" * (2 * 2**20) + b'"}'
    response = client.post("/api/v1/bills/0123/claim", data=body, content_type="application/json", headers=issuer.auth)
    assert response.status_code == 413
    assert response.json["error"] == "too_large"
    assert "at most 2.0 MB (2097152 bytes)" in response.json["message"]


def test_bulk_issue_has_its_own_limit_sized_for_max_bulk(client: FlaskClient, issuer: Org) -> None:
    """Bulk issue takes 1000 bills × 8 KB: 3 MB passes (over the 2 MB of other JSON), 9 MB does not."""
    many = json.dumps([bill_payload()] * 1001).encode()
    response = client.post("/api/v1/bills", data=many, content_type="application/json", headers=issuer.auth)
    assert response.status_code == 413
    assert response.json["error"] == "too_many_bills"
    padded = b"[" + b" " * (3 * 2**20) + json.dumps(bill_payload()).encode() + b"]"
    response = client.post("/api/v1/bills", data=padded, content_type="application/json", headers=issuer.auth)
    assert response.status_code == 201, response.text
    huge = b"[" + b" " * (9 * 2**20) + b"]"
    response = client.post("/api/v1/bills", data=huge, content_type="application/json", headers=issuer.auth)
    assert response.status_code == 413
    assert "at most 7.8 MB (8192000 bytes)" in response.json["message"]


def test_photo_upload_over_8_mb_is_413(client: FlaskClient) -> None:
    photo = (io.BytesIO(b"\xff\xd8" + b"\0" * (8 * 2**20 + 10)), "photo.jpg")
    response = client.post("/api/v1/verify", data={"photo": photo}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "at most 8.0 MB" in response.json["message"]


def test_a_body_without_content_length_is_cut_at_the_limit(client: FlaskClient) -> None:
    """A chunked upload has no Content-Length; Werkzeug stops reading at the endpoint's limit."""
    body = io.BytesIO(b'{"url": "' + b"x" * (3 * 2**20) + b'"}')
    response = client.post(
        "/api/v1/bills/0123/void",
        input_stream=body,
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "2097152 bytes" in response.json["message"]


# ---------------------------------------------------------------- photo bomb


def blank_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (side, side), 1).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize("path", ["/api/v1/verify", "/verify"])
def test_photo_bomb_is_413_naming_photo(client: FlaskClient, path: str) -> None:
    data = {"photo": (io.BytesIO(blank_png(9400)), "bomb.png")}
    response = client.post(path, data=data, content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json["error"] == "photo_too_large"
    assert response.json["field"] == "photo"
    assert "9400 × 9400" in response.json["message"]


def test_unreadable_photo_is_422_naming_photo(client: FlaskClient) -> None:
    data = {"photo": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 100), "broken.png")}
    response = client.post("/api/v1/verify", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.json["field"] == "photo"


# ---------------------------------------------------------------- import bounds


def xlsx_with_far_cell(rows: list[list[str]], far_row: int, far_col: str = "XFD") -> bytes:
    """An XLSX whose sheet declares A1:{far_col}{far_row} and really holds a cell there."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<dimension ref="') + len('<dimension ref="')
                end = text.index('"', start)
                text = text[:start] + f"A1:{far_col}{far_row}" + text[end:]
                far = f'<row r="{far_row}"><c r="{far_col}{far_row}" t="inlineStr"><is><t>x</t></is></c></row>'
                text = text.replace("</sheetData>", far + "</sheetData>")
                data = text.encode()
            target.writestr(item, data)
    return out.getvalue()


def test_xlsx_declaring_the_whole_sheet_is_read_within_bounds() -> None:
    """A1:XFD1048576 with a real cell in XFD1048576: at most max_rows + 2 rows of MAX_COLUMNS cells are read."""
    header = list(ROW)
    data = xlsx_with_far_cell([header, list(ROW.values())], 1_048_576)

    rows = read_rows(data, "bills.xlsx", max_rows=100)

    assert rows == [(2, dict(ROW))]


def test_xlsx_with_more_rows_than_allowed_is_refused_naming_the_setting() -> None:
    header = list(ROW)
    data = xlsx_with_far_cell([header] + [list(ROW.values())] * 6, 7, "A")
    with pytest.raises(ImportFileError, match="at most 5 bills in one file \\(BILLCHAIN_IMPORT_MAX_ROWS\\)"):
        read_rows(data, "bills.xlsx", max_rows=5)


def test_csv_with_more_rows_than_allowed_is_refused() -> None:
    lines = [",".join(ROW)] + [",".join(ROW.values())] * 6
    with pytest.raises(ImportFileError, match="at most 5 bills"):
        read_rows("\n".join(lines).encode(), "bills.csv", max_rows=5)


def test_csv_row_with_thousands_of_columns_is_cut_to_the_known_ones() -> None:
    lines = [",".join(ROW), ",".join(ROW.values()) + "," * 50_000]
    rows = read_rows("\n".join(lines).encode(), "bills.csv")
    assert rows == [(2, dict(ROW))]
    assert MAX_COLUMNS < 50


@pytest.mark.parametrize("quantity", ["1E+999000", "1e5000", "Infinity", "NaN", "1_000", " 2 3"])
def test_exponent_quantity_is_a_cell_error_not_a_frozen_process(quantity: str) -> None:
    _, errors = row_payload(2, dict(ROW, item1_quantity=quantity))
    assert [(e.row, e.column) for e in errors] == [(2, "item1_quantity")]
    assert "not a plain decimal" in errors[0].message


def test_amount_text_of_a_hundred_thousand_digits_is_refused_unparsed() -> None:
    _, errors = row_payload(2, dict(ROW, item1_unit_price_yuan="9" * 100_000))
    assert [(e.row, e.column) for e in errors] == [(2, "item1_unit_price_yuan")]
    assert "100000 characters" in errors[0].message


def test_import_job_with_exponent_quantity_fails_naming_row_and_column(app: Flask, issuer: Org) -> None:
    from app.models import Organisation
    from app.services.imports import create_job, run_job

    text = ",".join([*ROW, "item1_quantity"]) + "\n" + ",".join([*ROW.values(), "1E+5000"]) + "\n"
    with app.app_context():
        job = create_job(db.session.get(Organisation, issuer.id), "bills.csv", "test")
        done = run_job(job.id, text.encode())
        assert done.status == "failed"
        assert done.errors == ["row 2, column item1_quantity: not a plain decimal such as 2 or 1.5: '1E+5000'"]


def test_issue_form_with_exponent_quantity_names_the_field(client: FlaskClient, issuer: Org) -> None:
    assert login(client, issuer.username).status_code == 302
    form = {
        "bill_type": "school_fee",
        "payer_kind": "person",
        "payer_name": "张三",
        "contact_phone": "13800138000",
        "items-0-code": "001",
        "items-0-name": "学费",
        "items-0-unit": "学期",
        "items-0-quantity": "1E+5000",
        "items-0-unit_price": "2500.00",
        "handler": "李四",
        "checker": "王五",
    }
    response = client.post("/issue", data=form)
    assert response.status_code in (200, 422), response.text
    assert "with at most 6 decimals" in response.text


# ---------------------------------------------------------------- secret files


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A file must be 0600 from its creation: a chmod afterwards (a moment of 0644) does not count."""
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    monkeypatch.setattr(os, "chmod", lambda path, mode, **kw: None)
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dev_secret_is_created_owner_only(tmp_path: Path, no_chmod: None) -> None:
    secret = dev_run._dev_secret(tmp_path, "keystore-password")
    assert mode_of(tmp_path / "keystore-password") == 0o600
    assert dev_run._dev_secret(tmp_path, "keystore-password") == secret


def test_instance_secret_key_is_created_owner_only(tmp_path: Path, no_chmod: None) -> None:
    secret = _instance_secret(tmp_path)
    assert mode_of(tmp_path / "secret_key") == 0o600
    assert _instance_secret(tmp_path) == secret


def test_demo_logins_file_is_created_owner_only(tmp_path: Path, no_chmod: None) -> None:
    (tmp_path / "demo-logins.txt").write_text("old")
    dev_run._print_logins(tmp_path, ("finance", "pw"), [])
    assert mode_of(tmp_path / "demo-logins.txt") == 0o600
    assert "login finance / pw" in (tmp_path / "demo-logins.txt").read_text()


def test_keystore_files_are_created_owner_only(tmp_path: Path, no_chmod: None) -> None:
    store = Keystore(tmp_path / "keystore", kdf_n=2**4)
    address = store.create("pw")
    assert mode_of(tmp_path / "keystore" / f"{address}.json") == 0o600
    assert mode_of(tmp_path / "keystore") == 0o700


# ---------------------------------------------------------------- RPC credentials


SECRETS = ("s3cret-pass", "node-user", "topsecretapikey", "0123456789abcdef0123456789abcdef")
LEAKY_RPC = "http://node-user:s3cret-pass@127.0.0.1:9/v3/0123456789abcdef0123456789abcdef?apikey=topsecretapikey"


@pytest.fixture
def leaky_app(anvil: Any, deployment: Any, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app pointed at a node URL full of credentials, on a port where nothing listens."""
    from app.services.provisioning import upgrade_database

    config = make_config(anvil, deployment, database_url, tmp_path)
    config["BILLCHAIN_RPC_URL"] = LEAKY_RPC
    leaky = create_app(config)
    with leaky.app_context():
        upgrade_database()
    yield leaky
    with leaky.app_context():
        db.session.remove()
        db.engine.dispose()


def test_rpc_credentials_never_reach_answers_or_logs(leaky_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = leaky_app.test_client()
    with caplog.at_level(logging.DEBUG):
        health = client.get("/api/v1/health")
        tx = client.get("/chain/tx/0x" + "ab" * 32, headers={"Accept": "application/json"})
        page = client.get("/chain/tx/0x" + "ab" * 32, headers={"Accept": "text/html"})

    assert health.status_code == 200 and health.json["chain"]["reachable"] is False
    assert "http://***@127.0.0.1:9/v3/***?apikey=***" in health.json["chain"]["message"]
    assert tx.status_code == 503 and tx.json["error"] == "chain_unavailable"
    assert page.status_code == 503
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for secret in SECRETS:
        for where, text in (("health", health.text), ("503", tx.text), ("page", page.text), ("logs", logged)):
            assert secret not in text, (secret, where)


# ---------------------------------------------------------------- what the verify page shows


def test_verify_page_and_json_show_no_payer_contact(client: FlaskClient, issuer: Org, app: Flask) -> None:
    payload = bill_payload(contact={"phone": "13912345678", "email": "zhang.san@example.cn"})
    created = client.post("/api/v1/bills", json=payload, headers=issuer.auth).json
    wait_until(app, lambda: db.session.get(Bill, created["id"]).status == "anchored")
    path = created["verify_url"].split("://", 1)[1].split("/", 1)[1]

    page = client.get(f"/{path}", headers={"Accept": "text/html"})
    answer = client.get(f"/{path}", headers={"Accept": "application/json"})

    assert page.status_code == answer.status_code == 200
    assert answer.json["verdict"] == "authentic"
    assert "张三" in page.text and "1101**********002X" in page.text
    bill = answer.json["bill"]
    assert bill["payer"] == {"kind": "person", "name": "张三", "id_number": "1101**********002X"}
    assert "contact" not in bill
    for shown in (page.text, answer.text):
        for fragment in ("13912345678", "139****5678", "zhang.san", "z***@example.cn"):
            assert fragment not in shown, fragment
