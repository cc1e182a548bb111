"""Reading back what app.web.pdf wrote, without a PDF library: the QR image and the document information.

No pypdf or poppler here, so this reads the two things a test needs straight from fpdf2's output: the
image XObject (8-bit grey, Flate with PNG predictors: its stream is a PNG's IDAT data, so wrapping it
in a PNG container lets Pillow decode it) and the /Title and /Subject strings of the document information.
"""

from __future__ import annotations

import re
import struct
import zlib

from app.bills.qr import decode_image

_IMAGE = re.compile(rb"<<(?:(?!>>\nstream).)*?/Subtype /Image(?:(?!>>\nstream).)*>>\nstream\n", re.S)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def embedded_pngs(pdf: bytes) -> list[bytes]:
    """Every 8-bit grey Flate image of the PDF, as PNG files."""
    pngs = []
    for match in _IMAGE.finditer(pdf):
        head = match.group(0)
        if b"/DeviceGray" not in head or b"/FlateDecode" not in head or b"/Predictor 15" not in head:
            continue
        width = int(re.search(rb"/Width (\d+)", head).group(1))  # type: ignore[union-attr]
        height = int(re.search(rb"/Height (\d+)", head).group(1))  # type: ignore[union-attr]
        length = int(re.search(rb"/Length (\d+)", head).group(1))  # type: ignore[union-attr]
        data = pdf[match.end() : match.end() + length]
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        pngs.append(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return pngs


def qr_urls(pdf: bytes) -> list[str]:
    """The URLs of the QR codes embedded in the PDF."""
    return [url for png in embedded_pngs(pdf) for url in decode_image(png)]


def info(pdf: bytes, key: str) -> str:
    """A document information entry (/Title, /Subject): fpdf2 writes ASCII as (...), other text as UTF-16 hex."""
    match = re.search(rb"/" + key.encode() + rb" \(([^)]*)\)", pdf)
    if match:
        return match.group(1).decode("latin-1")
    match = re.search(rb"/" + key.encode() + rb" <(?:feff|FEFF)([0-9A-Fa-f]*)>", pdf)
    return bytes.fromhex(match.group(1).decode()).decode("utf-16-be") if match else ""
