"""Photo decoding is bounded: a picture's declared size is checked before decoding, big photos are reduced once."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.bills.errors import BillError, PhotoTooLargeError, QRNotFoundError
from app.bills.qr import (
    MAX_DECODE_SIDE,
    MAX_PHOTO_PIXELS,
    MAX_UNREDUCED_PIXELS,
    decode_image,
    load_photo,
    render_png,
    verify_url,
)

URL = verify_url("https://bills.example.cn", bytes(range(32)), bytes(range(32, 64)))


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def blank_png(width: int, height: int) -> bytes:
    """A one-bit blank page: a few KB on disk, width × height × 3 bytes once decoded to RGB."""
    return encode(Image.new("1", (width, height), 1), optimize=True)


def photo_with_qr(width: int, height: int, qr_side: int) -> Image.Image:
    """A white page with the bill's QR code scaled to `qr_side` pixels in the middle."""
    qr = Image.open(io.BytesIO(render_png(URL, box_size=4))).convert("RGB")
    qr = qr.resize((qr_side, qr_side), Image.Resampling.NEAREST)
    page = Image.new("RGB", (width, height), "white")
    page.paste(qr, ((width - qr_side) // 2, (height - qr_side) // 2))
    return page


def test_blank_9400_square_png_is_refused_before_decoding() -> None:
    """The attack from issue 13: 22 KB on the wire, 88 megapixels (265 MB as RGB) if decoded."""
    data = blank_png(9400, 9400)
    assert len(data) < 120_000

    with pytest.raises(PhotoTooLargeError, match=r"9400 × 9400 pixels; at most 20 megapixels"):
        decode_image(data)


def test_a_too_large_photo_is_an_input_error_not_a_server_error() -> None:
    assert issubclass(PhotoTooLargeError, BillError)


def test_a_header_declaring_more_pixels_than_the_jpeg_limit_is_refused() -> None:
    side = int(MAX_PHOTO_PIXELS**0.5) + 10
    data = encode(Image.new("L", (side, side), 255), "JPEG", quality=10)
    with pytest.raises(PhotoTooLargeError, match="JPEG"):
        load_photo(data)


def test_png_just_under_the_limit_is_reduced_to_the_decode_side() -> None:
    side = int(MAX_UNREDUCED_PIXELS**0.5) - 10
    image = load_photo(blank_png(side, side))
    assert max(image.size) == MAX_DECODE_SIDE
    assert image.mode == "RGB"


def test_large_jpeg_is_decoded_at_reduced_scale_and_its_qr_still_reads() -> None:
    """A 48-megapixel phone photo: draft() decodes it at 1/2 scale (4000 × 3000), then one resize."""
    data = encode(photo_with_qr(8000, 6000, 1200), "JPEG", quality=80)

    image = load_photo(data)

    assert max(image.size) <= MAX_DECODE_SIDE
    assert decode_image(data) == [URL]


def test_large_png_within_the_limit_still_reads() -> None:
    data = encode(photo_with_qr(4000, 3000, 800))
    assert decode_image(data) == [URL]


def test_small_photos_are_not_resized() -> None:
    image = load_photo(encode(photo_with_qr(827, 583, 260)))
    assert image.size == (827, 583)


def test_thin_picture_is_not_enlarged_past_the_decode_side() -> None:
    data = encode(Image.new("L", (MAX_DECODE_SIDE, 100), 255))
    assert decode_image(data) == []


def test_unreadable_bytes_are_a_qr_error_naming_the_image() -> None:
    with pytest.raises(QRNotFoundError, match="not a readable image"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
