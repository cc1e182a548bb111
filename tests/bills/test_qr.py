"""QR verify URLs: format, parsing errors, size limits, rendering, and decoding photos of printed bills."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw, ImageFilter
from qrcode.constants import ERROR_CORRECT_M

from app.bills.errors import BillError, VerifyURLError
from app.bills.qr import MAX_QR_VERSION, decode_image, make_qr, parse_verify_url, render_png, render_svg, verify_url

REF = bytes(range(32))
HASH = bytes(range(255, 223, -1))
BASE_60 = "https://verify.czj.example.gov.cn/billchain/fiscal/e-bills/a"
assert len(BASE_60) == 60


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def test_url_format_is_base_v_ref_dot_hash() -> None:
    url = verify_url("https://bills.example.cn/", REF, HASH)
    assert url == f"https://bills.example.cn/v/{b64(REF)}.{b64(HASH)}"
    assert len(b64(REF)) == len(b64(HASH)) == 43


def test_parse_inverts_verify_url() -> None:
    assert parse_verify_url(verify_url(BASE_60, REF, HASH)) == (REF, HASH)


def test_parse_tolerates_whitespace_trailing_slash_query_and_fragment() -> None:
    url = verify_url("http://localhost:5000", REF, HASH)
    assert parse_verify_url(f"  {url}/?utm=x#top \n") == (REF, HASH)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "http"),
        ("ftp://x/v/a.b", "http"),
        (f"https://x/verify/{b64(REF)}.{b64(HASH)}", "not a Billchain verify URL"),
        (f"https://x/v/{b64(REF)}{b64(HASH)}", "separated by a dot"),
        (f"https://x/v/{b64(REF)[:-1]}.{b64(HASH)}", "43 base64url"),
        (f"https://x/v/{b64(REF)}.{b64(HASH)}A", "43 base64url"),
        (f"https://x/v/{b64(REF)[:-1]}B.{b64(HASH)}", "non-canonical"),
        (f"https://x/v/{b64(REF)[:-1]}+.{b64(HASH)}", "43 base64url"),
        (f"https://x/v/{b64(REF)}.{b64(HASH)}/extra", "not a Billchain verify URL"),
        (f"https:///v/{b64(REF)}.{b64(HASH)}", "not a Billchain verify URL"),
    ],
)
def test_malformed_urls_get_clear_errors(url: str, fragment: str) -> None:
    with pytest.raises(VerifyURLError, match=fragment):
        parse_verify_url(url)


@pytest.mark.parametrize("base", ["bills.example.cn", "https://x.cn/?q=1", "https://" + "a" * 60 + ".cn"])
def test_bad_base_urls_are_refused(base: str) -> None:
    with pytest.raises(ValueError):
        verify_url(base, REF, HASH)


def test_sixty_character_base_stays_within_version_10_at_ec_m() -> None:
    rng = random.Random(7)
    worst = max(make_qr(verify_url(BASE_60, rng.randbytes(32), rng.randbytes(32))).version for _ in range(50))
    assert worst <= MAX_QR_VERSION
    assert make_qr(verify_url(BASE_60, b"\xff" * 32, b"\xff" * 32)).error_correction == ERROR_CORRECT_M


def test_svg_is_a_standalone_svg_document() -> None:
    svg = render_svg(verify_url(BASE_60, REF, HASH))
    assert svg.startswith("<") and "<svg" in svg and "</svg>" in svg


def test_png_decodes_back_to_the_url() -> None:
    url = verify_url(BASE_60, REF, HASH)
    png = render_png(url, box_size=6)
    assert png.startswith(b"\x89PNG")
    assert decode_image(png) == [url]


def test_decode_refuses_non_images() -> None:
    with pytest.raises(BillError):
        decode_image(b"not an image at all")


def test_decode_finds_nothing_on_a_blank_page() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, format="PNG")
    assert decode_image(buffer.getvalue()) == []


# ---------------------------------------------------------------- photos of a printed bill

URL = verify_url(BASE_60, REF, HASH)
BOX = 4


def bill_page() -> tuple[Image.Image, tuple[int, int, int]]:
    """An A5 landscape page at ~100 dpi: lines of text, a table, the QR in the top right corner."""
    qr = Image.open(io.BytesIO(render_png(URL, box_size=BOX))).convert("RGB")
    page = Image.new("RGB", (827, 583), "white")
    draw = ImageDraw.Draw(page)
    draw.text((40, 30), "Fiscal e-bill  No. 11010125 0000000001   check code 870484", fill="black")
    for row in range(12):
        y = 120 + row * 30
        draw.line((40, y, 787, y), fill="black")
        draw.text((50, y + 8), f"item {row:02d}   1.5 x 123.45   185.18", fill="black")
    x, y = page.width - qr.width - 20, 20
    page.paste(qr, (x, y))
    return page, (x, y, qr.width)


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def cover_corner(page: Image.Image, box: tuple[int, int, int]) -> Image.Image:
    """A dark sticker over the QR's bottom-right corner (no finder pattern there), about 4% of its area."""
    x, y, width = box
    quiet = 4 * BOX
    inner = width - 2 * quiet
    side = int(inner * 0.2)
    covered = page.copy()
    right, bottom = x + width - quiet, y + width - quiet
    ImageDraw.Draw(covered).rectangle((right - side, bottom - side, right, bottom), fill="black")
    return covered


PHOTOS: dict[str, Callable[[Image.Image, tuple[int, int, int]], bytes]] = {
    "plain": lambda page, _: encode(page),
    "rotated_7_degrees": lambda page, _: encode(page.rotate(7, expand=True, fillcolor="white")),
    "rotated_90_degrees": lambda page, _: encode(page.rotate(90, expand=True)),
    "scaled_down_to_60_percent": lambda page, _: encode(page.resize((496, 350), Image.Resampling.LANCZOS)),
    "gaussian_blur_radius_1": lambda page, _: encode(page.filter(ImageFilter.GaussianBlur(1))),
    "jpeg_quality_30": lambda page, _: encode(page, "JPEG", quality=30),
    "corner_covered": lambda page, box: encode(cover_corner(page, box)),
    "blur_then_jpeg_then_rotate_3": lambda page, _: encode(
        Image.open(io.BytesIO(encode(page.filter(ImageFilter.GaussianBlur(1)), "JPEG", quality=40))).rotate(
            3, expand=True, fillcolor="white"
        ),
        "JPEG",
        quality=50,
    ),
}


@pytest.mark.parametrize("case", sorted(PHOTOS))
def test_photo_of_the_bill_decodes_to_the_exact_url(case: str) -> None:
    page, box = bill_page()
    assert decode_image(PHOTOS[case](page, box)) == [URL]


def test_heavier_blur_is_read_only_thanks_to_the_fallback_variants() -> None:
    """Radius-2 blur defeats zxing's first pass; the sharpened grayscale variant recovers it."""
    import zxingcpp

    page, _ = bill_page()
    blurred = page.filter(ImageFilter.GaussianBlur(2))
    assert zxingcpp.read_barcodes(blurred, formats=zxingcpp.barcode_formats_from_str("QRCode")) == []
    assert decode_image(encode(blurred)) == [URL]
