"""A bill as an OFD file (GB/T 33190) sealed with the issuing unit's SM2 key, and reading one back safely.

The package (a zip) holds what the print view and the PDF show, drawn as OFD objects on one A4 page
(TextObjects, the QR code as an ImageObject top right, table rules as PathObjects), the bill file JSON as
an OFD attachment so that the bill can be read back and verified against the chain, and one signature::

    OFD.xml                                   DocInfo, DocRoot, Signatures
    Doc_0/Document.xml                        page area, PublicRes, DocumentRes, Pages, Attachments
    Doc_0/PublicRes.xml                       the font, by name ("WenQuanYi Micro Hei")
    Doc_0/DocumentRes.xml, Doc_0/Res/qr.png   the QR code
    Doc_0/Pages/Page_0/Content.xml            the page
    Doc_0/Attachs/Attachments.xml, bill-….json   the bill file (``BillFile.to_json``)
    Doc_0/Signs/Signatures.xml                the list of signatures
    Doc_0/Signs/Sign_0/Signature.xml          SignedInfo: provider, SM2 method, time, References (SM3, base64)
    Doc_0/Signs/Sign_0/SignedValue.dat        DER SM2 signature (r, s)
    Doc_0/Signs/Sign_0/SignerKey.der          the signer's public key, X.509 SubjectPublicKeyInfo

What is signed, and how it differs from a full GB/T 38540 seal:

- Every file of the package except Signatures.xml and the signature's own Signature.xml/SignedValue.dat
  is listed in References with its SM3 digest (GB/T 33190 §18: CheckMethod 1.2.156.10197.1.401), and a
  reader refuses any file the References leave out, so nothing can be added or swapped beside them.
- SignedValue.dat is SM2-with-SM3 (1.2.156.10197.1.501, user id "1234567812345678") over the bytes of
  Signature.xml exactly as stored, i.e. over its SignedInfo and the SignedValue location. That is what
  ofdrw (the reference Java implementation) signs for Type="Sign"; signing the stored bytes needs no XML
  canonicalisation, which is where XML-signature schemes usually break.
- A GB/T 38540 *Seal* (Type="Seal", SES_Signature) also embeds a seal image and X.509 certificates issued
  by a seal authority. The platform has no such authority: trust comes from comparing the key in the file
  with the organisation's published SM2 key (``read_ofd(..., expected_public_key=...)``), as the chain
  does for the EIP-712 signature. So this is Type="Sign", with the key as SubjectPublicKeyInfo beside it.

The bill file is the source of truth; the page is its rendition, and both are under the same seal.

Library choice: ``easyofd`` (PyPI, 2026-04) was looked at and not used. It reads OFD into dicts and converts
OFD↔PDF by drawing through reportlab and PyMuPDF, and imports PyMuPDF (AGPL) at package import even to
parse; ``pip install easyofd`` here would add pymupdf 2.0 with onnxruntime, protobuf, networkx,
pymupdf4llm and pymupdf_layout, plus reportlab, loguru, xmltodict and pyasn1. It writes no attachments
and no signatures, so it would bring ~13 packages to do less than the ~400 lines here. The XML is
written with ElementTree and read with defusedxml (DTDs and entities refused).

Font: the page names "WenQuanYi Micro Hei" (Debian fonts-wqy-microhei) in PublicRes without embedding it:
the .ttc is 5 MB, and every OFD reader substitutes a CJK font it has. Glyph advances (DeltaX) are measured
from that font when it is installed, so text lands where the print view puts it in any reader.
"""

from __future__ import annotations

import base64
import hmac
import io
import posixpath
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as DET
from PIL import ImageFont

from app.bills import seal
from app.bills.billfile import BillFile
from app.bills.errors import OfdError, OfdLimitError, SealInvalidError, SealKeyError
from app.bills.model import BillType, mask_id_number
from app.bills.money import fen_to_capital, format_fen
from app.bills.seal import SealKey
from app.bills.times import BEIJING, beijing

