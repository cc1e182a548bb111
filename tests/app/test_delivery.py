"""Delivery to payers: e-mail received by a real SMTP server (aiosmtpd), a failing SMS gateway retried
without slowing issuing (a real HTTP server that blocks until the test lets it answer), the timeline, and
the development outbox (404 unless BILLCHAIN_DEV_OUTBOX is on)."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from appkit import Org, bill_payload, wait_until
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bills import ofd
from app.extensions import db
from app.models import Delivery, DeliveryStatus, Organisation
from app.services.delivery import DeliveryWorker, HttpSmsGateway, LogSmsGateway

PHONE = "13800138000"
EMAIL = "zhang.san@example.cn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def issue(client: FlaskClient, issuer: Org, contact: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/bills", json=bill_payload(contact=contact), headers=issuer.auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def deliveries(app: Flask, bill_id: str) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(Delivery).where(Delivery.bill_id == bill_id).order_by(Delivery.id)))
        db.session.expunge_all()
        return rows


def fast_retries(app: Flask, max_attempts: int = 6) -> None:
    app.config.update(
        BILLCHAIN_DELIVERY_INTERVAL=0.05, BILLCHAIN_DELIVERY_BACKOFF=0.05, BILLCHAIN_DELIVERY_MAX_ATTEMPTS=max_attempts
    )


# ---------------------------------------------------------------- e-mail over a real SMTP server


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_email_reaches_a_real_smtp_server_with_the_link_pdf_and_sealed_ofd(
    app: Flask, client: FlaskClient, issuer: Org, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    fast_retries(app)
    app.config.update(
        BILLCHAIN_SMTP_HOST="127.0.0.1",
        BILLCHAIN_SMTP_PORT=port,
        BILLCHAIN_SMTP_STARTTLS=False,
        BILLCHAIN_SMTP_FROM="Billchain <bills@example.cn>",
    )
    worker = DeliveryWorker(app, sms=LogSmsGateway()).start()
    try:
        bill = issue(client, issuer, {"email": EMAIL, "phone": PHONE})
        wait_until(app, lambda: all(d.status == DeliveryStatus.SENT for d in deliveries(app, bill["id"])), work=False)
    finally:
        worker.stop()

    (message,) = inbox.messages
    assert inbox.envelopes == [("bills@example.cn", [EMAIL])]
    assert message["To"] == EMAIL and "北京市第一中学" in message["Subject"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and bill["verify_url"] in body.get_content()
    files = {part.get_filename(): part for part in message.iter_attachments()}
    name = f"bill-{bill['bill_code']}-{bill['bill_number']}"
    assert set(files) == {f"{name}.pdf", f"{name}.ofd"}
    assert files[f"{name}.pdf"].get_content_type() == "application/pdf"
    assert files[f"{name}.pdf"].get_content().startswith(b"%PDF")
    assert files[f"{name}.ofd"].get_content_type() == "application/ofd"
    with app.app_context():
        published = db.session.get(Organisation, issuer.id).seal_public_key
    sealed = ofd.read_ofd(files[f"{name}.ofd"].get_content(), expected_public_key=published)
    assert sealed.bill_file.bill.bill_number == bill["bill_number"]

    email_row = next(d for d in deliveries(app, bill["id"]) if d.channel == "email")
    assert email_row.destination == "z***@example.cn" and email_row.last_error is None
    events = client.get(f"/api/v1/bills/{bill['id']}/events", headers=issuer.auth).get_json()["events"]
    delivered = {e["channel"]: e for e in events if e["event"] == "delivered" and "channel" in e}
    assert set(delivered) == {"email", "sms"} and delivered["email"]["to"] == "z***@example.cn"


# ---------------------------------------------------------------- a failing SMS gateway


@dataclass
class Gateway:
    """A local SMS provider: the first request waits for `release`; the first `failures` answers are 500."""

    failures: int
    release: threading.Event = field(default_factory=threading.Event)
    received: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> int:
        body = json.loads(request.rfile.read(int(request.headers["Content-Length"])))
        with self.lock:
            self.received.append({"body": body, "auth": request.headers.get("Authorization")})
            index = len(self.received)
        if index == 1:
            assert self.release.wait(30)
        with self.lock:
            self.answered += 1
        return 500 if index <= self.failures else 200


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    state = Gateway(failures=2)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status = state.handle(self)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/sms"
    state.release.set()
    server.shutdown()
    server.server_close()


def test_a_failing_gateway_is_retried_and_never_slows_issuing(
    app: Flask, client: FlaskClient, issuer: Org, gateway: tuple[Gateway, str]
) -> None:
    state, url = gateway
    fast_retries(app)
    worker = DeliveryWorker(app, sms=HttpSmsGateway(url, "sms-token")).start()
    try:
        first = issue(client, issuer, {"phone": PHONE})
        wait_until(app, lambda: len(state.received) == 1, work=False)  # the worker now hangs in the gateway

        response = client.post("/api/v1/bills", json=bill_payload(contact={"phone": PHONE}), headers=issuer.auth)

        assert response.status_code == 201
        assert state.answered == 0 and not state.release.is_set()  # issued while the gateway had not answered
        second = response.get_json()
        state.release.set()
        both = (first["id"], second["id"])
        wait_until(
            app, lambda: all(d.status == DeliveryStatus.SENT for b in both for d in deliveries(app, b)), work=False
        )
    finally:
        worker.stop()

    rows = [d for b in both for d in deliveries(app, b)]
    assert [d.channel for d in rows] == ["sms", "sms"]
    assert sum(d.attempts for d in rows) == len(state.received) == 4  # two 500s, each retried once
    assert deliveries(app, first["id"])[0].attempts == 2 and rows[0].destination == "138****8000"
    assert all(r["auth"] == "Bearer sms-token" and r["body"]["to"] == PHONE for r in state.received)
    assert first["verify_url"] in state.received[0]["body"]["text"]
    events = client.get(f"/api/v1/bills/{first['id']}/events", headers=issuer.auth).get_json()["events"]
    assert [e["channel"] for e in events if e["event"] == "delivered" and "channel" in e] == ["sms"]


def test_a_gateway_that_keeps_failing_ends_failed_with_its_error(
    app: Flask, client: FlaskClient, issuer: Org, gateway: tuple[Gateway, str]
) -> None:
    state, url = gateway
    state.failures = 10**6
    state.release.set()
    fast_retries(app, max_attempts=3)
    worker = DeliveryWorker(app, sms=HttpSmsGateway(url, None)).start()
    try:
        bill = issue(client, issuer, {"phone": PHONE})
        wait_until(app, lambda: deliveries(app, bill["id"])[0].status == DeliveryStatus.FAILED, work=False)
    finally:
        worker.stop()

    (row,) = deliveries(app, bill["id"])
    assert row.attempts == 3 == len(state.received) and row.last_error == "SMS gateway answered HTTP 500"
    events = client.get(f"/api/v1/bills/{bill['id']}/events", headers=issuer.auth).get_json()["events"]
    assert not [e for e in events if e.get("channel")]


# ---------------------------------------------------------------- the log gateway and the development outbox


def test_dev_outbox_is_404_by_default(client: FlaskClient) -> None:
    assert client.get("/dev/outbox").status_code == 404


def test_dev_outbox_lists_the_text_and_email_and_the_log_hides_the_phone(
    app: Flask, client: FlaskClient, issuer: Org, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["BILLCHAIN_DEV_OUTBOX"] = True  # dev/run.py sets it for `make run`; no SMTP server here
    bill = issue(client, issuer, {"phone": PHONE, "email": EMAIL})
    with caplog.at_level(logging.INFO, logger="billchain.delivery"), app.app_context():
        sent = DeliveryWorker(app).run_once()

    assert sent == 2
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "138****8000" in text and "z***@example.cn" in text and bill["verify_url"] in text
    assert f"bill-{bill['bill_code']}-{bill['bill_number']}.ofd" in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "SMS to 138****8000" in logged and PHONE not in logged


def test_without_smtp_or_outbox_only_the_text_is_queued_and_no_contact_queues_nothing(
    app: Flask, client: FlaskClient, issuer: Org
) -> None:
    with_contact = issue(client, issuer, {"phone": PHONE, "email": EMAIL})
    payload = bill_payload()
    payload.pop("contact")
    without = client.post("/api/v1/bills", json=payload, headers=issuer.auth).get_json()

    assert [d.channel for d in deliveries(app, with_contact["id"])] == ["sms"]
    assert deliveries(app, without["id"]) == []
