"""Browser tests: the app served on a free port (real Anvil, SQLite, anchor worker), driven by Debian chromium.

Playwright's own browser download cannot work here, so the browser is /usr/bin/chromium.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

APP_TESTS = Path(__file__).resolve().parents[1] / "app"
sys.path.insert(0, str(APP_TESTS))
sys.path.insert(0, str(Path(__file__).resolve().parent))
_spec = importlib.util.spec_from_file_location("app_tests_conftest", APP_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
app_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(app_conftest)

from appkit import Org, credit_code, next_number, wait_until  # noqa: E402
from browserkit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Live  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Organisation, OrgStatus  # noqa: E402
from app.outbox.worker import AnchorWorker  # noqa: E402
from app.services.organisations import onboard_organisation  # noqa: E402
from app.services.provisioning import ensure_finance, upgrade_database  # noqa: E402

anvil = app_conftest.anvil
deployment = app_conftest.deployment
deployment_v2 = app_conftest.deployment_v2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(anvil: Any, deployment: Any, tmp: Path) -> Iterator[Live]:
    """The app on a real port, with the anchor worker in a thread, as `make run` serves it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = app_conftest.make_config(anvil, deployment, f"sqlite:///{tmp / 'billchain.sqlite'}", tmp)
    config["BILLCHAIN_BASE_URL"] = url
    app = create_app(config)
    with app.app_context():
        upgrade_database()
        ensure_finance(password="finance-pass")
    worker = AnchorWorker(app)
    app.extensions["billchain"].worker = worker
    worker.start()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def onboard(kind: str, name: str) -> Org:
        with app.app_context():
            username = f"{kind}{next_number()}"
            done = onboard_organisation(name, credit_code(), kind, actor="e2e", username=username, password="pw")
            org_id, address = done.organisation.id, done.organisation.address
        wait_until(app, lambda: db.session.get(Organisation, org_id).status == OrgStatus.ACTIVE)
        return Org(org_id, name, address, done.token, username, "pw")

    yield Live(app, url, onboard)
    server.shutdown()
    worker.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def live(anvil: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on registry v1."""
    yield from _serve(anvil, deployment, tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def live_v2(anvil: Any, deployment_v2: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on registry v2 (review locks, split reimbursement, paper), on the same Anvil as `live`."""
    yield from _serve(anvil, deployment_v2, tmp_path_factory.mktemp("e2e-v2"))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright driver for the session (a second sync driver cannot start inside the first)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def shots() -> Callable[[Any, str], bytes]:
    """Save a named screenshot under artifacts/e2e/ and return its bytes."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(page: Any, name: str, full_page: bool = True) -> bytes:
        return bytes(page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page))

    return shot