NS = "http://www.ofdspec.org/2016"
MEDIA_TYPE = "application/ofd"
ATTACHMENT_NAME = "billchain/bill-file/v1"
PROVIDER_NAME = "Billchain"
PROVIDER_VERSION = "1"

FONT_NAME = "WenQuanYi Micro Hei"
FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0
"""A4 in millimetres, OFD's unit."""

OFD_XML = "OFD.xml"
DOC = "Doc_0"
SIGNATURES_XML = f"{DOC}/Signs/Signatures.xml"
SIGNATURE_XML = f"{DOC}/Signs/Sign_0/Signature.xml"
SIGNED_VALUE = f"{DOC}/Signs/Sign_0/SignedValue.dat"
SIGNER_KEY = f"{DOC}/Signs/Sign_0/SignerKey.der"

LABEL_KEYS = (
    "title",
    "bill_type",
    "bill_code",
    "bill_number",
    "check_code",
    "issued_at",
    "payer",
    "code",
    "item",
    "unit",
    "quantity",
    "price",
    "amount",
    "total_capital",
    "total_figures",
    "remarks",
    "issuer",
    "handler",
    "checker",
    "verify_hint",
)
"""The same labels app/pdf.py takes, so the web layer hands both renditions one dict."""

BILL_TYPE_NAMES = {
    BillType.SCHOOL_FEE: "教育收费票据",
    BillType.MEDICAL_OUTPATIENT: "医疗门诊收费票据",
    BillType.MEDICAL_INPATIENT: "医疗住院收费票据",
    BillType.TRAFFIC_FINE: "交通罚没收入票据",
    BillType.PARKING: "停车收费票据",
    BillType.DONATION: "公益事业捐赠票据",
    BillType.OTHER: "非税收入通用票据",
}

DEFAULT_LABELS = {
    "title": "财政电子票据",
    "bill_type": "",  # filled from BILL_TYPE_NAMES unless the caller gives one
    "bill_code": "票据代码",
    "bill_number": "票据号码",
    "check_code": "校验码",
    "issued_at": "开票日期",
    "payer": "交款人",
    "code": "项目编码",
    "item": "项目名称",
    "unit": "单位",
    "quantity": "数量",
    "price": "单价",
    "amount": "金额(元)",
    "total_capital": "金额合计(大写)",
    "total_figures": "金额合计(小写)",
    "remarks": "备注",
    "issuer": "收款单位(章)",
    "handler": "收款人",
    "checker": "复核人",
    "verify_hint": "扫描二维码或访问以下网址查验:",
}


@dataclass(frozen=True)
class OfdLimits:
    """Bounds for reading an OFD from a stranger; the defaults are ~50× what a bill needs."""

    max_archive_bytes: int = 4 * 1024 * 1024
    max_members: int = 64
    max_member_bytes: int = 2 * 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024
    max_ratio: int = 100
    """Uncompressed/compressed; XML deflates ~5-20×, zip bombs 1000× and more."""
    ratio_floor_bytes: int = 64 * 1024
    """The ratio is only judged above this size: a small file cannot be a bomb."""
    max_xml_bytes: int = 1024 * 1024


DEFAULT_LIMITS = OfdLimits()


@dataclass(frozen=True)
class SealedOfd:
    """A read OFD whose seal holds: the bill file inside, and who sealed it (compare with the published key)."""

    bill_file: BillFile
    public_key: bytes
    signed_at: datetime | None
    provider: str
    signed_files: tuple[str, ...]

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def sealed_by(self, published_key: str | bytes) -> bool:
        """Whether the seal was made with this (published) SM2 public key."""
        try:
            return seal.same_public_key(self.public_key, published_key)
        except SealKeyError:
            return False


# ---------------------------------------------------------------- writing


