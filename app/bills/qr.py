"""The QR code printed on a bill: a short verify URL, rendered for print and decoded from photos.

URL format: ``{base_url}/v/{ref}.{hash}`` with ref and hash each 32 bytes in base64url without padding
(43 characters). 87 characters of payload plus a base URL of up to 60 characters is at most 150 bytes,
which fits QR version 9 at error correction M (capacity 180 bytes), under the version-10 ceiling that
keeps modules large enough for a 2 cm print to scan from a phone. A denser scheme (base32 upper case in
QR alphanumeric mode, 52 + 52 characters at 5.5 bits each) would save about one version but make the URL
longer and upper-case; base64url keeps the URL short for people who type or paste it.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable

import qrcode
import qrcode.constants
import qrcode.image.svg
import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from app.bills.errors import PhotoTooLargeError, QRNotFoundError, VerifyURLError

MAX_BASE_URL = 60
MAX_QR_VERSION = 10
VERIFY_PATH = "/v/"

MAX_PHOTO_PIXELS = 50_000_000
"""Most pixels a JPEG may declare (a 48-megapixel phone photo); it is decoded at 1/8 to 1/2 scale anyway."""
MAX_UNREDUCED_PIXELS = 20_000_000
"""Most pixels any other format may declare: PNG, GIF, WebP and TIFF are decoded at full size first."""
MAX_DECODE_SIDE = 2048
"""Longest side the decode variants work on: a version-10 QR filling a tenth of it still has 3 pixels a module."""

_B64URL_43 = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
"""43 base64url characters of 32 bytes: the last one carries 4 bits, so only 16 letters are canonical."""
_BASE_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def _unb64(text: str, part: str) -> bytes:
    if not _B64URL_43.fullmatch(text):
        raise VerifyURLError(
            f"the {part} in a verify URL must be 43 base64url characters (got {len(text)} characters"
            f"{', non-canonical or invalid' if len(text) == 43 else ''})"
        )
    return base64.urlsafe_b64decode(text + "=")


def verify_url(base_url: str, bill_ref: bytes, content_hash: bytes) -> str:
    """The URL for a bill's QR code, e.g. https://bills.example.cn/v/<ref>.<hash>."""
    base = base_url.rstrip("/")
    if not _BASE_URL.fullmatch(base):
        raise ValueError(f"base_url must be an http(s) URL without query or fragment: {base_url!r}")
    if len(base) > MAX_BASE_URL:
        raise ValueError(f"base_url must be at most {MAX_BASE_URL} characters to keep the QR small")
    if len(bill_ref) != 32 or len(content_hash) != 32:
        raise ValueError("bill_ref and content_hash must be 32 bytes each")
    return f"{base}{VERIFY_PATH}{_b64(bill_ref)}.{_b64(content_hash)}"


def parse_verify_url(url: str) -> tuple[bytes, bytes]:
    """(bill_ref, content_hash) from a verify URL; any base URL is accepted, the token must be exact."""
    if not isinstance(url, str):
        raise VerifyURLError("a verify URL must be text")
    text = url.strip()
    if not re.match(r"https?://", text):
        raise VerifyURLError("a verify URL starts with http:// or https://")
    text = text.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    head, sep, token = text.rpartition(VERIFY_PATH)
    if not sep or "/" in token or not head.split("://", 1)[1]:
        raise VerifyURLError("not a Billchain verify URL: expected …/v/<bill ref>.<content hash>")
    ref_text, dot, hash_text = token.partition(".")
    if not dot:
        raise VerifyURLError("the verify URL must hold <bill ref>.<content hash> separated by a dot")
    return _unb64(ref_text, "bill ref"), _unb64(hash_text, "content hash")


def make_qr(url: str) -> qrcode.QRCode:
    """The QR code of a verify URL at error correction M, refusing anything above version 10."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    if qr.version > MAX_QR_VERSION:
        raise ValueError(f"the URL needs QR version {qr.version}; at most {MAX_QR_VERSION} prints reliably")
    return qr


def render_svg(url: str) -> str:
    """SVG (one path, white background) for print: scales to any size without blur."""
    image = make_qr(url).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return str(image.to_string(encoding="unicode"))


def render_png(url: str, box_size: int = 8) -> bytes:
    """PNG bytes for screens and e-mail; ``box_size`` is pixels per module."""
    qr = make_qr(url)
    qr.box_size = box_size
    buffer = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- decoding photos


def _binarise(image: Image.Image) -> Image.Image:
    gray = ImageOps.autocontrast(image.convert("L"))
    histogram = gray.histogram()
    total = sum(histogram)
    mean = sum(i * h for i, h in enumerate(histogram)) / total
    return gray.point(lambda p: 255 if p > mean else 0)


def _downscale(image: Image.Image) -> Image.Image:
    """Half size for big pictures; double size for small ones (never above MAX_DECODE_SIDE)."""
    if min(image.size) >= 400 or max(image.size) * 2 > MAX_DECODE_SIDE:
        return image.reduce(2)
    return image.resize((image.width * 2, image.height * 2))


_QR_ONLY = zxingcpp.barcode_formats_from_str("QRCode")

_VARIANTS: tuple[Callable[[Image.Image], Image.Image], ...] = (
    lambda im: im,
    lambda im: ImageOps.autocontrast(im.convert("L")),
    _binarise,
    _downscale,
    lambda im: ImageOps.autocontrast(im.convert("L")).filter(ImageFilter.SHARPEN),
)


def load_photo(data: bytes) -> Image.Image:
    """The picture as RGB, at most MAX_DECODE_SIDE pixels a side, its size checked before any pixel is decoded.

    The header's size is checked first (a 100 KB PNG can declare 9400 × 9400 pixels, 1 GB once decoded).
    JPEGs are decoded straight at 1/2, 1/4 or 1/8 scale (``draft``), other formats are decoded whole and
    scaled down once, so the decode variants never see more than MAX_DECODE_SIDE² pixels.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise QRNotFoundError(f"not a readable image: {exc}") from None
    width, height = image.size
    limit = MAX_PHOTO_PIXELS if image.format == "JPEG" else MAX_UNREDUCED_PIXELS
    if width * height > limit:
        raise PhotoTooLargeError(
            f"the picture is {width} × {height} pixels; at most {limit // 1_000_000} megapixels"
            f" ({image.format or 'image'}) can be read: send a smaller photo of the QR code"
        )
    if image.format == "JPEG":
        image.draft("RGB", (MAX_DECODE_SIDE, MAX_DECODE_SIDE))  # decode at the smallest scale still this big
    try:
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise QRNotFoundError(f"not a readable image: {exc}") from None
    transposed = ImageOps.exif_transpose(image)  # phone photos are often stored sideways
    base = (transposed if transposed is not None else image).convert("RGB")
    if max(base.size) > MAX_DECODE_SIDE:
        base.thumbnail((MAX_DECODE_SIDE, MAX_DECODE_SIDE), Image.Resampling.BOX)
    return base


def decode_image(data: bytes) -> list[str]:
    """Texts of the QR codes in a picture (photo or scan), tried on a few variants until one reads."""
    base = load_photo(data)
    for variant in _VARIANTS:
        found = zxingcpp.read_barcodes(variant(base), formats=_QR_ONLY, try_rotate=True, try_downscale=True)
        texts = list(dict.fromkeys(b.text for b in found if b.valid and b.text))
        if texts:
            return texts
    return []
