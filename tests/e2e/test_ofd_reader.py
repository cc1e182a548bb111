"""A reader we did not write: npm ofd.js 0.2.6 draws the sealed OFD in Debian chromium; zxing reads its QR.

ofd.js 0.2.6 is the last open-source release (Apache-2.0) of DLTech21/ofd.js, parsing OFD in plain
JavaScript (later releases moved the parser into a closed, licence-checked WebAssembly core). It draws the
page from the package as GB/T 33190 lays it out: text, rules and the QR image. The test reads back what it
drew: the page's text (issuer, payer, total, bill number) and the QR decoded from a screenshot. ofd.js
also tries every signature as a GB/T 38540 seal; ours is a plain signature (Type="Sign", which GB/T 33190
allows), so it logs that one error and draws the page regardless. The seal itself is checked by our
reader (app/bills/ofd.py) and, independently, ofdkit reads the text in tests/bills/.
"""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from browserkit import ARTIFACTS
from eth_account import Account

from app.bills import ofd, qr, seal
from app.bills.billfile import BillFile, issue_bill_file
from app.bills.hashing import Domain
from app.bills.model import Bill

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "https://bills.example.cn"
ISSUER_CREDIT_CODE = "91110000600037341L"  # GB 32100 check character included


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_server() -> Iterator[str]:
    """The repository over http on 127.0.0.1 (ofd.js and the harness load from node_modules and tests/)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(REPO)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def bill_file() -> BillFile:
    bill = Bill.create(
        {
            "bill_type": "medical_outpatient",
            "bill_code": "11010126",
            "bill_number": "0000000042",
            "issued_at": "2026-12-03T05:48:31+08:00",
            "issuer": {"name": "北京市第一人民医院", "credit_code": ISSUER_CREDIT_CODE},
            "payer": {"kind": "person", "name": "张三"},
            "items": [
                {
                    "code": "101",
                    "name": "挂号费",
                    "unit": "次",
                    "quantity": "1",
                    "unit_price_fen": 5000,
                    "amount_fen": 5000,
                },
                {
                    "code": "102",
                    "name": "检查费",
                    "unit": "项",
                    "quantity": "2",
                    "unit_price_fen": 12050,
                    "amount_fen": 24100,
                },
            ],
            "total_fen": 29100,
            "handler": "李四",
            "checker": "王五",
        }
    )
    domain = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
    return issue_bill_file(bill, domain, Account.from_key("0x" + "11" * 32))


@pytest.fixture(scope="module")
def example(bill_file: BillFile) -> tuple[Path, str, seal.SealKey]:
    """artifacts/e2e/bill-example.ofd, its verify URL and the key that sealed it."""
    url = qr.verify_url(BASE_URL, bill_file.bill_ref, bill_file.content_hash)
    key = seal.generate_key()
    data = ofd.render_ofd(bill_file, qr.render_png(url), key, verify_url=url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "bill-example.ofd"
    path.write_bytes(data)
    assert ofd.read_ofd(data, expected_public_key=key.public_key_hex).bill_file == bill_file
    return path, url, key


def _open_in_ofdjs(browser: Any, server: str, ofd_path: Path) -> tuple[Any, dict[str, Any]]:
    page = browser.new_page(viewport={"width": 900, "height": 1300}, device_scale_factor=2)
    query = {"file": "/" + ofd_path.relative_to(REPO).as_posix(), "width": "794"}
    page.goto(f"{server}/tests/e2e/ofd/viewer.html?{urlencode(query)}")
    page.wait_for_function("window.harness && window.harness.done", timeout=30_000)
    return page, dict(page.evaluate("window.harness"))


def test_ofdjs_draws_the_bill_and_its_qr_decodes(
    browser: Any,
    static_server: str,
    example: tuple[Path, str, seal.SealKey],
    shots: Callable[[Any, str], bytes],
) -> None:
    path, url, _ = example
    page, harness = _open_in_ofdjs(browser, static_server, path)
    try:
        assert harness["error"] is None, harness["error"]
        assert harness["pages"] == 1
        png = shots(page, "ofd-01-reader")
        assert url in qr.decode_image(png)  # the QR as ofd.js drew it, read from the screenshot
        # ofd.js places each glyph where GB/T 33190 says (one element per character): compare without spaces
        text = "".join(page.evaluate("document.getElementById('pages').innerText").split())
        for expected in ("北京市第一人民医院", "张三", "0000000042", "291.00", "挂号费", "检查费"):
            assert expected in text, (expected, text[:400])
    finally:
        page.close()


def test_ofdjs_draws_what_an_altered_file_says(
    browser: Any, static_server: str, example: tuple[Path, str, seal.SealKey], tmp_path: Path
) -> None:
    """The reader really reads the file: a total changed inside Content.xml is what it draws (while our
    reader refuses that file: the seal no longer holds)."""
    path, _, key = example
    altered = ARTIFACTS / "bill-example-altered.ofd"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(altered, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("Content.xml"):
                data = data.replace(b"291.00", b"991.00")
            target.writestr(item, data)
    with pytest.raises(ofd.SealInvalidError):
        ofd.read_ofd(altered.read_bytes(), expected_public_key=key.public_key_hex)
    page, harness = _open_in_ofdjs(browser, static_server, altered)
    try:
        assert harness["error"] is None, harness["error"]
        text = "".join(page.evaluate("document.getElementById('pages').innerText").split())
        assert "991.00" in text and "291.00" not in text
    finally:
        page.close()