def render_ofd(
    bill_file: BillFile,
    qr_png: bytes,
    seal_key: SealKey,
    *,
    labels: Mapping[str, str] | None = None,
    verify_url: str | None = None,
    signed_at: datetime | None = None,
    mask_personal_data: bool = True,
    font_path: str | None = FONT_PATH,
) -> bytes:
    """The sealed OFD bytes of a bill file; ``labels`` as for app/pdf.py (Chinese defaults).

    ``mask_personal_data`` masks the payer's ID number on the page (the attached bill file keeps it, as
    the bill file always does). ``signed_at`` defaults to now; times on the page are Beijing time.
    """
    signed_at = (signed_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    words = dict(DEFAULT_LABELS)
    words.update(labels or {})
    if not words["bill_type"]:
        words["bill_type"] = BILL_TYPE_NAMES[bill_file.bill.bill_type]
    bill = bill_file.bill
    number = f"{bill.bill_code}-{bill.bill_number}"
    attachment = f"bill-{number}.json"
    bill_json = bill_file.to_json().encode("utf-8")
    ids = _Ids()
    font_id, qr_id = ids.next(), ids.next()
    page = _Page(ids, font_id, _metrics(font_path))
    _draw_bill(page, bill_file, qr_id, words, verify_url, mask_personal_data)

    files: dict[str, bytes] = {}
    files[OFD_XML] = _xml(
        _el(
            "OFD",
            {"Version": "1.0", "DocType": "OFD"},
            _el(
                "DocBody",
                {},
                _el(
                    "DocInfo",
                    {},
                    _el("DocID", {}, text=uuid.uuid5(uuid.NAMESPACE_URL, f"billchain:{number}:{signed_at}").hex),
                    _el("Title", {}, text=f"{words['title']} {number}"),
                    _el("Author", {}, text=bill.issuer.name),
                    _el("Subject", {}, text=number),
                    _el("CreationDate", {}, text=signed_at.astimezone(BEIJING).date().isoformat()),
                    _el("Creator", {}, text=PROVIDER_NAME),
                    _el("CreatorVersion", {}, text=PROVIDER_VERSION),
                ),
                _el("DocRoot", {}, text=f"{DOC}/Document.xml"),
                _el("Signatures", {}, text=SIGNATURES_XML),
            ),
        )
    )
    files[f"{DOC}/Document.xml"] = _xml(
        _el(
            "Document",
            {},
            _el(
                "CommonData",
                {},
                _el("MaxUnitID", {}, text=str(ids.last + 1)),
                _el("PageArea", {}, _el("PhysicalBox", {}, text=f"0 0 {_n(PAGE_WIDTH)} {_n(PAGE_HEIGHT)}")),
                _el("PublicRes", {}, text="PublicRes.xml"),
                _el("DocumentRes", {}, text="DocumentRes.xml"),
            ),
            _el("Pages", {}, _el("Page", {"ID": str(ids.next()), "BaseLoc": "Pages/Page_0/Content.xml"})),
            _el("Attachments", {}, text="Attachs/Attachments.xml"),
        )
    )
    files[f"{DOC}/PublicRes.xml"] = _xml(
        _el(
            "Res",
            {"BaseLoc": "Res"},
            _el("Fonts", {}, _el("Font", {"ID": str(font_id), "FontName": FONT_NAME, "FamilyName": FONT_NAME})),
        )
    )
    files[f"{DOC}/DocumentRes.xml"] = _xml(
        _el(
            "Res",
            {"BaseLoc": "Res"},
            _el(
                "MultiMedias",
                {},
                _el("MultiMedia", {"ID": str(qr_id), "Type": "Image", "Format": "PNG"}, _el("MediaFile", {}, "qr.png")),
            ),
        )
    )
    files[f"{DOC}/Res/qr.png"] = bytes(qr_png)
    files[f"{DOC}/Pages/Page_0/Content.xml"] = _xml(page.element())
    files[f"{DOC}/Attachs/Attachments.xml"] = _xml(
        _el(
            "Attachments",
            {},
            _el(
                "Attachment",
                {
                    "ID": "1",
                    "Name": ATTACHMENT_NAME,
                    "Format": "json",
                    "CreationDate": signed_at.strftime("%Y-%m-%dT%H:%M:%S"),
                    "Size": f"{len(bill_json) / 1024:.3f}",
                    "Visible": "true",
                    "Usage": "none",
                },
                _el("FileLoc", {}, text=attachment),
            ),
        )
    )
    files[f"{DOC}/Attachs/{attachment}"] = bill_json
    files[SIGNER_KEY] = seal.public_key_to_spki(seal_key.public_key)

    references = [
        _el("Reference", {"FileRef": "/" + name}, _el("CheckValue", {}, text=_b64(seal.sm3(data))))
        for name, data in files.items()
    ]
    signature_xml = _xml(
        _el(
            "Signature",
            {},
            _el(
                "SignedInfo",
                {},
                _el(
                    "Provider",
                    {"ProviderName": PROVIDER_NAME, "Version": PROVIDER_VERSION, "Company": bill.issuer.name},
                ),
                _el("SignatureMethod", {}, text=seal.OID_SM2_SIGN_WITH_SM3),
                _el("SignatureDateTime", {}, text=signed_at.strftime("%Y%m%d%H%M%SZ")),
                _el("References", {"CheckMethod": seal.OID_SM3}, *references),
            ),
            _el("SignedValue", {}, text="/" + SIGNED_VALUE),
        )
    )
    files[SIGNATURES_XML] = _xml(
        _el(
            "Signatures",
            {},
            _el("MaxSignId", {}, text="1"),
            _el("Signature", {"ID": "1", "Type": "Sign", "BaseLoc": "Sign_0/Signature.xml"}),
        )
    )
    files[SIGNATURE_XML] = signature_xml
    files[SIGNED_VALUE] = seal_key.sign(signature_xml)
    return _zip(files, signed_at)


def _zip(files: Mapping[str, bytes], moment: datetime) -> bytes:
    local = moment.astimezone(BEIJING)
    stamp = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".png", ".dat", ".der")) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _el(tag: str, attrs: Mapping[str, str], *children: ET.Element | str, text: str | None = None) -> ET.Element:
    element = ET.Element(f"{{{NS}}}{tag}", dict(attrs))
    for child in children:
        if isinstance(child, str):
            element.text = child
        else:
            element.append(child)
    if text is not None:
        element.text = text
    return element


