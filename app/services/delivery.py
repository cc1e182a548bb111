"""Delivery: on issue the payer receives the bill, by e-mail (PDF and OFD attached) and by text message.

Issuing only inserts rows into ``deliveries``, in its own transaction (``queue_deliveries``); nothing is
sent inside a request. A ``DeliveryWorker`` thread (in the process that runs the anchoring worker) takes
due rows, sends them, and retries a failed send with doubling back-off until BILLCHAIN_DELIVERY_MAX_ATTEMPTS.
Several processes may run one: a row is taken by one conditional UPDATE, which also leases it for
``LEASE`` seconds, so a process that dies mid-send leaves it to be retried, not lost.

The row keeps a masked destination only; the address itself stays in the bill, read at sending time.
Text messages go through an ``SmsGateway``: ``LogSmsGateway`` (the default here: logs, phone masked) or
``HttpSmsGateway`` (JSON POST to BILLCHAIN_SMS_URL with a bearer token). E-mail goes over SMTP
(smtplib, STARTTLS by default). With BILLCHAIN_DEV_OUTBOX on (``make run``) every message is also kept
in memory for the development outbox page, and e-mail without an SMTP server goes only there.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import insert, select, update

from app.bills.money import format_fen
from app.bills.ofd import BILL_TYPE_NAMES, DEFAULT_LABELS, MEDIA_TYPE
from app.bills.privacy import mask_email, mask_phone
from app.bills.times import beijing
from app.extensions import db
from app.models import Bill, Delivery, DeliveryChannel, DeliveryStatus, utcnow
from app.runtime import runtime
from app.services.billfiles import bill_verify_url
from app.services.sealing import render_bill_ofd

log = logging.getLogger("billchain.delivery")

LEASE = timedelta(seconds=120)
"""How long a taken row is hidden from other workers; a send that dies is retried after it."""

MAX_BACKOFF = 3600.0
BATCH = 50


# ---------------------------------------------------------------- messages and transports


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()


class DeliveryError(Exception):
    """A send failed; the worker retries it later."""


class SmsGateway(Protocol):
    """How text messages leave the platform; ``send`` raises DeliveryError (or OSError) when it did not."""

    name: str

    def send(self, phone: str, text: str) -> None: ...


class LogSmsGateway:
    """No SMS provider: the message goes to the ``billchain.delivery`` log, the phone number masked."""

    name = "log"

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", mask_phone(phone), text)


class HttpSmsGateway:
    """An SMS provider behind one HTTP endpoint: POST {"to", "text"} as JSON, bearer token; 2xx is sent."""

    name = "http"

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("BILLCHAIN_SMS_URL must be an http(s) URL")
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, phone: str, text: str) -> None:
        body = json.dumps({"to": phone, "text": text}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310 - checked
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                response.read(4096)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"SMS gateway answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"SMS gateway unreachable: {reason}") from None


class SmtpMailer:
    """E-mail over SMTP; STARTTLS before any login unless turned off (a local relay or a test server)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def send(self, mail: Mail) -> None:
        message = build_email(mail, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from None


def build_email(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="billchain")
    message.set_content(mail.text)
    for item in mail.attachments:
        maintype, _, subtype = item.media_type.partition("/")
        message.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    return message


@dataclass(frozen=True)
class OutboxEntry:
    at: datetime
    channel: str
    to: str
    subject: str
    text: str
    attachments: tuple[str, ...]


class DevOutbox:
    """Development only: the last messages "sent", in memory, for the /dev/outbox page."""

    size = 200

    def __init__(self) -> None:
        self._entries: deque[OutboxEntry] = deque(maxlen=self.size)
        self._lock = threading.Lock()

    def add(self, channel: str, to: str, text: str, subject: str = "", attachments: Iterable[str] = ()) -> None:
        with self._lock:
            self._entries.appendleft(OutboxEntry(utcnow(), channel, to, subject, text, tuple(attachments)))

    def entries(self) -> list[OutboxEntry]:
        with self._lock:
            return list(self._entries)


def dev_outbox() -> DevOutbox | None:
    """The development outbox when BILLCHAIN_DEV_OUTBOX is on, else None (never in production)."""
    rt = runtime()
    if not rt.config.get("BILLCHAIN_DEV_OUTBOX"):
        return None
    if not isinstance(rt.dev_outbox, DevOutbox):
        rt.dev_outbox = DevOutbox()
    return rt.dev_outbox


def note_dev_message(channel: str, to: str, text: str) -> None:
    """Keep a message sent outside delivery (a wallet code) in the development outbox, if it is on."""
    outbox = dev_outbox()
    if outbox is not None:
        outbox.add(channel, to, text)


def sms_gateway(config: Mapping[str, Any]) -> SmsGateway:
    kind = str(config.get("BILLCHAIN_SMS_GATEWAY") or "log").lower()
    if kind == "http":
        url = config.get("BILLCHAIN_SMS_URL")
        if not url:
            raise ValueError("BILLCHAIN_SMS_GATEWAY=http needs BILLCHAIN_SMS_URL")
        return HttpSmsGateway(str(url), config.get("BILLCHAIN_SMS_TOKEN"))
    if kind == "log":
        return LogSmsGateway()
    raise ValueError(f"BILLCHAIN_SMS_GATEWAY must be 'log' or 'http' (got {kind!r})")


def smtp_mailer(config: Mapping[str, Any]) -> SmtpMailer | None:
    host = config.get("BILLCHAIN_SMTP_HOST")
    if not host:
        return None
    return SmtpMailer(
        str(host),
        int(config["BILLCHAIN_SMTP_PORT"]),
        str(config["BILLCHAIN_SMTP_FROM"]),
        user=config.get("BILLCHAIN_SMTP_USER"),
        password=config.get("BILLCHAIN_SMTP_PASSWORD"),
        starttls=bool(config["BILLCHAIN_SMTP_STARTTLS"]),
    )


# ---------------------------------------------------------------- queueing (inside issuing's transaction)


def channels(config: Mapping[str, Any]) -> set[str]:
    """Where bills can go from here: e-mail needs an SMTP server (or the dev outbox); texts always have a gateway."""
    out = {DeliveryChannel.SMS.value}
    if config.get("BILLCHAIN_SMTP_HOST") or config.get("BILLCHAIN_DEV_OUTBOX"):
        out.add(DeliveryChannel.EMAIL.value)
    return out


def queue_deliveries(rows: Sequence[Mapping[str, Any]]) -> int:
    """Queue a message per channel for each new bill row whose payer gave a contact; the caller commits."""
    enabled = channels(runtime().config)
    now = utcnow()
    queued: list[dict[str, Any]] = []
    for row in rows:
        contact = (row.get("document") or {}).get("contact") or {}
        if contact.get("email") and DeliveryChannel.EMAIL in enabled:
            queued.append(_row(row["id"], DeliveryChannel.EMAIL, mask_email(contact["email"]), now))
        if contact.get("phone") and DeliveryChannel.SMS in enabled:
            queued.append(_row(row["id"], DeliveryChannel.SMS, mask_phone(contact["phone"]), now))
    if queued:
        db.session.execute(insert(Delivery), queued)
    return len(queued)


def _row(bill_id: str, channel: str, destination: str, now: datetime) -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "channel": str(channel),
        "destination": destination,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def wake_delivery() -> None:
    """Start the delivery worker's next round now, if this process runs one."""
    worker = runtime().delivery_worker
    if worker is not None:
        worker.wake()


# ---------------------------------------------------------------- composing


def _bill_facts(bill: Bill) -> dict[str, str]:
    document = bill.document
    return {
        "issuer": bill.organisation.name,
        "payer": str((document.get("payer") or {}).get("name", "")),
        "kind": BILL_TYPE_NAMES.get(bill.bill_type, bill.bill_type),  # type: ignore[call-overload]
        "total": format_fen(bill.total_fen),
        "code": bill.bill_code,
        "number": bill.bill_number,
        "issued_at": beijing(bill.issued_at),
        "url": bill_verify_url(bill),
    }


def sms_text(bill: Bill) -> str:
    f = _bill_facts(bill)
    return f"【Billchain】{f['issuer']}为您开具{f['kind']}，金额¥{f['total']}，票据号码{f['number']}。查验：{f['url']}"


def email_for(bill: Bill, to: str) -> tuple[Mail, list[str]]:
    """The e-mail of one bill with its PDF and OFD attached; also what could not be attached, and why."""
    f = _bill_facts(bill)
    attachments, problems = [], []
    name = f"bill-{bill.bill_code}-{bill.bill_number}"
    config = runtime().config
    font = config.get("BILLCHAIN_PDF_FONT")
    try:
        attachments.append(Attachment(f"{name}.pdf", "application/pdf", _pdf(bill, f["url"], font)))
    except Exception as exc:  # a missing font must not keep the bill from the payer; the row records it
        problems.append(f"{name}.pdf: {exc}")
    try:
        attachments.append(Attachment(f"{name}.ofd", MEDIA_TYPE, render_bill_ofd(bill, None, font)))
    except Exception as exc:
        problems.append(f"{name}.ofd: {exc}")
    text = (
        f"{f['payer']}，您好：\n\n"
        f"{f['issuer']}为您开具了财政电子票据（{f['kind']}），金额 ¥{f['total']}。\n"
        f"票据代码 {f['code']}，票据号码 {f['number']}，开票日期 {f['issued_at']}（北京时间）。\n\n"
        f"查验本票据：{f['url']}\n\n"
        "附件为本票据的 PDF 版式文件和 OFD 文件（含开票单位的 SM2 电子签章）。\n\n"
        f"Your fiscal e-bill from {f['issuer']}: ¥{f['total']}, bill {f['code']}-{f['number']}.\n"
        f"Verify it at {f['url']}. The PDF and the sealed OFD are attached.\n"
    )
    subject = f"{f['issuer']} 财政电子票据 {f['code']}-{f['number']}"
    return Mail(to, subject, text, tuple(attachments)), problems


def _pdf(bill: Bill, url: str, font: str | None) -> bytes:
    maker = runtime().pdf_maker
    if maker is None:
        raise RuntimeError("no PDF renderer in this process")
    document = {k: v for k, v in bill.document.items() if k not in ("salt", "contact")}
    labels = {**DEFAULT_LABELS, "bill_type": BILL_TYPE_NAMES.get(bill.bill_type, "")}  # type: ignore[call-overload]
    data: bytes = maker(document, url, labels, font)
    return data


# ---------------------------------------------------------------- the worker


class DeliveryWorker:
    """Sends due deliveries in a thread of its own; one slow or failing gateway never touches issuing."""

    def __init__(self, app: Flask, *, sms: SmsGateway | None = None, mailer: SmtpMailer | None = None) -> None:
        self.app = app
        self.config = app.config
        self.sms = sms or sms_gateway(app.config)
        self.mailer = mailer if mailer is not None else smtp_mailer(app.config)
        self.interval = float(app.config["BILLCHAIN_DELIVERY_INTERVAL"])
        self.max_attempts = int(app.config["BILLCHAIN_DELIVERY_MAX_ATTEMPTS"])
        self.backoff = float(app.config["BILLCHAIN_DELIVERY_BACKOFF"])
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeliveryWorker:
        self.app.extensions["billchain"].delivery_worker = self
        self._thread = threading.Thread(target=self._run, name="delivery-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    self.run_once()
            except Exception:  # the next round tries again; a broken round must not end delivery
                log.exception("delivery round failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def run_once(self) -> int:
        """Send what is due now; returns how many were sent (inside an app context).

        A batch is leased with one UPDATE and its outcomes written with one commit (e-mails, slow anyway,
        commit one by one): on SQLite, a commit per text message would keep the anchoring worker waiting
        for the write lock. Sends run without autoflush, so no write transaction is open while a gateway
        or SMTP server takes its time. A process killed mid-batch leaves its rows leased, and they are
        sent again after LEASE: delivery is at least once.
        """
        now = utcnow()
        due = list(
            db.session.scalars(
                select(Delivery.id)
                .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(BATCH)
            )
        )
        db.session.rollback()
        if not due:
            return 0
        taken = list(
            db.session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(due),
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.next_attempt_at <= now,
                )
                .values(attempts=Delivery.attempts + 1, next_attempt_at=now + LEASE)
                .returning(Delivery.id)
            )
        )
        db.session.commit()  # the lease: from here no other worker sends these
        rows = list(db.session.scalars(select(Delivery).where(Delivery.id.in_(taken)).order_by(Delivery.id)))
        bills = {b.id: b for b in db.session.scalars(select(Bill).where(Bill.id.in_({r.bill_id for r in rows})))}
        sent = 0
        with db.session.no_autoflush:
            for delivery in rows:
                if self._stop.is_set():
                    break
                bill = bills.get(delivery.bill_id)
                if bill is not None:
                    sent += self._send(delivery, bill)
                if delivery.channel == DeliveryChannel.EMAIL:
                    db.session.commit()
        db.session.commit()
        if len(due) == BATCH:
            self.wake()  # more are waiting: the next round starts at once
        return sent

    def _send(self, delivery: Delivery, bill: Bill) -> int:
        contact = bill.document.get("contact") or {}
        problems: list[str] = []
        try:
            if delivery.channel == DeliveryChannel.EMAIL:
                problems = self._send_email(bill, str(contact.get("email") or ""), delivery.destination)
            else:
                self._send_sms(bill, str(contact.get("phone") or ""), delivery.destination)
        except Exception as exc:  # any failure of a transport is retried; issuing never sees it
            self._failed(delivery, exc)
            return 0
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utcnow()
        delivery.last_error = ("sent without " + "; ".join(problems))[:500] if problems else None
        log.info("bill %s delivered by %s to %s", bill.id, delivery.channel, delivery.destination)
        return 1

    def _send_email(self, bill: Bill, to: str, masked: str) -> list[str]:
        if not to:
            raise DeliveryError("the bill has no e-mail address")
        mail, problems = email_for(bill, to)
        outbox = dev_outbox()
        if self.mailer is not None:
            self.mailer.send(mail)
        elif outbox is None:
            raise DeliveryError("no SMTP server is configured (BILLCHAIN_SMTP_HOST)")
        if outbox is not None:
            outbox.add("email", masked, mail.text, mail.subject, [a.filename for a in mail.attachments])
        return problems

    def _send_sms(self, bill: Bill, phone: str, masked: str) -> None:
        if not phone:
            raise DeliveryError("the bill has no phone number")
        text = sms_text(bill)
        self.sms.send(phone, text)
        outbox = dev_outbox()
        if outbox is not None:
            outbox.add("sms", masked, text)

    def _failed(self, delivery: Delivery, exc: Exception) -> None:
        error = str(exc) or type(exc).__name__
        delivery.last_error = error[:500]
        if delivery.attempts >= self.max_attempts:
            delivery.status = DeliveryStatus.FAILED
            log.warning("delivery %s gave up after %s attempts: %s", delivery.id, delivery.attempts, error)
        else:
            wait = min(self.backoff * 2 ** max(delivery.attempts - 1, 0), MAX_BACKOFF)
            delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
            log.info("delivery %s failed (try %s), retry in %.1f s: %s", delivery.id, delivery.attempts, wait, error)


def bill_deliveries(bill_id: str) -> list[Delivery]:
    return list(db.session.scalars(select(Delivery).where(Delivery.bill_id == bill_id).order_by(Delivery.id)))
