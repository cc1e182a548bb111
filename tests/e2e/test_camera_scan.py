"""The in-page camera scanner, with chromium's fake camera showing a printed QR code.

Linux chromium has no native BarcodeDetector, so this exercises the zxing-wasm polyfill served from
app/static/vendor (run `make setup` or tools/vendor-assets.sh first). The fake camera stands in for a
real one, which a headless machine does not have.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browserkit import CHROMIUM, CHROMIUM_ARGS, Live
from PIL import Image

from app.bills.qr import render_png
from app.extensions import db
from app.models import Bill, Organisation
from app.services.billfiles import bill_verify_url
from app.services.issuing import issue_bills

pytestmark = pytest.mark.e2e

VENDOR = Path(__file__).resolve().parents[2] / "app" / "static" / "vendor" / "zxing_reader.wasm"


def write_y4m(path: Path, png: bytes, size: tuple[int, int] = (640, 480), frames: int = 10) -> None:
    """A short Y4M (YUV 4:2:0) clip of the QR code on white paper, for --use-file-for-fake-video-capture."""
    qr = Image.open(io.BytesIO(png)).convert("RGB")
    side = min(size) - 80
    frame = Image.new("RGB", size, "white")
    frame.paste(qr.resize((side, side), Image.Resampling.NEAREST), ((size[0] - side) // 2, 40))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (size[0] // 2, size[1] // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)


@pytest.mark.skipif(not VENDOR.exists(), reason="vendor assets missing: run tools/vendor-assets.sh")
def test_camera_scan_finds_the_qr_and_shows_the_verdict(
    live: Live,
    playwright: Any,
    tmp_path: Path,
    shots: Callable[..., bytes],
    bill_payload: Callable[..., dict[str, Any]],
) -> None:
    issuer = live.onboard("issuer", "上海市示例医院")
    with live.app.app_context():
        org = db.session.get(Organisation, issuer.id)
        assert org is not None
        bill_id = issue_bills(org, [bill_payload()], actor="e2e")[0].id
        bill = db.session.get(Bill, bill_id)
        assert bill is not None
        url = bill_verify_url(bill)
    clip = tmp_path / "qr.y4m"
    write_y4m(clip, render_png(url))

    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    args.append(f"--use-file-for-fake-video-capture={clip}")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        context.grant_permissions(["camera"], origin=live.url)
        page = context.new_page()
        page.goto(f"{live.url}/verify")
        page.click("[data-scan-start]")
        page.wait_for_selector("#verdict", timeout=20_000)
        # pending or authentic depending on how quickly the worker anchored it: either way the scan worked
        assert page.get_attribute("#verdict", "data-verdict") in ("authentic", "not_anchored")
        # decoded in the browser by the locally served zxing-wasm (Linux chromium has no native detector)
        assert page.evaluate("sessionStorage.getItem('billchain.scanMode')") in ("polyfill", "native")
        shots(page, "12-camera-scan-result")
    finally:
        browser.close()


@pytest.fixture
def bill_payload() -> Callable[..., dict[str, Any]]:
    from appkit import bill_payload

    return bill_payload