def _xml(root: ET.Element) -> bytes:
    ET.register_namespace("ofd", NS)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _n(value: float) -> str:
    """A coordinate in mm: at most 3 decimals, no trailing zeros (``12.5``, ``180``)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------- the page


class _Ids:
    """OFD object IDs are unique across the document; MaxUnitID records the last one."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last


class _Metrics:
    """Glyph advances in em, from the named font when installed, else CJK 1 em and others 0.55 em."""

    def __init__(self, font: ImageFont.FreeTypeFont | None) -> None:
        self.font = font
        self.cache: dict[str, float] = {}

    def advance(self, ch: str) -> float:
        if ch not in self.cache:
            if self.font is not None:
                self.cache[ch] = float(self.font.getlength(ch)) / 1000
            else:
                self.cache[ch] = 1.0 if ord(ch) > 0x2E7F else 0.55
        return self.cache[ch]

    def width(self, text: str, size: float) -> float:
        return sum(self.advance(ch) for ch in text) * size


@lru_cache(maxsize=4)
def _metrics(font_path: str | None) -> _Metrics:
    if font_path and Path(font_path).is_file():
        try:
            return _Metrics(ImageFont.truetype(font_path, size=1000, index=0))
        except OSError:
            pass
    return _Metrics(None)


class _Page:
    """Collects the page's objects; coordinates in mm from the top left, as OFD has them."""

    def __init__(self, ids: _Ids, font_id: int, metrics: _Metrics) -> None:
        self.ids = ids
        self.font_id = font_id
        self.metrics = metrics
        self.layer_id = ids.next()
        self.objects: list[ET.Element] = []

    def text(self, x: float, y: float, w: float, h: float, text: str, size: float, align: str = "L") -> None:
        """One line in the box (x, y, w, h), cut with an ellipsis to fit, vertically centred."""
        text = self.fit(text, size, w)
        if not text:
            return
        advances = [self.metrics.advance(ch) * size for ch in text]
        width = sum(advances)
        offset = {"L": 0.0, "R": max(w - width, 0.0), "C": max((w - width) / 2, 0.0)}[align]
        baseline = (h + size * 0.72) / 2
        self.objects.append(
            _el(
                "TextObject",
                {"ID": str(self.ids.next()), "Boundary": _box(x, y, w, h), "Font": str(self.font_id), "Size": _n(size)},
                _el("FillColor", {"Value": "0 0 0"}),
                _el(
                    "TextCode",
                    {"X": _n(offset), "Y": _n(baseline), "DeltaX": " ".join(_n(a) for a in advances[:-1])},
                    text=text,
                ),
            )
        )

    def fit(self, text: str, size: float, width: float) -> str:
        if self.metrics.width(text, size) <= width:
            return text
        while text and self.metrics.width(text + "…", size) > width:
            text = text[:-1]
        return text + "…"

    def lines(self, text: str, size: float, width: float) -> list[str]:
        """Wrap ``text`` at character boundaries (Chinese has no spaces to break at)."""
        out: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for ch in paragraph:
                if line and self.metrics.width(line + ch, size) > width:
                    out.append(line)
                    line = ""
                line += ch
            out.append(line)
        return out

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str | None = None) -> None:
        attrs = {"ID": str(self.ids.next()), "Boundary": _box(x, y, w, h), "LineWidth": "0.25"}
        children = []
        if fill:
            attrs["Fill"] = "true"
            children.append(_el("FillColor", {"Value": fill}))
        children.append(_el("StrokeColor", {"Value": "0 0 0"}))
        children.append(_el("AbbreviatedData", {}, text=f"M 0 0 L {_n(w)} 0 L {_n(w)} {_n(h)} L 0 {_n(h)} C"))
        self.objects.append(_el("PathObject", attrs, *children))

    def image(self, x: float, y: float, size: float, resource_id: int) -> None:
        self.objects.append(
            _el(
                "ImageObject",
                {
                    "ID": str(self.ids.next()),
                    "Boundary": _box(x, y, size, size),
                    "CTM": f"{_n(size)} 0 0 {_n(size)} 0 0",
                    "ResourceID": str(resource_id),
                },
            )
        )

    def element(self) -> ET.Element:
        return _el(
            "Page",
            {},
            _el("Area", {}, _el("PhysicalBox", {}, text=f"0 0 {_n(PAGE_WIDTH)} {_n(PAGE_HEIGHT)}")),
            _el("Content", {}, _el("Layer", {"ID": str(self.layer_id), "Type": "Body"}, *self.objects)),
        )


