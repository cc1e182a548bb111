"""A bill as a printable PDF (fpdf2), laid out like the print view: header, codes, payer, items, totals, QR.

Chinese text needs a CJK TrueType font embedded in the file (fpdf2 subsets it, so a bill stays small);
the font's path comes from BILLCHAIN_PDF_FONT (Debian fonts-wqy-microhei by default). Labels come from
the caller in the page's language, so this module knows nothing of Flask or locales.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from PIL import Image

from app.bills.money import fen_to_capital, format_fen
from app.bills.qr import render_png
from app.bills.times import beijing, parse_utc_iso
from app.models import Bill
from app.services.errors import Unavailable
from app.web import i18n

FONT_PACKAGE = "fonts-wqy-microhei"
"""The Debian package that provides the default font (named in the error when no font is found)."""

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


class PdfFontMissing(RuntimeError):
    """No CJK font to embed: Chinese text cannot be drawn, so no PDF is made."""


def bill_pdf(document: Mapping[str, Any], verify_url: str, labels: Mapping[str, str], font_path: str | None) -> bytes:
    """The PDF bytes of one bill; ``document`` is the (masked where needed) bill document dict."""
    if not font_path or not os.path.exists(font_path):
        raise PdfFontMissing(
            f"No CJK font for PDFs (BILLCHAIN_PDF_FONT={font_path!r}); install the Debian package {FONT_PACKAGE}."
        )
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_font("cjk", "", font_path)
    issuer = document.get("issuer") or {}
    payer = document.get("payer") or {}
    number = f"{document.get('bill_code', '')}-{document.get('bill_number', '')}"
    pdf.set_title(f"{labels['title']} {number}")
    pdf.set_subject(number)
    pdf.set_creator("Billchain")
    pdf.add_page()
    width = pdf.epw

    # Header: issuer + title on the left, the QR code top right (as printed bills carry it).
    qr_size = 32.0
    # 8-bit grey rather than 1-bit: fpdf2 then stores plain Flate pixels (no CCITT), which any reader decodes.
    qr_image = Image.open(io.BytesIO(render_png(verify_url, box_size=8))).convert("L")
    pdf.image(qr_image, x=pdf.l_margin + width - qr_size, y=12, w=qr_size)
    text_width = width - qr_size - 4
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(text_width, 8, f"{issuer.get('name', '')} {labels['title']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=11)
    pdf.cell(text_width, 7, labels["bill_type"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    # Codes: two per line, label then value.
    pdf.set_font("cjk", size=10)
    meta = [
        (labels["bill_code"], str(document.get("bill_code", ""))),
        (labels["bill_number"], str(document.get("bill_number", ""))),
        (labels["check_code"], str(document.get("check_code", ""))),
        (labels["issued_at"], _beijing_text(document.get("issued_at"))),
    ]
    half = text_width / 2
    for index, (label, value) in enumerate(meta):
        last = index % 2 == 1
        pdf.cell(
            half,
            6,
            f"{label}: {value}",
            new_x=XPos.LMARGIN if last else XPos.RIGHT,
            new_y=YPos.NEXT if last else YPos.TOP,
        )
    pdf.set_y(max(pdf.get_y(), 12 + qr_size) + 3)

    payer_text = f"{labels['payer']}: {payer.get('name', '')}"
    if payer.get("id_number"):
        payer_text += f" ({payer['id_number']})"
    pdf.cell(width, 7, payer_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)

    # Items, then totals in words (大写) and in figures.
    columns = (0.13, 0.32, 0.1, 0.13, 0.16, 0.16)
    heads = (labels["code"], labels["item"], labels["unit"], labels["quantity"], labels["price"], labels["amount"])
    aligns = ("L", "L", "L", "R", "R", "R")
    pdf.set_fill_color(235, 235, 235)
    for share, head, align in zip(columns, heads, aligns, strict=True):
        pdf.cell(width * share, 7, head, border=1, align=align, fill=True)
    pdf.ln()
    for item in document.get("items") or []:
        row = (
            str(item.get("code", "")),
            str(item.get("name", "")),
            str(item.get("unit", "")),
            str(item.get("quantity", "")),
            format_fen(int(item.get("unit_price_fen", 0))),
            format_fen(int(item.get("amount_fen", 0))),
        )
        for share, text, align in zip(columns, row, aligns, strict=True):
            pdf.cell(width * share, 7, _fit(pdf, text, width * share - 2), border=1, align=align)
        pdf.ln()
    total = int(document.get("total_fen", 0))
    words = width * (columns[0] + columns[1] + columns[2])
    pdf.cell(words, 8, labels["total_capital"], border=1, fill=True)
    pdf.cell(width - words, 8, fen_to_capital(total), border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(words, 8, labels["total_figures"], border=1, fill=True)
    pdf.cell(width - words, 8, f"¥{format_fen(total)}", border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.get("remarks"):
        pdf.ln(1)
        pdf.multi_cell(width, 6, f"{labels['remarks']}: {document['remarks']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Foot: issuer (收款单位), handler (收款人), checker (复核人).
    pdf.ln(4)
    third = width / 3
    pdf.cell(
        third * 1.4,
        6,
        _fit(pdf, f"{labels['issuer']}: {issuer.get('name', '')}", third * 1.4 - 2),
    )
    pdf.cell(third * 0.8, 6, f"{labels['handler']}: {document.get('handler', '')}")
    pdf.cell(third * 0.8, 6, f"{labels['checker']}: {document.get('checker', '')}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=8)
    pdf.cell(width, 5, str(issuer.get("credit_code", "")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.multi_cell(width, 4.5, f"{labels['verify_hint']} {verify_url}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _beijing_text(value: Any) -> str:
    """The document's UTC ISO 8601 time as Beijing time, as the page and the print show it."""
    if not value:
        return ""
    try:
        return beijing(parse_utc_iso(str(value)))
    except ValueError:
        return str(value)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Cut a cell's text with an ellipsis rather than let it run into the next column."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def pdf_download(bill: Bill, document: dict[str, Any], verify_url: str) -> Response:
    """The bill as a PDF download; without a CJK font a clear 503 (JSON or page), never a bare 500."""
    try:
        data = bill_pdf(
            document,
            verify_url,
            i18n.pdf_labels(str(document.get("bill_type", ""))),
            current_app.config.get("BILLCHAIN_PDF_FONT"),
        )
    except PdfFontMissing as exc:
        raise Unavailable("pdf_font_missing", str(exc)) from None
    response = current_app.response_class(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="bill-{bill.bill_code}-{bill.bill_number}.pdf"'
    return response
