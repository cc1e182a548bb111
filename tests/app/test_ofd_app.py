"""OFD bills in the app: the SM2 seal key per issuer, downloads by role, and verification of OFD files.

Genuine, tampered and wrongly sealed OFD files go through the public verify page, `POST /api/v1/verify`
and `flask --app app bills verify FILE.ofd`; the answers must agree on the verdict and name the seal.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bills import ofd, qr, seal
from app.bills.billfile import BillFile
from app.bills.errors import SealInvalidError
from app.bills.hexstr import from_hex
from app.extensions import db
from app.models import Bill, BillStatus, Organisation
from app.services.visibility import normalise_contact

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
EASYOFD_PYTHON = os.environ.get("BILLCHAIN_EASYOFD_PYTHON", "/tmp/easyofd-venv/bin/python")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ofd"
"""Where the easyofd test keeps the OFD it read and the page it drew (ignored by git)."""


# ---------------------------------------------------------------- helpers


def issue(client: FlaskClient, issuer: Org, **overrides: Any) -> str:
    response = client.post("/api/v1/bills", json=bill_payload(**overrides), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]


def anchored(app: Flask, bill_id: str) -> None:
    wait_until(app, lambda: db.session.get(Bill, bill_id).status == BillStatus.ANCHORED)


def login(client: FlaskClient, org: Org) -> None:
    assert client.post("/login", data={"username": org.username, "password": org.password}).status_code == 302


def open_wallet(app: Flask, client: FlaskClient) -> None:
    app.extensions.pop("wallet_outbox", None)
    assert client.post("/wallet/login", data={"identity": ID_NUMBER, "contact": PHONE}).status_code == 302
    code = app.extensions["wallet_outbox"][normalise_contact(PHONE)]
    assert client.post("/wallet/code", data={"code": code}).headers["Location"].endswith("/wallet")


def organisation(app: Flask, org: Org) -> dict[str, Any]:
    with app.app_context():
        row = db.session.get(Organisation, org.id)
        assert row is not None
        return {"credit_code": row.credit_code, "seal_public_key": row.seal_public_key, "name": row.name}


def seal_file(app: Flask, org: Org) -> Path:
    return Path(app.config["BILLCHAIN_KEYSTORE_DIR"]) / f"seal-{org.address}.json"


def ofd_of(client: FlaskClient, issuer: Org, bill_id: str) -> bytes:
    response = client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=issuer.auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def repack(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def one_byte_changed(data: bytes) -> bytes:
    """The OFD with one byte of the page changed (an amount's digit), repacked as an editor would."""
    files = members(data)
    page = files["Doc_0/Pages/Page_0/Content.xml"]
    at = page.index(b"500.00")
    files["Doc_0/Pages/Page_0/Content.xml"] = page[:at] + b"9" + page[at + 1 :]
    return repack(files)


def verify_api(client: FlaskClient, data: bytes, name: str = "bill.ofd") -> Any:
    response = client.post(
        "/api/v1/verify", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    return response


def verify_page(client: FlaskClient, data: bytes, name: str = "bill.ofd") -> str:
    response = client.post("/verify", data={"bill_file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def verify_cli(app: Flask, data: bytes, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "bill.ofd"
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["bills", "verify", str(path), "--json"])
    return result.exit_code, json.loads(result.output)


# ---------------------------------------------------------------- the seal key


def test_onboarding_makes_an_encrypted_seal_key_and_publishes_it(app: Flask, client: FlaskClient, issuer: Org) -> None:
    org = organisation(app, issuer)
    path = seal_file(app, issuer)

    response = client.get(f"/api/v1/organisations/{org['credit_code']}/seal-key")

    assert response.status_code == 200
    body = response.get_json()
    assert body["algorithm"] == "SM2" and body["address"] == issuer.address and body["name"] == org["name"]
    assert body["public_key"] == org["seal_public_key"] and len(body["public_key"]) == 130
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["public_key"] == body["public_key"] and stored["crypto"]["cipher"] == "aes-256-gcm"
    key = seal.decrypt_private_key(path.read_text(), app.config["BILLCHAIN_KEYSTORE_PASSWORD"])
    assert key.private_key.hex() not in path.read_text()


def test_claimants_get_no_seal_key_and_unknown_codes_404(
    app: Flask, client: FlaskClient, claimant: Org, issuer: Org
) -> None:
    assert not seal_file(app, claimant).exists()
    code = organisation(app, claimant)["credit_code"]
    assert client.get(f"/api/v1/organisations/{code}/seal-key").get_json()["error"] == "organisation_not_found"
    assert client.get("/api/v1/organisations/91110000000000000X/seal-key").status_code == 404


def test_an_issuer_without_a_seal_key_gets_one_on_its_first_ofd(app: Flask, client: FlaskClient, issuer: Org) -> None:
    old_key = organisation(app, issuer)["seal_public_key"]
    seal_file(app, issuer).unlink()  # as if onboarded before seal keys existed
    app.extensions["billchain"].keystore.forget()
    with app.app_context():
        db.session.get(Organisation, issuer.id).seal_public_key = None
        db.session.commit()
    code = organisation(app, issuer)["credit_code"]
    assert client.get(f"/api/v1/organisations/{code}/seal-key").get_json()["error"] == "seal_key_not_published"
    bill_id = issue(client, issuer)

    sealed = ofd.read_ofd(ofd_of(client, issuer, bill_id))

    published = client.get(f"/api/v1/organisations/{code}/seal-key").get_json()["public_key"]
    assert sealed.sealed_by(published) and seal_file(app, issuer).exists() and published != old_key


def test_cli_seal_key_shows_the_published_key(app: Flask, issuer: Org) -> None:
    org = organisation(app, issuer)
    result = app.test_cli_runner().invoke(args=["orgs", "seal-key", org["credit_code"]])
    assert result.exit_code == 0, result.output
    assert org["seal_public_key"] in result.output


# ---------------------------------------------------------------- downloads by role


def test_issuer_downloads_a_sealed_ofd_from_the_page_and_the_api(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill_id = issue(client, issuer)
    published = organisation(app, issuer)["seal_public_key"]
    login(client, issuer)

    page = client.get(f"/bills/{bill_id}/bill.ofd")
    api = client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=issuer.auth)

    for response in (page, api):
        assert response.status_code == 200 and response.mimetype == "application/ofd"
        assert response.headers["Content-Disposition"].endswith('.ofd"')
        sealed = ofd.read_ofd(response.data, expected_public_key=published)
        with app.app_context():
            bill = db.session.get(Bill, bill_id)
            assert sealed.bill_file.content_hash.hex() == bill.content_hash.removeprefix("0x")
    assert f"/bills/{bill_id}/bill.ofd" in client.get(f"/bills/{bill_id}").get_data(as_text=True)


def test_claimants_and_other_issuers_get_no_ofd(
    app: Flask, client: FlaskClient, issuer: Org, claimant: Org, onboard: Any
) -> None:
    bill_id = issue(client, issuer)
    other = onboard("issuer")

    assert client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=claimant.auth).status_code == 403
    assert client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/bills/{bill_id}/bill.ofd").status_code == 401
    login(client, claimant)
    assert client.get(f"/bills/{bill_id}/bill.ofd").status_code == 403
    assert f"/bills/{bill_id}/bill.ofd" not in client.get(f"/bills/{bill_id}").get_data(as_text=True)


def test_payer_downloads_own_ofd_from_the_wallet(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill_id = issue(client, issuer)
    open_wallet(app, client)

    response = client.get(f"/wallet/bills/{bill_id}/bill.ofd")

    assert response.status_code == 200 and response.mimetype == "application/ofd"
    sealed = ofd.read_ofd(response.data, expected_public_key=organisation(app, issuer)["seal_public_key"])
    assert sealed.bill_file.bill.payer.id_number == ID_NUMBER
    assert f"/wallet/bills/{bill_id}/bill.ofd" in client.get(f"/wallet/bills/{bill_id}").get_data(as_text=True)


def test_missing_font_or_seal_key_answers_503_naming_it(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill_id = issue(client, issuer)
    app.config["BILLCHAIN_PDF_FONT"] = "/nonexistent/font.ttc"
    no_font = client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=issuer.auth)
    assert no_font.status_code == 503 and no_font.get_json()["error"] == "ofd_font_missing"
    assert "fonts-wqy-microhei" in no_font.get_json()["message"]

    app.config["BILLCHAIN_PDF_FONT"] = ofd.FONT_PATH
    seal_file(app, issuer).unlink()
    app.extensions["billchain"].keystore.forget()
    no_key = client.get(f"/api/v1/bills/{bill_id}/bill.ofd", headers=issuer.auth)
    assert no_key.status_code == 503 and no_key.get_json()["error"] == "seal_key_missing"
    assert f"seal-{issuer.address}.json" in no_key.get_json()["message"]


# ---------------------------------------------------------------- verification of OFD files


def test_a_genuine_ofd_verifies_as_authentic_on_page_api_and_cli(
    app: Flask, client: FlaskClient, issuer: Org, tmp_path: Path
) -> None:
    bill_id = issue(client, issuer)
    anchored(app, bill_id)
    data = ofd_of(client, issuer, bill_id)
    key = organisation(app, issuer)["seal_public_key"]

    api = verify_api(client, data).get_json()
    page = verify_page(client, data)
    code, cli = verify_cli(app, data, tmp_path)

    assert api["verdict"] == "authentic" and api["source"] == "ofd"
    assert api["checks"][0] == {**api["checks"][0], "name": "seal", "passed": True, "message_key": "seal.ok"}
    assert key in api["checks"][0]["detail"]
    assert 'data-verdict="authentic"' in page and 'id="seal"' in page and key in page
    assert code == 0 and cli["verdict"] == "authentic" and cli["checks"][0]["name"] == "seal"


def test_one_changed_byte_makes_the_ofd_tampered_everywhere(
    app: Flask, client: FlaskClient, issuer: Org, tmp_path: Path
) -> None:
    bill_id = issue(client, issuer)
    anchored(app, bill_id)
    changed = one_byte_changed(ofd_of(client, issuer, bill_id))
    with pytest.raises(SealInvalidError):
        ofd.read_ofd(changed)

    api = verify_api(client, changed).get_json()
    page = verify_page(client, changed)
    code, cli = verify_cli(app, changed, tmp_path)

    assert api["verdict"] == "tampered" and api["failed_check"] == "seal"
    assert "Content.xml was changed after sealing" in api["message"]
    assert 'data-verdict="tampered"' in page and "Content.xml was changed after sealing" in page
    assert code == 1 and cli["verdict"] == "tampered" and cli["failed_check"] == "seal"


def test_a_flipped_byte_inside_the_package_is_tampered_not_a_crash(
    app: Flask, client: FlaskClient, issuer: Org
) -> None:
    data = bytearray(ofd_of(client, issuer, issue(client, issuer)))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("Doc_0/Pages/Page_0/Content.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01

    response = verify_api(client, bytes(data))

    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "tampered" and body["failed_check"] == "seal"
    assert "Content.xml" in body["message"]


def test_an_ofd_sealed_with_another_key_is_refused_naming_the_published_key(
    app: Flask, client: FlaskClient, issuer: Org, tmp_path: Path
) -> None:
    bill_id = issue(client, issuer)
    anchored(app, bill_id)
    genuine = ofd.read_ofd(ofd_of(client, issuer, bill_id))
    forged = reseal(genuine.bill_file, seal.SealKey.generate())
    published = organisation(app, issuer)["seal_public_key"]

    api = verify_api(client, forged).get_json()
    page = verify_page(client, forged)
    code, cli = verify_cli(app, forged, tmp_path)

    assert api["verdict"] == "signature_invalid" and api["failed_check"] == "seal"
    assert published in api["message"] and "not sealed by the issuer" in api["message"]
    assert 'data-verdict="signature_invalid"' in page
    assert code == 1 and cli["verdict"] == "signature_invalid"


def test_an_ofd_of_an_issuer_this_platform_has_no_key_for_says_so(app: Flask, client: FlaskClient, issuer: Org) -> None:
    bill_id = issue(client, issuer)
    anchored(app, bill_id)
    data = ofd_of(client, issuer, bill_id)
    with app.app_context():  # as for a bill of another platform: no seal key published here
        db.session.get(Organisation, issuer.id).seal_public_key = None
        db.session.commit()

    body = verify_api(client, data).get_json()

    assert body["checks"][0]["message_key"] == "seal.unpublished"
    assert any("publishes no seal key" in note for note in body["notes"])
    assert body["verdict"] == "authentic"  # the chain checks of the bill file inside still hold


def test_a_zip_that_is_not_an_ofd_is_a_clear_422(client: FlaskClient) -> None:
    response = verify_api(client, repack({"word/document.xml": b"<w/>"}), "report.docx")
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_ofd" and response.get_json()["field"] == "file"


def test_a_dot_ofd_that_is_no_zip_is_refused_on_the_page(client: FlaskClient) -> None:
    response = client.post(
        "/verify", data={"bill_file": (io.BytesIO(b"hello"), "x.ofd")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400 and "not an OFD package" in response.get_data(as_text=True)


def reseal(bill_file: BillFile, key: seal.SealKey) -> bytes:
    url = qr.verify_url("http://127.0.0.1:5000", bill_file.bill_ref, bill_file.content_hash)
    return ofd.render_ofd(bill_file, qr.render_png(url), key, verify_url=url)


# ---------------------------------------------------------------- a reader we did not write


@pytest.mark.skipif(
    not os.path.exists(EASYOFD_PYTHON),
    reason="easyofd is test-only and heavy (PyMuPDF, onnxruntime: ~385 MB): set BILLCHAIN_EASYOFD_PYTHON to a "
    "python with `easyofd==20260427` installed",
)
def test_easyofd_renders_our_ofd_and_its_qr_code_decodes(
    app: Flask, client: FlaskClient, issuer: Org, tmp_path: Path
) -> None:
    import zxingcpp
    from PIL import Image

    bill_id = issue(client, issuer)
    data = ofd_of(client, issuer, bill_id)
    with app.app_context():
        bill = db.session.scalar(select(Bill).where(Bill.id == bill_id))
        expected = qr.verify_url(app.config["BILLCHAIN_BASE_URL"], from_hex(bill.bill_ref), from_hex(bill.content_hash))
    # easyofd 20260427 reads only Type="Seal" signatures with a stamp (StampAnnot): it fails on a plain
    # Type="Sign" signature, so it gets the page without the Signs folder (the seal is ours to check).
    files = {name: content for name, content in members(data).items() if "/Signs/" not in name}
    files["OFD.xml"] = files["OFD.xml"].replace(b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>", b"")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bill-sealed.ofd").write_bytes(data)
    source, image = tmp_path / "unsigned.ofd", ARTIFACTS / "easyofd-page.png"
    source.write_bytes(repack(files))
    script = (
        "import base64, sys\n"
        "from easyofd import OFD\n"
        "o = OFD()\n"
        "o.read(base64.b64encode(open(sys.argv[1], 'rb').read()).decode(), save_xml=False, xml_name='x')\n"
        "o.to_jpg()[0].save(sys.argv[2])\n"
    )
    subprocess.run(
        [EASYOFD_PYTHON, "-c", script, str(source), str(image)], check=True, capture_output=True, timeout=300
    )

    decoded = [result.text for result in zxingcpp.read_barcodes(Image.open(image).convert("L"))]

    assert decoded == [expected]