def _box(x: float, y: float, w: float, h: float) -> str:
    return f"{_n(x)} {_n(y)} {_n(w)} {_n(h)}"


PT = 0.3528
"""One typographic point in mm: the PDF's font sizes in points carry over as size × PT."""


def _draw_bill(
    page: _Page,
    bill_file: BillFile,
    qr_id: int,
    labels: Mapping[str, str],
    verify_url: str | None,
    mask: bool,
) -> None:
    """The layout of app/pdf.py: header with the QR top right, codes, payer, items, totals, foot."""
    bill = bill_file.bill
    left, width = 15.0, PAGE_WIDTH - 30.0
    qr_size = 32.0
    page.image(left + width - qr_size, 12.0, qr_size, qr_id)
    text_width = width - qr_size - 4
    y = 15.0
    for line in page.lines(f"{bill.issuer.name} {labels['title']}", 16 * PT, text_width)[:2]:
        page.text(left, y, text_width, 8, line, 16 * PT)
        y += 8
    page.text(left, y, text_width, 7, labels["bill_type"], 11 * PT)
    y += 9
    meta = [
        (labels["bill_code"], bill.bill_code),
        (labels["bill_number"], bill.bill_number),
        (labels["check_code"], bill.check_code),
        (labels["issued_at"], beijing(bill.issued_at)),
    ]
    half = text_width / 2
    for index, (label, value) in enumerate(meta):
        page.text(left + (index % 2) * half, y + (index // 2) * 6, half, 6, f"{label}: {value}", 10 * PT)
    y = max(y + 12, 12 + qr_size) + 3

    payer = f"{labels['payer']}: {bill.payer.name}"
    if bill.payer.id_number:
        payer += f" ({mask_id_number(bill.payer.id_number) if mask else bill.payer.id_number})"
    page.text(left, y, width, 7, payer, 10 * PT)
    y += 8

    columns = (0.13, 0.32, 0.1, 0.13, 0.16, 0.16)
    heads = (labels["code"], labels["item"], labels["unit"], labels["quantity"], labels["price"], labels["amount"])
    aligns = ("L", "L", "L", "R", "R", "R")
    rows: list[tuple[str, ...]] = [heads]
    rows += [
        (
            item.code,
            item.name,
            item.unit,
            format(item.quantity.normalize(), "f"),
            format_fen(item.unit_price_fen),
            format_fen(item.amount_fen),
        )
        for item in bill.items
    ]
    for row_index, row in enumerate(rows):
        x = left
        for share, text, align in zip(columns, row, aligns, strict=True):
            cell = width * share
            page.rect(x, y, cell, 7, fill="235 235 235" if row_index == 0 else None)
            page.text(x + 1, y, cell - 2, 7, text, 10 * PT, align)
            x += cell
        y += 7
        if y > PAGE_HEIGHT - 60:  # one page: a bill with very many lines lists them in the attached file
            break
    words = width * (columns[0] + columns[1] + columns[2])
    for label, value in (
        (labels["total_capital"], fen_to_capital(bill.total_fen)),
        (labels["total_figures"], f"¥{format_fen(bill.total_fen)}"),
    ):
        page.rect(left, y, words, 8, fill="235 235 235")
        page.rect(left + words, y, width - words, 8)
        page.text(left + 1, y, words - 2, 8, label, 10 * PT)
        page.text(left + words + 1, y, width - words - 2, 8, value, 10 * PT)
        y += 8
    if bill.remarks:
        y += 1
        for line in page.lines(f"{labels['remarks']}: {bill.remarks}", 10 * PT, width)[:6]:
            page.text(left, y, width, 6, line, 10 * PT)
            y += 6

    y += 4
    third = width / 3
    page.text(left, y, third * 1.4 - 2, 6, f"{labels['issuer']}: {bill.issuer.name}", 10 * PT)
    page.text(left + third * 1.4, y, third * 0.8, 6, f"{labels['handler']}: {bill.handler}", 10 * PT)
    page.text(left + third * 2.2, y, third * 0.8, 6, f"{labels['checker']}: {bill.checker}", 10 * PT)
    y += 6
    page.text(left, y, width, 5, bill.issuer.credit_code, 8 * PT)
    y += 7
    if verify_url:
        for line in page.lines(f"{labels['verify_hint']} {verify_url}", 8 * PT, width)[:3]:
            page.text(left, y, width, 4.5, line, 8 * PT)
            y += 4.5


# ---------------------------------------------------------------- reading


def read_ofd(
    data: bytes,
    *,
    limits: OfdLimits = DEFAULT_LIMITS,
    expected_public_key: str | bytes | None = None,
) -> SealedOfd:
    """Check an OFD's seal and return the bill file inside; the usual chain checks follow on ``bill_file``.

    Raises OfdLimitError (refused unread), OfdError (not a Billchain OFD), SealInvalidError (a digest,
    the SM2 signature, or ``expected_public_key`` does not hold) or BillValidationError (the attached
    bill file is malformed). Without ``expected_public_key``, compare ``public_key`` yourself.
    """
    files = _unzip(data, limits)
    root = _parse(files, OFD_XML, limits)
    bodies = _children(root, "DocBody")
    if len(bodies) != 1:
        raise OfdError(f"OFD.xml must hold exactly one DocBody (got {len(bodies)})")
    body = bodies[0]
    doc_root = _resolve(OFD_XML, _text(body, "DocRoot", OFD_XML))
    signatures_loc = _find_text(body, "Signatures")
    if not signatures_loc:
        raise SealInvalidError("the OFD carries no signature: it was not sealed by Billchain")
    signatures_path = _resolve(OFD_XML, signatures_loc)
    signatures = _children(_parse(files, signatures_path, limits), "Signature")
    if len(signatures) != 1:
        raise SealInvalidError(f"expected exactly one signature in {signatures_path} (got {len(signatures)})")
    signature_path = _resolve(signatures_path, signatures[0].get("BaseLoc", ""))
    signature_xml = _member(files, signature_path)
    signature_root = _parse(files, signature_path, limits)
    signed_info = _one(signature_root, "SignedInfo", signature_path)
    signed_value_path = _resolve(signature_path, _text(signature_root, "SignedValue", signature_path))

    method = _text(signed_info, "SignatureMethod", signature_path)
    if method not in (seal.OID_SM2_SIGN_WITH_SM3, "SM2", "SM3WithSM2"):
        raise SealInvalidError(f"signature method {method!r} is not SM2 with SM3 ({seal.OID_SM2_SIGN_WITH_SM3})")
    references = _one(signed_info, "References", signature_path)
    check_method = references.get("CheckMethod", "")
    if check_method not in (seal.OID_SM3, "SM3", "sm3"):
        raise SealInvalidError(f"reference digests use {check_method!r}, not SM3 ({seal.OID_SM3})")

    signed: list[str] = []
    for reference in _children(references, "Reference"):
        path = _resolve(signature_path, reference.get("FileRef", ""))
        if path in signed:
            raise SealInvalidError(f"{path} is referenced twice")
        try:
            expected = base64.b64decode(_text(reference, "CheckValue", signature_path), validate=True)
        except ValueError:
            raise SealInvalidError(f"the digest of {path} is not base64") from None
        if path not in files:
            raise SealInvalidError(f"{path} is sealed but missing from the package")
        if not hmac.compare_digest(seal.sm3(files[path]), expected):
            raise SealInvalidError(f"{path} was changed after sealing (its SM3 digest does not match)")
        signed.append(path)
    unsigned_ok = {signatures_path, signature_path, signed_value_path}
    for name in files:
        if name not in signed and name not in unsigned_ok:
            raise SealInvalidError(f"{name} is not covered by the seal")

    key_path = posixpath.join(posixpath.dirname(signature_path), "SignerKey.der")
    if key_path not in signed:
        raise SealInvalidError(f"the signer's public key ({key_path}) is missing or not sealed")
    try:
        public_key = seal.public_key_from_spki(files[key_path])
    except SealKeyError as exc:
        raise SealInvalidError(f"{key_path}: {exc}") from None
    if not seal.verify(public_key, signature_xml, _member(files, signed_value_path)):
        raise SealInvalidError("the SM2 signature over Signature.xml does not verify with the key in the file")
    if expected_public_key is not None:
        try:
            same = seal.same_public_key(public_key, expected_public_key)
        except SealKeyError:
            same = False
        if not same:
            raise SealInvalidError(
                f"sealed with SM2 key {public_key.hex()[:18]}…, not the organisation's published key"
            )

    document = _parse(files, doc_root, limits)
    attachments_path = _resolve(doc_root, _text(document, "Attachments", doc_root))
    bill_path = None
    for attachment in _children(_parse(files, attachments_path, limits), "Attachment"):
        if attachment.get("Name") == ATTACHMENT_NAME:
            bill_path = _resolve(attachments_path, _text(attachment, "FileLoc", attachments_path))
    if bill_path is None:
        raise OfdError(f"no attachment named {ATTACHMENT_NAME!r}: not a Billchain bill")
    bill_file = BillFile.from_json(_member(files, bill_path))

    provider = signed_info.find(f"{{{NS}}}Provider")
    return SealedOfd(
        bill_file=bill_file,
        public_key=public_key,
        signed_at=_signed_at(_find_text(signed_info, "SignatureDateTime")),
        provider=provider.get("ProviderName", "") if provider is not None else "",
        signed_files=tuple(signed),
    )


def _unzip(data: bytes, limits: OfdLimits) -> dict[str, bytes]:
    """Every member's bytes, each read through a size cap: headers are the attacker's to write."""
    if len(data) > limits.max_archive_bytes:
        raise OfdLimitError(f"the OFD is {len(data)} bytes; at most {limits.max_archive_bytes} are accepted")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise OfdError(f"not an OFD package (an OFD is a zip archive): {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise OfdLimitError(f"the OFD has {len(infos)} members; at most {limits.max_members} are accepted")
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            name = _safe_name(info.filename)
            if name in files:
                raise OfdLimitError(f"{name} appears twice in the archive (readers would disagree on which counts)")
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise OfdLimitError(f"{name} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise OfdLimitError(f"{name} uses compression method {info.compress_type}; only stored and deflate")
            if info.file_size > limits.max_member_bytes:
                raise OfdLimitError(f"{name} is {info.file_size} bytes; at most {limits.max_member_bytes} per member")
            _check_ratio(name, info.file_size, info.compress_size, limits)
            content = _read_capped(archive, info, name, limits, limits.max_total_bytes - total)
            total += len(content)
            files[name] = content
    return files


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: OfdLimits, room: int) -> bytes:
    cap = min(limits.max_member_bytes, room)
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(64 * 1024):
                size += len(chunk)
                if size > cap:
                    what = "per member" if cap == limits.max_member_bytes else "in total"
                    raise OfdLimitError(f"{name} inflates past {cap} bytes; at most {cap} {what}")
                _check_ratio(name, size, info.compress_size, limits)
                chunks.append(chunk)
    except OfdLimitError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:  # bad CRC, corrupt deflate
        raise OfdError(f"{name} cannot be read: {exc}") from None
    return b"".join(chunks)


def _check_ratio(name: str, size: int, compressed: int, limits: OfdLimits) -> None:
    if size > limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1):
        raise OfdLimitError(
            f"{name} expands more than {limits.max_ratio}× ({size} bytes from {compressed}): refused as a zip bomb"
        )


def _safe_name(name: str) -> str:
    """A member name as a clean relative path; absolute, ``..``, drive and backslash paths are refused."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise OfdLimitError(f"unsafe path in the archive: {name!r}")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts) or any(ord(ch) < 0x20 for ch in name):
        raise OfdLimitError(f"unsafe path in the archive: {name!r}")
    return name


def _resolve(base_file: str, loc: str) -> str:
    """An ST_Loc: absolute from the package root (``/Doc_0/…``) or relative to ``base_file``'s folder."""
    loc = loc.strip()
    if not loc or "\\" in loc or ":" in loc:
        raise OfdError(f"bad location {loc!r} in {base_file}")
    joined = loc[1:] if loc.startswith("/") else posixpath.join(posixpath.dirname(base_file), loc)
    path = posixpath.normpath(joined)
    if path.startswith(("../", "/")) or path in ("..", "."):
        raise OfdLimitError(f"location {loc!r} in {base_file} points outside the package")
    return path


def _member(files: Mapping[str, bytes], path: str) -> bytes:
    if path not in files:
        raise OfdError(f"{path} is missing from the package")
    return files[path]


def _parse(files: Mapping[str, bytes], path: str, limits: OfdLimits) -> ET.Element:
    data = _member(files, path)
    if len(data) > limits.max_xml_bytes:
        raise OfdLimitError(f"{path} is {len(data)} bytes of XML; at most {limits.max_xml_bytes}")
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise OfdLimitError(f"{path}: XML with a DTD or entities is refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise OfdError(f"{path} is not well-formed XML: {exc}") from None
    assert isinstance(root, ET.Element)
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _one(element: ET.Element, name: str, where: str) -> ET.Element:
    found = _children(element, name)
    if len(found) != 1:
        raise OfdError(f"{where} must hold exactly one {name} (got {len(found)})")
    return found[0]


def _find_text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    return (found[0].text or "").strip() if found else None


def _text(element: ET.Element, name: str, where: str) -> str:
    return (_one(element, name, where).text or "").strip()


def _signed_at(text: str | None) -> datetime | None:
    for pattern in ("%Y%m%d%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text or "", pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
