"""Pure domain costs: EIP-712 hash + signature, Merkle build, QR render, QR photo decode."""

from __future__ import annotations

import io
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from PIL import Image, ImageFilter

from app.bills.hashing import Domain, sign_bill
from app.bills.identifiers import credit_code_check_char
from app.bills.merkle import build
from app.bills.model import Bill
from app.bills.qr import decode_image, render_png, render_svg, verify_url
from bench.gas import random_pairs
from bench.stats import median_time
from dev.bootstrap import sample_bill_payload
from dev.devchain import ANVIL_CHAIN_ID, dev_account

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first contract address; any address works
BASE_URL = "http://127.0.0.1:5000"


def sample_payload() -> dict[str, Any]:
    """The same sample bill the demo and the tests issue."""
    return sample_bill_payload()


def sample_bill(number: int) -> Bill:
    first17 = "12110000400000001"
    data = sample_payload()
    data.update(
        issuer={"name": "北京市第一中学", "credit_code": first17 + credit_code_check_char(first17)},
        bill_code="11000040",
        bill_number=f"{number:010d}",
        issued_at=datetime.now(UTC).isoformat(),
    )
    return Bill.create(data)


def photo_of(png: bytes) -> bytes:
    """The QR pasted on an A5-ish page, slightly rotated and blurred, saved as a phone would (JPEG q=70)."""
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    page = Image.new("RGB", (1240, 1750), (236, 232, 224))
    page.paste(qr, (700, 1100))
    page = page.rotate(3, expand=False, fillcolor=(200, 200, 200)).filter(ImageFilter.GaussianBlur(1.2))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=70)
    return out.getvalue()


def run(tiny: bool) -> dict[str, Any]:
    n_bills = 20 if tiny else 500
    runs = 1 if tiny else 7
    renders = 3 if tiny else 50
    domain = Domain(ANVIL_CHAIN_ID, REGISTRY)
    signer = dev_account(1)
    bills = [sample_bill(i + 1) for i in range(n_bills)]
    sign_bill(bills[0], domain, signer)  # warm caches (eth-account, coincurve)
    sign_times = []
    for bill in bills:
        start = time.perf_counter()
        sign_bill(bill, domain, signer)
        sign_times.append(time.perf_counter() - start)
    create_times = []
    for i in range(n_bills):
        start = time.perf_counter()
        sample_bill(i + 1)
        create_times.append(time.perf_counter() - start)

    pairs = random_pairs(10_000)
    merkle = median_time(lambda: build(pairs), runs)

    digest, _ = sign_bill(bills[0], domain, signer)
    url = verify_url(BASE_URL, bills[0].bill_ref, digest)
    svg = median_time(lambda: render_svg(url), renders)
    png = median_time(lambda: render_png(url), renders)
    photo = photo_of(render_png(url))
    if decode_image(photo) != [url]:
        raise RuntimeError("the QR photo did not decode to its URL")
    decode = median_time(lambda: decode_image(photo), renders)
    return {
        "bill_create_ms": statistics.median(create_times) * 1e3,
        "hash_sign_ms": statistics.median(sign_times) * 1e3,
        "hash_sign_bills": n_bills,
        "merkle_10000_ms": merkle * 1e3,
        "qr_svg_ms": svg * 1e3,
        "qr_png_ms": png * 1e3,
        "qr_photo_decode_ms": decode * 1e3,
        "qr_photo_bytes": len(photo),
    }
