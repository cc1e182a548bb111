"""Our sealed OFD read back by a reader we did not write: ofdkit (PyPI, Apache-2.0, standard library only).

ofdkit has its own zip and XML reading and its own GB/T 33190 text model (DocBody → DocRoot → Pages →
Content.xml, TextCode X/Y/DeltaX under each object's Boundary and CTM); it shares no code with
app/bills/ofd.py. It reads text and document metadata, not images, and checks no signature: so this
file proves that what we draw on the page is what a stranger's reader finds there, that a changed page
is read as changed (the reader is no rubber stamp), and that our seal check refuses that same file.

The QR check here decodes the image that the page's ImageObject names through DocumentRes
(ResourceID → MultiMedia → MediaFile), with zxing-cpp, and compares it with the URL that ofdkit reads
on the page. It is not a rendering: no Python OFD renderer small enough for `make test` draws our page
with its QR (ofd2img decodes the QR but draws no text and brings ~360 MB with PyMuPDF; ofd2png looks
for images only at Res/image_<ID>.png). The rendering check is tests/e2e/test_ofd_reader.py (npm ofd.js
1.5.0, which needs a licence key); npm ofd.js 0.2.6, the last open-source release (Apache-2.0), draws
our page in chromium with a QR that decodes, but it is not in package.json.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime

import ofdkit
import pytest
from eth_account.signers.local import LocalAccount

from app.bills import ofd, qr, seal
from app.bills.billfile import BillFile, issue_bill_file
from app.bills.errors import SealInvalidError
from app.bills.hashing import Domain
from app.bills.model import Bill, mask_id_number
from app.bills.money import fen_to_capital, format_fen

SIGNED_AT = datetime(2026, 12, 2, 21, 48, 31, tzinfo=UTC)
CONTENT = "Doc_0/Pages/Page_0/Content.xml"
NS = {"ofd": ofd.NS}


@pytest.fixture(scope="module")
def seal_key() -> seal.SealKey:
    return seal.generate_key()


@pytest.fixture
def bill_file(bill: Bill, domain: Domain, issuer_account: LocalAccount) -> BillFile:
    return issue_bill_file(bill, domain, issuer_account)


@pytest.fixture
def url(bill_file: BillFile) -> str:
    return qr.verify_url("https://bills.example.cn", bill_file.bill_ref, bill_file.content_hash)


@pytest.fixture
def sealed(bill_file: BillFile, url: str, seal_key: seal.SealKey) -> bytes:
    return ofd.render_ofd(bill_file, qr.render_png(url), seal_key, verify_url=url, signed_at=SIGNED_AT)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def repack(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def read_text(data: bytes) -> str:
    with ofdkit.open(data) as document:
        assert document.warnings == []
        return document.text()


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- what ofdkit finds


def test_ofdkit_reads_issuer_payer_number_and_total(sealed: bytes, bill_file: BillFile) -> None:
    bill = bill_file.bill
    text = read_text(sealed)
    found = lines(text)
    assert found[0] == f"{bill.issuer.name} 财政电子票据"
    assert f"票据代码: {bill.bill_code}" in text
    assert f"票据号码: {bill.bill_number}" in text
    assert bill.payer.id_number
    assert f"交款人: {bill.payer.name} ({mask_id_number(bill.payer.id_number)})" in found
    assert bill.payer.id_number not in text  # masked on the page (the attached bill file keeps it)
    total = format_fen(bill.total_fen)
    assert total == "2,685.18"
    assert any(re.fullmatch(rf"金额合计\(小写\)\s+¥{re.escape(total)}", line) for line in found), found
    assert any(line.endswith(fen_to_capital(bill.total_fen)) for line in found)
    assert any(line.startswith(f"收款单位(章): {bill.issuer.name}") for line in found)
    for item in bill.items:
        assert any(item.name in line and line.endswith(format_fen(item.amount_fen)) for line in found), item


def test_ofdkit_reads_the_document_info(sealed: bytes, bill_file: BillFile) -> None:
    bill = bill_file.bill
    with ofdkit.open(sealed) as document:
        info = document.info
        assert info.title == f"财政电子票据 {bill.bill_code}-{bill.bill_number}"
        assert info.author == bill.issuer.name
        assert info.subject == f"{bill.bill_code}-{bill.bill_number}"
        assert (info.creator, info.creator_version) == (ofd.PROVIDER_NAME, ofd.PROVIDER_VERSION)
        assert info.creation_date == "2026-12-03"  # 21:48 UTC is the next morning in Beijing
        assert len(document.pages) == 1
        page = document.pages[0]
        assert page.box == (0.0, 0.0, ofd.PAGE_WIDTH, ofd.PAGE_HEIGHT)
        # its own reading of Boundary, X and DeltaX puts every line inside the 15 mm margins, give or take
        # its guess for the last glyph (1 em wide or ½ em, where the font would say)
        for run in page.runs:
            assert run.x >= 15 and run.x + run.width <= ofd.PAGE_WIDTH - 15 + run.size / 2, run
            assert 0 < run.y < ofd.PAGE_HEIGHT, run


def test_the_qr_on_the_page_holds_the_url_ofdkit_reads_beside_it(sealed: bytes, url: str) -> None:
    text = read_text(sealed)
    hint = "".join(text.split("扫描二维码或访问以下网址查验:", 1)[1].split())  # the URL wraps over lines
    assert hint == url
    files = members(sealed)
    page = ET.fromstring(files[CONTENT])
    images = page.findall(".//ofd:ImageObject", NS)
    assert len(images) == 1
    resources = ET.fromstring(files["Doc_0/DocumentRes.xml"])
    media = {m.get("ID"): m for m in resources.iterfind(".//ofd:MultiMedia", NS)}[images[0].get("ResourceID")]
    location = media.findtext("ofd:MediaFile", namespaces=NS)
    assert (media.get("Type"), location) == ("Image", "qr.png")
    assert qr.decode_image(files[f"Doc_0/{resources.get('BaseLoc')}/{location}"]) == [url]


# ---------------------------------------------------------------- a changed page


def test_a_changed_page_is_read_as_changed_and_its_seal_is_refused(
    sealed: bytes, bill_file: BillFile, seal_key: seal.SealKey
) -> None:
    bill = bill_file.bill
    total = format_fen(bill.total_fen)
    files = members(sealed)
    content = files[CONTENT].decode("utf-8")
    assert content.count(f"¥{total}<") == 1 and content.count(f"交款人: {bill.payer.name} ") == 1
    files[CONTENT] = (
        content.replace(f"¥{total}<", "¥9,685.18<").replace(f"交款人: {bill.payer.name} ", "交款人: 赵六 ").encode()
    )
    tampered = repack(files)

    text = read_text(tampered)
    assert "¥9,685.18" in text and f"¥{total}" not in text
    assert "交款人: 赵六 (" in text and f"交款人: {bill.payer.name}" not in text
    with pytest.raises(SealInvalidError, match=re.escape(f"{CONTENT} was changed after sealing")):
        ofd.read_ofd(tampered, expected_public_key=seal_key.public_key_hex)
    # the untouched file still holds, so the refusal is for the change
    assert ofd.read_ofd(sealed, expected_public_key=seal_key.public_key_hex).bill_file == bill_file
