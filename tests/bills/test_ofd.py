"""The sealed OFD rendition: round trip, tamper evidence, wrong keys, and the bounds for strangers' files."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from eth_account.signers.local import LocalAccount

from app.bills import ofd, qr, seal
from app.bills.billfile import BillFile, issue_bill_file
from app.bills.errors import BillValidationError, OfdError, OfdLimitError, SealInvalidError
from app.bills.hashing import Domain
from app.bills.model import Bill

SIGNED_AT = datetime(2026, 12, 2, 21, 48, 31, tzinfo=UTC)
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


def repack(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def edited(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    files = members(data)
    files[name] = change(files[name])
    return repack(files)


def page_texts(data: bytes) -> list[str]:
    root = ET.fromstring(members(data)["Doc_0/Pages/Page_0/Content.xml"])
    return [code.text or "" for code in root.iterfind(".//ofd:TextCode", NS)]


# ---------------------------------------------------------------- what is written


def test_package_has_the_gbt_33190_parts(sealed: bytes) -> None:
    names = set(members(sealed))
    assert {
        "OFD.xml",
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/Pages/Page_0/Content.xml",
        "Doc_0/Attachs/Attachments.xml",
        "Doc_0/Signs/Signatures.xml",
        "Doc_0/Signs/Sign_0/Signature.xml",
        "Doc_0/Signs/Sign_0/SignedValue.dat",
    } <= names


def test_page_shows_the_print_view_fields_in_beijing_time(sealed: bytes, bill_file: BillFile, url: str) -> None:
    texts = page_texts(sealed)
    joined = "\n".join(texts)
    bill = bill_file.bill
    assert f"{bill.issuer.name} 财政电子票据" in texts
    assert "票据代码: 11010125" in texts and "票据号码: 0000000001" in texts
    assert f"校验码: {bill.check_code}" in texts
    assert "开票日期: 2025-03-01 08:30:00" in texts  # issued 2025-03-01T08:30:00+08:00, stored as 00:30Z
    assert "交款人: 张三 (1101**********" in joined and bill.payer.id_number not in joined
    assert {"学费", "住宿费", "2,500.00", "185.18"} <= set(texts)
    assert "贰仟陆佰捌拾伍元壹角捌分" in texts and "¥2,685.18" in texts
    assert "收款人: 李四" in texts and "复核人: 王五" in texts
    assert url.replace(" ", "") in joined.replace("\n", "").replace(" ", "")


def test_qr_image_sits_top_right_and_font_is_named_in_public_res(sealed: bytes) -> None:
    files = members(sealed)
    page = ET.fromstring(files["Doc_0/Pages/Page_0/Content.xml"])
    image = page.find(".//ofd:ImageObject", NS)
    assert image is not None
    x, y, w, h = (float(v) for v in image.get("Boundary", "").split())
    assert x + w == pytest.approx(195) and y < 20 and w == h == 32
    fonts = ET.fromstring(files["Doc_0/PublicRes.xml"]).findall(".//ofd:Font", NS)
    assert [f.get("FontName") for f in fonts] == ["WenQuanYi Micro Hei"]
    assert files["Doc_0/Res/qr.png"].startswith(b"\x89PNG")


def test_references_carry_base64_sm3_of_every_sealed_file(sealed: bytes) -> None:
    files = members(sealed)
    signature = ET.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    references = signature.find(".//ofd:References", NS)
    assert references is not None and references.get("CheckMethod") == seal.OID_SM3
    listed = {}
    for reference in references.iterfind("ofd:Reference", NS):
        value = reference.findtext("ofd:CheckValue", namespaces=NS) or ""
        listed[reference.get("FileRef", "").lstrip("/")] = base64.b64decode(value)
    unsigned = {"Doc_0/Signs/Signatures.xml", "Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_0/SignedValue.dat"}
    assert set(listed) == set(files) - unsigned
    assert all(seal.sm3(files[name]) == digest for name, digest in listed.items())


def test_signed_value_is_sm2_over_signature_xml(sealed: bytes, seal_key: seal.SealKey) -> None:
    files = members(sealed)
    assert seal.verify(
        seal_key.public_key, files["Doc_0/Signs/Sign_0/Signature.xml"], files["Doc_0/Signs/Sign_0/SignedValue.dat"]
    )


# ---------------------------------------------------------------- reading back


def test_round_trip_gives_the_same_bill_file(sealed: bytes, bill_file: BillFile, seal_key: seal.SealKey) -> None:
    result = ofd.read_ofd(sealed)
    assert result.bill_file == bill_file
    assert result.public_key == seal_key.public_key
    assert result.sealed_by(seal_key.public_key_hex)
    assert result.signed_at == SIGNED_AT
    assert result.provider == "Billchain"


def test_read_accepts_the_published_key(sealed: bytes, bill_file: BillFile, seal_key: seal.SealKey) -> None:
    assert ofd.read_ofd(sealed, expected_public_key=seal_key.public_key_hex).bill_file == bill_file


def test_read_refuses_a_seal_by_another_key(sealed: bytes) -> None:
    stranger = seal.generate_key()
    with pytest.raises(SealInvalidError, match="not the organisation's published key"):
        ofd.read_ofd(sealed, expected_public_key=stranger.public_key_hex)
    assert not ofd.read_ofd(sealed).sealed_by(stranger.public_key)


def test_one_byte_changed_in_content_xml_is_caught(sealed: bytes) -> None:
    tampered = edited(
        sealed, "Doc_0/Pages/Page_0/Content.xml", lambda b: b.replace("张三".encode(), "张王".encode(), 1)
    )
    with pytest.raises(SealInvalidError, match=re.escape("Doc_0/Pages/Page_0/Content.xml was changed after sealing")):
        ofd.read_ofd(tampered)


def test_one_byte_changed_in_the_embedded_bill_file_is_caught(sealed: bytes) -> None:
    name = "Doc_0/Attachs/bill-11010125-0000000001.json"
    tampered = edited(sealed, name, lambda b: b.replace(b'"total_fen": 268518', b'"total_fen": 268519'))
    assert tampered != sealed
    with pytest.raises(SealInvalidError, match=re.escape(f"{name} was changed after sealing")):
        ofd.read_ofd(tampered)


def test_re_digested_references_without_a_new_signature_are_caught(sealed: bytes) -> None:
    files = members(sealed)
    page = "Doc_0/Pages/Page_0/Content.xml"
    old = base64.b64encode(seal.sm3(files[page]))
    files[page] = files[page].replace("张三".encode(), "李四".encode(), 1)
    signature = "Doc_0/Signs/Sign_0/Signature.xml"
    files[signature] = files[signature].replace(old, base64.b64encode(seal.sm3(files[page])))
    with pytest.raises(SealInvalidError, match=re.escape("SM2 signature over Signature.xml does not verify")):
        ofd.read_ofd(repack(files))


def test_re_sealed_with_a_strangers_key_is_told_apart(bill_file: BillFile, url: str, seal_key: seal.SealKey) -> None:
    forged = ofd.render_ofd(bill_file, qr.render_png(url), seal.generate_key(), signed_at=SIGNED_AT)
    assert not ofd.read_ofd(forged).sealed_by(seal_key.public_key)


def test_an_added_unsealed_file_is_refused(sealed: bytes) -> None:
    files = members(sealed)
    files["Doc_0/Attachs/extra.json"] = b"{}"
    with pytest.raises(SealInvalidError, match=re.escape("extra.json is not covered by the seal")):
        ofd.read_ofd(repack(files))


def test_a_removed_sealed_file_is_refused(sealed: bytes) -> None:
    files = members(sealed)
    del files["Doc_0/Res/qr.png"]
    with pytest.raises(SealInvalidError, match=re.escape("qr.png is sealed but missing")):
        ofd.read_ofd(repack(files))


def test_an_unsealed_ofd_is_refused(sealed: bytes) -> None:
    files = members(sealed)
    files["OFD.xml"] = files["OFD.xml"].replace(b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>", b"")
    with pytest.raises(SealInvalidError, match="no signature"):
        ofd.read_ofd(repack(files))


def test_a_malformed_bill_file_is_reported_as_bill_errors(bill_file: BillFile, seal_key: seal.SealKey) -> None:
    class Broken(BillFile):
        def to_json(self, *, indent: int | None = 2) -> str:
            return '{"version": "nope"}'

    broken = Broken(**{f: getattr(bill_file, f) for f in bill_file.__dataclass_fields__})
    data = ofd.render_ofd(broken, qr.render_png("https://bills.example.cn/v/x"), seal_key)
    with pytest.raises(BillValidationError):
        ofd.read_ofd(data)


def test_not_a_zip_is_an_ofd_error() -> None:
    with pytest.raises(OfdError, match="not an OFD package"):
        ofd.read_ofd(b"%PDF-1.7 not an ofd")


# ---------------------------------------------------------------- bounds


def test_too_many_members_is_refused(sealed: bytes) -> None:
    files = members(sealed)
    files.update({f"Doc_0/Res/pad_{i}.txt": b"x" for i in range(ofd.DEFAULT_LIMITS.max_members)})
    with pytest.raises(OfdLimitError, match="members; at most 64"):
        ofd.read_ofd(repack(files))


def test_zip_bomb_ratio_is_refused() -> None:
    bomb = repack({"OFD.xml": b"<a/>", "Doc_0/Res/bomb.bin": bytes(1_500_000)})
    assert len(bomb) < 10_000
    with pytest.raises(OfdLimitError, match="zip bomb"):
        ofd.read_ofd(bomb)


def test_member_over_the_size_limit_is_refused() -> None:
    big = repack({"Doc_0/Res/big.bin": bytes(3 * 1024 * 1024)}, compression=zipfile.ZIP_STORED)
    limits = ofd.OfdLimits(max_archive_bytes=8 * 1024 * 1024)
    with pytest.raises(OfdLimitError, match="per member"):
        ofd.read_ofd(big, limits=limits)


def test_total_over_the_size_limit_is_refused() -> None:
    files = {f"Doc_0/Res/{i}.bin": bytes(range(256)) * 1024 for i in range(4)}  # 256 KiB each, stored
    limits = ofd.OfdLimits(max_total_bytes=512 * 1024, max_archive_bytes=4 * 1024 * 1024)
    with pytest.raises(OfdLimitError, match="in total"):
        ofd.read_ofd(repack(files, compression=zipfile.ZIP_STORED), limits=limits)


def test_header_that_understates_the_size_is_capped_while_streaming() -> None:
    data = bytearray(repack({"Doc_0/Res/liar.bin": bytes(200_000)}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.infolist()[0]
    # Patch the central directory's uncompressed size to 10 bytes; the stream still inflates to 200 kB.
    central = bytes(data).rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    assert info.file_size == 200_000
    # zipfile stops inflating at the header's size and the CRC then fails; the streaming cap backs it up.
    with pytest.raises(OfdError, match=re.escape("liar.bin cannot be read: Bad CRC")):
        ofd.read_ofd(bytes(data), limits=ofd.OfdLimits(max_member_bytes=100_000))


def test_archive_over_the_size_limit_is_refused_unread() -> None:
    with pytest.raises(OfdLimitError, match="bytes; at most 1000"):
        ofd.read_ofd(b"PK" + bytes(2000), limits=ofd.OfdLimits(max_archive_bytes=1000))


@pytest.mark.parametrize("name", ["../evil.xml", "/etc/passwd", "Doc_0/../../evil", "C:/evil", "Doc_0\\evil.xml"])
def test_unsafe_member_paths_are_refused(name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("OFD.xml"), b"<a/>")
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo() normalises some names; the attacker's zip would not
        archive.writestr(info, b"x")
    with pytest.raises(OfdLimitError, match="unsafe path"):
        ofd.read_ofd(buffer.getvalue())


def test_duplicate_member_names_are_refused(sealed: bytes) -> None:
    buffer = io.BytesIO(sealed)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("OFD.xml", b"<a/>")
    with pytest.raises(OfdLimitError, match="appears twice"):
        ofd.read_ofd(buffer.getvalue())


def test_location_escaping_the_package_is_refused(sealed: bytes) -> None:
    files = members(sealed)
    files["OFD.xml"] = files["OFD.xml"].replace(b"<ofd:DocRoot>Doc_0/Document.xml", b"<ofd:DocRoot>../Document.xml")
    with pytest.raises(OfdLimitError, match="outside the package"):
        ofd.read_ofd(repack(files))


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>',
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
        b'<!DOCTYPE r><r xmlns:ofd="http://www.ofdspec.org/2016"/>',
    ],
)
def test_xml_with_a_dtd_or_entities_is_refused(xml: bytes) -> None:
    with pytest.raises(OfdLimitError, match="DTD or entities"):
        ofd.read_ofd(repack({"OFD.xml": xml}))
